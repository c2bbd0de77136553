"""The opening step for secure mail (S/MIME): the :data:`~graph_dpg.services.inbound.mail.MailOpener`
the composition root wires when certificates are configured.

A mail Exchange shows as S/MIME (``domain.smime.is_smime_mail``: message class ``IPM.Note.SMIME*`` read as
``String 0x001A``, or its one ``smime.p7m`` attachment) is read as MIME (``$value``) through the mailbox
port, opened (decrypted, signatures checked at its receivedDateTime) in the CPU pool through the
:class:`~graph_dpg.ports.secure_mail.SecureMailOpener` port, and handed to the rules readable: its body and
attachments from inside, an overview on top (encrypted to which certificate, signed by whom, the
verdict), the original S/MIME still attached. What cannot be opened (no matching key, unsupported
algorithm, damaged) or whose signature is invalid comes back with ``failure``: the router delivers it
to the main mailbox with that banner and alerts the monitoring mailbox once. Nothing decrypted is logged
or written anywhere but into the mailbox.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field, replace

from graph_dpg.core.errors import ContentError, SecureMailError
from graph_dpg.domain.inbound_view import Banner, render_banner
from graph_dpg.domain.mail import MailMessage
from graph_dpg.domain.smime import (
    Verdict,
    is_smime_mail,
    readable_content,
    secure_failure_banner,
    secure_overview,
)
from graph_dpg.ports.mailbox import MailboxPort
from graph_dpg.ports.secure_mail import SecureMailOpener
from graph_dpg.services.cpu import CpuPool, shared_pool
from graph_dpg.services.inbound.mail import OpenedMail

log = logging.getLogger(__name__)


def _as_html(body: str, body_type: str) -> str:
    if body_type == "html":
        return body
    return f"<div style='white-space:pre-wrap'>{html.escape(body)}</div>"


@dataclass
class SecureMailOpening:
    mail: MailboxPort
    opener: SecureMailOpener
    language: str = "da"
    cpu: CpuPool = field(default_factory=shared_pool)

    async def __call__(self, mailbox: str, message: MailMessage) -> OpenedMail:
        if not is_smime_mail(message) or message.id is None:
            return OpenedMail(message)
        mime = await self.mail.get_mime(mailbox, message.id)
        try:
            opened = await self.cpu.run(self.opener.open, mime, message.received_at)
            content = await self.cpu.run(readable_content, opened.content)
        except SecureMailError as exc:
            return self._failed(message, secure_failure_banner(exc.reason, str(exc)[:300], self.language))
        except ContentError as exc:  # not MIME, beyond a bound: damaged as far as a reader is concerned
            return self._failed(message, secure_failure_banner("damaged", str(exc)[:300], self.language))
        overview = render_banner(secure_overview(opened, self.language))
        invalid = [c for c in opened.signatures if c.verdict is Verdict.INVALID]
        failure = (
            secure_failure_banner("signature", invalid[0].reason[:300], self.language) if invalid else None
        )
        top = (render_banner(failure) if failure else "") + overview
        readable = replace(
            message,
            body=top + _as_html(content.body, content.body_type),
            body_type="html",
            attachments=[*content.attachments, *message.attachments],
            has_attachments=True,
        )
        log.info(
            "secure mail %s opened: %d layer(s), signatures %s",
            message.id,
            len(opened.layers),
            ",".join(c.verdict.value for c in opened.signatures) or "none",
        )
        return OpenedMail(readable, readable_copy=True, failure=failure)

    def _failed(self, message: MailMessage, banner: Banner) -> OpenedMail:
        log.warning("secure mail %s cannot be opened: %s", message.id, banner.lines[-1])
        shown = replace(
            message, body=render_banner(banner) + _as_html(message.body, message.body_type), body_type="html"
        )
        return OpenedMail(shown, readable_copy=True, failure=banner)
