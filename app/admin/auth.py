"""Staff sign-in pages: ``/admin/login``, ``/admin/logout``, ``/admin/reset`` and the one-time
``/admin/password/<token>`` link. Every form carries the CSRF token (``app.core.security``).

Failed passwords are counted per account and per address (``app.core.limits``), after which even
the right password waits; reset requests are rate limited and answered the same whether or not
the account exists. Signing in starts a new session; signing out ends every session of the
account.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from app.admin import accounts
from app.core import i18n, limits, staff
from app.core.clock import now
from app.core.db import db
from app.core.errors import DomainError
from app.core.limits import limiter, per_email, setting
from app.core.web import no_store, principal, require_staff, sign_in, sign_out

bp = Blueprint("staff_auth", __name__, url_prefix="/admin")
# Sign-in pages speak the staff member's language, like every brand page (``guard``).
bp.before_request(i18n.for_staff)


def safe_next(target: str | None) -> str:
    """Return ``target`` if it is a page of the brand side on this site, else the home page.

    A path that starts with ``/admin`` is on this host whatever follows: no ``//host`` or
    ``https:`` link can start that way.
    """
    if target and target.startswith("/admin") and not target.startswith("/admin/login"):
        return target
    return "/admin/"


def login_page(error: str | None = None, status: int = 401, email: str = "") -> ResponseReturnValue:
    """The sign-in form (also what a signed-out visit to any brand page gets, with 401)."""
    nxt = request.form.get("next") or (request.full_path.rstrip("?")
                                       if request.endpoint != "staff_auth.login"
                                       else request.args.get("next", ""))
    html = render_template("admin/login.html", error=error, email=email, next=safe_next(nxt),
                           dev=bool(current_app.config.get("ALLOW_DEV_PASSWORDS")))
    return no_store(html, status)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        if principal() is not None:
            return redirect(safe_next(request.args.get("next")), 303)
        return login_page(status=200)
    email = request.form.get("email", "")[:254]
    password = request.form.get("password", "")
    account = limits.account_key(email)
    # Before the check: once locked out, the right password waits like a wrong one.
    limits.check_login(account=account)
    user = staff.authenticate(db.session, email, password)
    if user is None:
        limits.login_failed(account=account)
        db.session.rollback()
        return login_page(gettext("That email and password do not match an account."), 401,
                          email)
    staff_id, epoch = user.id, user.auth_epoch
    db.session.rollback()
    sign_in(staff_id, epoch)
    return redirect(safe_next(request.form.get("next")), 303)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    acting = principal()
    if acting is not None and acting.kind == "staff" and acting.id is not None:
        with db.writer():
            staff.sign_out_everywhere(db.session, acting.id)
            db.session.commit()
    sign_out()
    return redirect(url_for("staff_auth.login"), 303)


@bp.get("/reset")
def reset_form() -> ResponseReturnValue:
    return no_store(render_template("admin/reset.html", sent=False))


# Every attempt counts (the answer is the same whether or not the account exists).
@bp.post("/reset")
@limiter.limit(setting("STAFF_RESET_PER_ADDRESS"))
@limiter.limit(setting("STAFF_RESET_PER_RECIPIENT"), key_func=per_email())
def reset() -> ResponseReturnValue:
    with db.writer():
        accounts.request_reset(db.session, current_app.config,
                               request.form.get("email", "")[:254], now())
        db.session.commit()
    minutes = int(float(current_app.config["STAFF_RESET_LINK_MINUTES"]))
    return no_store(render_template("admin/reset.html", sent=True, minutes=minutes))


@bp.route("/password/<token>", methods=["GET", "POST"])
def password(token: str) -> ResponseReturnValue:
    """Choose a password with a one-time link (a new account's, or a reset)."""
    if request.method == "GET":
        live = staff.link_is_live(db.session, token, now())
        db.session.rollback()
        html = render_template("admin/password.html", live=live, error=None)
        return no_store(html, 200 if live else 404)
    chosen = request.form.get("password", "")
    if chosen != request.form.get("confirm", ""):
        html = render_template("admin/password.html", live=True,
                               error=gettext("The two passwords are not the same."))
        return no_store(html, 400)
    with db.writer():
        try:
            staff.use_link(db.session, token, chosen, now())
        except staff.LinkNotValid:
            db.session.rollback()
            return no_store(render_template("admin/password.html", live=False, error=None), 404)
        except DomainError as err:
            db.session.rollback()
            return no_store(render_template("admin/password.html", live=True,
                                            error=err.words()), 400)
        db.session.commit()
    sign_out()
    return redirect(url_for("staff_auth.login", changed=1), 303)


def guard() -> None:
    """``before_request`` of every brand page: a principal whose role the page allows, or the
    sign-in page (401) for nobody signed in. Its words are the staff member's language
    (``app.core.i18n.for_staff``), whatever the brand's customers speak."""
    i18n.for_staff()
    require_staff(anonymous=lambda: login_page(status=401))
