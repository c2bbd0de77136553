"""The opening step for a mailbox that is NgDP's SMTP recipient system (seed 000): Digital Post forwarded
as S/MIME e-mail encrypted to the organisation's certificate.

Configured per function mailbox in the gateway file (``digital_post_smtp``); its inbox is then read as a
mail source. An S/MIME mail there is read as MIME, decrypted and checked in the CPU pool (the same
:class:`~graph_dpg.ports.secure_mail.SecureMailOpener` as other secure mail), and searched for its
Digital Post (``domain.forwarded_post``):

- a memo (MeMo XML as a part, an attachment or the whole entity; or DP2 metadata with its documents,
  made into a MeMo) is stored as an inbound memo with source ``mail`` - from there the memo pipeline
  delivers it exactly like a pulled one (rules, contact-point mapping and banner, files, the MeMo kept
  for replies) and answers it as configured (``InboundSettings.forwarded_receipt``). The forwarded mail
  itself is not routed (it stays, or goes to ``routed_folder``); stored once by the memo's UUID, so a
  mail seen twice, or the same memo forwarded twice, is delivered once;
- the notice that a letter too large to forward (10 MB) waits in Digital Post is delivered readable to
  the main mailbox with a banner saying what to do, and the monitoring mailbox is alerted once;
- a mail whose Digital Post part cannot be read (malformed or unsafe XML, too big, no messageUUID, DP2
  metadata without id or documents) is delivered readable to the main mailbox with a banner, and the
  monitoring mailbox is alerted once;
- anything that cannot be decrypted, is damaged, or whose signature is not valid and trusted takes the
  secure-mail path (a banner in the main mailbox and one alert, or for an untrusted or expired signer a
  readable copy showing the verdict, routed by the rules); a readable mail without Digital Post is
  routed by the rules like any secure mail.

Nothing decrypted is logged or written anywhere but the store (the memo) and the mailbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from graph_dpg.core.errors import ContentError, SecureMailError
from graph_dpg.domain.forwarded_post import (
    MAX_XML_BYTES,
    find_forwarded_post,
    large_notice_banner,
    unreadable_banner,
)
from graph_dpg.domain.inbound_view import render_banner
from graph_dpg.domain.mail import MailMessage
from graph_dpg.domain.smime import Verdict, is_smime_mail, readable_content
from graph_dpg.ports.store import InboundSource, MemoStore
from graph_dpg.services.blocking import blocking
from graph_dpg.services.cpu import CpuPool, shared_pool
from graph_dpg.services.inbound.mail import MailOpener, OpenedMail
from graph_dpg.services.inbound.secure import SecureMailOpening, _as_html

log = logging.getLogger(__name__)


@dataclass
class ForwardedPostOpening:
    """Opens mail in the SMTP recipient system's mailboxes (``mailboxes``, lower-case) as forwarded
    Digital Post; every other mail goes to ``secure``."""

    secure: SecureMailOpening
    store: MemoStore
    mailboxes: frozenset[str]
    language: str = "da"
    cpu: CpuPool = field(default_factory=shared_pool)
    #: The largest MeMo (or DP2 metadata) XML part read (``domain.forwarded_post.MAX_XML_BYTES``).
    max_memo_bytes: int = MAX_XML_BYTES

    async def __call__(self, mailbox: str, message: MailMessage) -> OpenedMail:
        if mailbox.lower() not in self.mailboxes or not is_smime_mail(message) or message.id is None:
            return await self.secure(mailbox, message)
        mime = await self.secure.mail.get_mime(mailbox, message.id)
        try:
            opened = await self.cpu.run(self.secure.opener.open, mime, message.received_at)
            post = await self.cpu.run(find_forwarded_post, opened.content, self.max_memo_bytes)
        except (SecureMailError, ContentError):
            return await self.secure(mailbox, message)  # its banner says why; one alert
        if any(check.verdict is not Verdict.VALID for check in opened.signatures):
            # A signature that is broken, untrusted, expired or refused: never taken as Digital Post (an
            # unsigned mail is: whether NgDP signs is not published). The secure path shows the mail with
            # its verdict (a broken one with a banner and one alert).
            return await self.secure(mailbox, message)
        if post.kind == "memo":
            if await blocking(self.store.store_inbound_memo, post.memo_uuid, InboundSource.MAIL, post.xml):
                await blocking(
                    self.store.audit,
                    "inbound.memo.received",
                    post.memo_uuid,
                    details={"size": len(post.xml), "source": "smime-mail", "shape": post.shape},
                )
            log.info("forwarded Digital Post in %s: memo %s (%s)", mailbox, post.memo_uuid, post.shape)
            return OpenedMail(message, forwarded_memo=post.memo_uuid)
        if post.kind in ("large", "unreadable"):
            content = await self.cpu.run(readable_content, opened.content)
            if post.kind == "large":
                banner = large_notice_banner(self.language)
                log.warning(
                    "forwarded Digital Post in %s: a letter too large to forward waits in NgDP", mailbox
                )
            else:
                banner = unreadable_banner(post.reason, self.language)
                log.warning("forwarded Digital Post in %s cannot be read (%s)", mailbox, post.reason)
            shown = replace(
                message,
                body=render_banner(banner) + _as_html(content.body, content.body_type),
                body_type="html",
                attachments=[*content.attachments, *message.attachments],
                has_attachments=True,
            )
            return OpenedMail(shown, readable_copy=True, failure=banner)
        return await self.secure(mailbox, message)


def forwarded_opening(
    secure: SecureMailOpening,
    store: MemoStore,
    mailboxes: frozenset[str],
    language: str = "da",
    *,
    max_memo_bytes: int = MAX_XML_BYTES,
) -> MailOpener:
    """The opening step: ``secure`` alone when no mailbox is an SMTP recipient system."""
    if not mailboxes:
        return secure
    return ForwardedPostOpening(
        secure,
        store,
        frozenset(m.lower() for m in mailboxes),
        language,
        max_memo_bytes=max_memo_bytes,
    )
