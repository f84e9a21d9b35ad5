"""The one SMTP mailer: STARTTLS, implicit TLS or plain, optional login; no secret is ever logged."""

from __future__ import annotations

import email.utils
import logging
import smtplib
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage

from ..settings import Smtp

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Mail:
    """One notification: subject and plain-text body."""

    subject: str
    body: str


Send = Callable[[Mail], None]


class MailError(Exception):
    """A mail could not be sent; `permanent` means retrying the same mail cannot help."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def tls_context(smtp: Smtp) -> ssl.SSLContext:
    """The TLS context for the SMTP server: system CAs or smtp.ca_file, or no check at all."""
    context = ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None)
    if not smtp.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def build_message(mail: Mail, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """A plain-text UTF-8 message with the headers mail clients expect."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = mail.subject
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = email.utils.make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message.set_content(mail.body)
    return message


class Mailer:
    """Sends mails to the configured recipients through the configured SMTP server."""

    def __init__(self, smtp: Smtp, recipients: Sequence[str]) -> None:
        self.smtp = smtp
        self.recipients = list(recipients)

    @property
    def where(self) -> str:
        """The server, for messages: host:port and security."""
        return f"{self.smtp.host}:{self.smtp.port} ({self.smtp.security})"

    @contextmanager
    def session(self) -> Iterator[Send]:
        """One connection to the server; the yielded function sends one mail over it.

        Connection, TLS and login problems raise MailError (transient: a later try may
        work). A mail the server refuses for good raises MailError(permanent=True) and
        leaves the connection usable for the next mail.
        """
        client = self._connect()
        try:
            yield lambda mail: self._send(client, mail)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    def _connect(self) -> smtplib.SMTP:
        smtp = self.smtp
        try:
            client: smtplib.SMTP
            if smtp.security == "tls":
                client = smtplib.SMTP_SSL(
                    smtp.host, smtp.port, timeout=smtp.timeout, context=tls_context(smtp)
                )
            else:
                client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot connect to SMTP server {self.where}: {_why(exc)}") from exc
        try:
            if smtp.security == "starttls":
                client.starttls(context=tls_context(smtp))
            if smtp.username:
                password = self._password()
                client.login(smtp.username, password)
        except MailError:
            client.close()
            raise
        except smtplib.SMTPAuthenticationError as exc:
            client.close()
            # The server's reply, never the password; kept transient so a fixed secret
            # (password file edited, config reloaded) gets the queued mail through.
            raise MailError(f"SMTP login as {smtp.username!r} on {self.where} refused: {_why(exc)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            client.close()
            step = "STARTTLS" if smtp.security == "starttls" else "login"
            raise MailError(f"SMTP {step} with {self.where} failed: {_why(exc)}") from exc
        return client

    def _password(self) -> str:
        smtp = self.smtp
        try:
            password = smtp.password()
        except OSError as exc:
            raise MailError(
                f"cannot read monitoring.smtp.password_file {smtp.password_file}: {exc.strerror}"
            ) from exc
        if not password:
            source = (
                f"environment variable {smtp.password_env}"
                if smtp.password_env
                else f"file {smtp.password_file}"
                if smtp.password_file
                else "monitoring.smtp.password_env or password_file (neither is set)"
            )
            raise MailError(f"no SMTP password for user {smtp.username!r}: {source} is empty or missing")
        return password

    def _send(self, client: smtplib.SMTP, mail: Mail) -> None:
        message = build_message(mail, self.smtp.sender, self.recipients)
        try:
            refused = client.send_message(message, self.smtp.sender, self.recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise MailError(
                f"every recipient refused: {_refusals(exc.recipients)}", _all_permanent(codes)
            ) from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise MailError(f"{self.where} refused the mail: {_why(exc)}", exc.smtp_code >= 500) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"sending to {self.where} failed: {_why(exc)}") from exc
        if refused:
            logger.warning("mail %r: some recipients refused: %s", mail.subject, _refusals(refused))


def _all_permanent(codes: Sequence[int]) -> bool:
    return bool(codes) and all(code >= 500 for code in codes)


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{rcpt}: {code} {reply.decode(errors='replace')}" for rcpt, (code, reply) in refused.items()
    )


def _why(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        return f"{exc.smtp_code} {reply}"
    return str(exc) or type(exc).__name__
