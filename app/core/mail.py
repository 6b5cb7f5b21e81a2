"""Outgoing email: SMTP when ``SMTP_HOST`` is set, else a local folder (development).

Requests never call ``send``: they queue mail in ``app.core.outbox``, whose worker sends it.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import smtplib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from app.core.errors import DomainError

log = logging.getLogger(__name__)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def normalize_email(text: str) -> str:
    """Return ``text`` as a trimmed email address with a lower-case domain.

    Raises:
        DomainError: it does not look like an email address.
    """
    email = text.strip() if isinstance(text, str) else ""
    if len(email) > 254 or not _EMAIL.match(email):
        raise DomainError("Please enter an email address like name@example.com.")
    local, domain = email.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


class MailNotSent(Exception):
    """The SMTP server refused the message or could not be reached.

    ``kind`` names the failure (never an address); ``permanent`` is True when the server refused
    the message for good (a 5xx reply), so trying again cannot help.
    """

    def __init__(self, kind: str, permanent: bool = False) -> None:
        super().__init__(kind)
        self.kind = kind
        self.permanent = permanent


def _permanent(exc: BaseException) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    code = getattr(exc, "smtp_code", None)
    return isinstance(code, int) and code >= 500


def build_message(
    settings: Mapping[str, Any], to: str, subject: str, text: str, html: str | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """Return the message: plain text, with an HTML alternative when given.

    ``message_id``: fixed when the mail was queued, so a re-sent copy is the same message.
    """
    message = EmailMessage()
    message["From"] = settings["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id or make_msgid(domain="aftertap.invalid")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def send(settings: Mapping[str, Any], message: EmailMessage) -> str:
    """Deliver ``message``; return "smtp" or the outbox file it was written to.

    Raises:
        MailNotSent: SMTP was configured and delivery failed.
    """
    host = settings.get("SMTP_HOST")
    if not host:
        outbox = Path(settings["MAIL_OUTBOX_DIR"])
        outbox.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = outbox / f"{stamp}-{secrets.token_hex(4)}.eml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(bytes(message))
        return str(path)
    try:
        with _connect(settings) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise _not_sent(exc) from exc
    return "smtp"


def _connect(settings: Mapping[str, Any]) -> smtplib.SMTP:
    smtp = smtplib.SMTP(str(settings["SMTP_HOST"]), int(settings["SMTP_PORT"]),
                        timeout=float(settings["SMTP_TIMEOUT_SECONDS"]))
    try:
        if settings.get("SMTP_STARTTLS"):
            smtp.starttls()
        if settings.get("SMTP_USERNAME"):
            smtp.login(settings["SMTP_USERNAME"], settings.get("SMTP_PASSWORD") or "")
    except BaseException:
        smtp.close()
        raise
    return smtp


def _not_sent(exc: BaseException) -> MailNotSent:
    # The address is personal data: log the failure's kind only.
    log.warning("mail not sent: %s", type(exc).__name__)
    return MailNotSent(type(exc).__name__, _permanent(exc))


# Refusals after which smtplib has reset the transaction (RSET): the connection stays usable.
_MESSAGE_REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                    smtplib.SMTPDataError)


class Connection:
    """Several messages over one SMTP connection (see ``connection``)."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = settings
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage) -> str:
        """Deliver ``message`` as ``send`` does, over this connection; return "smtp" or the
        outbox file.

        Raises:
            MailNotSent: this message was not delivered (classified as ``send`` does). A refusal
                of this message leaves the connection to the next one; any other failure drops
                it, and the next message opens a new one.
        """
        if not self._settings.get("SMTP_HOST"):
            return send(self._settings, message)
        try:
            if self._smtp is None:
                self._smtp = _connect(self._settings)
            self._smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            if not isinstance(exc, _MESSAGE_REFUSED) or self._smtp is None \
                    or self._smtp.sock is None:
                self.close()
            raise _not_sent(exc) from exc
        return "smtp"

    def close(self) -> None:
        """Say QUIT and close; a failure here loses nothing (every message was answered)."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


@contextmanager
def connection(settings: Mapping[str, Any]) -> Iterator[Connection]:
    """Open one SMTP connection (on the first message) for several messages; close it on exit.

    Each ``send`` reports its own message's failure (``MailNotSent``), so one refused message
    does not stop the others. Without ``SMTP_HOST`` each message goes to the outbox folder.
    """
    sender = Connection(settings)
    try:
        yield sender
    finally:
        sender.close()
