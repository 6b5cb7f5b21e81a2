"""Outgoing email: SMTP when ``SMTP_HOST`` is set, else a local folder (development).

Requests never call ``send``: they queue mail in ``app.core.outbox``, whose worker sends it.
"""

from __future__ import annotations

import email.policy
import logging
import os
import re
import secrets
import smtplib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any

from app.core.errors import N_, DomainError

log = logging.getLogger(__name__)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def normalize_email(text: str) -> str:
    """Return ``text`` as a trimmed email address with a lower-case domain.

    Raises:
        DomainError: it does not look like an email address.
    """
    email = text.strip() if isinstance(text, str) else ""
    if len(email) > 254 or not _EMAIL.match(email):
        raise DomainError(N_("Please enter an email address like name@example.com."))
    local, domain = email.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


class MailNotSent(Exception):
    """The SMTP server refused the message or could not be reached.

    ``kind`` names the failure (never an address); ``permanent`` is True when the server refused
    the message for good (a 5xx reply), so trying again cannot help; ``in_doubt`` is True when the
    connection failed after the message's data began to go, without the server's answer: the
    server may hold the message, so sending it again may deliver a second copy.
    """

    def __init__(self, kind: str, permanent: bool = False, in_doubt: bool = False) -> None:
        super().__init__(kind)
        self.kind = kind
        self.permanent = permanent
        self.in_doubt = in_doubt


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


def _not_sent(exc: BaseException, in_doubt: bool = False) -> MailNotSent:
    # The address is personal data: log the failure's kind only.
    log.warning("mail not sent: %s%s", type(exc).__name__, " (in doubt)" if in_doubt else "")
    return MailNotSent(type(exc).__name__, _permanent(exc), in_doubt)


class _InDoubt(Exception):
    """The connection failed during DATA: wraps the transport's error."""


def _reset(smtp: smtplib.SMTP, code: int = 0) -> None:
    """End the refused transaction (RSET) so the connection takes the next message; after a 421
    the server is closing the connection, so close it (as ``sendmail`` does)."""
    if code == 421:
        smtp.close()
        return
    with suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()


def _send_handing_over(smtp: smtplib.SMTP, message: EmailMessage,
                       handing_over: Callable[[], None]) -> None:
    """``smtp.send_message`` for one sender and one recipient, calling ``handing_over`` once the
    server took the envelope and just before the data: before that call nothing can have been
    delivered; from the DATA command on, the server may keep the message.

    Raises the errors ``sendmail`` raises, ``_InDoubt`` for a transport failure during DATA,
    and whatever ``handing_over`` raises (the transaction is reset first).
    """
    smtp.ehlo_or_helo_if_needed()
    sender = getaddresses([str(message["From"])])[0][1]
    recipient = getaddresses([str(message["To"])])[0][1]
    options: tuple[str, ...] = ()
    policy = email.policy.SMTP  # CRLF line endings, as the wire wants them
    if not (sender + recipient).isascii():
        if not smtp.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError("the server does not take SMTPUTF8 addresses")
        options, policy = ("SMTPUTF8", "BODY=8BITMIME"), email.policy.SMTPUTF8
    data = message.as_bytes(policy=policy)
    code, reply = smtp.mail(sender, options)
    if code != 250:
        _reset(smtp, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.rcpt(recipient)
    if code not in (250, 251):
        _reset(smtp, code)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    try:
        handing_over()
    except BaseException:
        _reset(smtp)
        raise
    try:
        code, reply = smtp.data(data)
    except smtplib.SMTPResponseException:
        raise  # DATA itself was refused: no data went
    except OSError as exc:  # smtplib's errors are OSErrors too
        raise _InDoubt() from exc
    if code != 250:
        _reset(smtp, code)
        raise smtplib.SMTPDataError(code, reply)


# Refusals after which smtplib has reset the transaction (RSET): the connection stays usable.
_MESSAGE_REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                    smtplib.SMTPDataError)


class Connection:
    """Several messages over one SMTP connection (see ``connection``)."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = settings
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage,
             handing_over: Callable[[], None] | None = None) -> str:
        """Deliver ``message`` as ``send`` does, over this connection; return "smtp" or the
        outbox file.

        ``handing_over``, when given, is called once the server took the envelope, just before
        the message's data goes (see ``_send_handing_over``); the message then has one sender
        and one recipient.

        Raises:
            MailNotSent: this message was not delivered (classified as ``send`` does; ``in_doubt``
                when the connection failed during the data). A refusal of this message leaves
                the connection to the next one; any other failure drops it, and the next message
                opens a new one.
            Whatever ``handing_over`` raises: nothing was sent.
        """
        if not self._settings.get("SMTP_HOST"):
            if handing_over is not None:
                handing_over()
            return send(self._settings, message)
        try:
            if self._smtp is None:
                self._smtp = _connect(self._settings)
            if handing_over is None:
                self._smtp.send_message(message)
            else:
                _send_handing_over(self._smtp, message, handing_over)
        except _InDoubt as exc:
            self.close()
            cause = exc.__cause__ or exc
            raise _not_sent(cause, in_doubt=True) from cause
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
