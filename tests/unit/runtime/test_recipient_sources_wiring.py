"""The composition root chains the recipient certificate sources from the settings (bootstrap.recipient_sources):
files (GRAPH_DPG_SMIME_RECIPIENT_CERT_DIR), the sending mailbox's contacts (GRAPH_DPG_SMIME_RECIPIENT_CONTACTS)
and LDAP (GRAPH_DPG_SMIME_LDAP_*), in that order, with the cache settings."""

from __future__ import annotations

from pathlib import Path

from graph_dpg.bootstrap import recipient_sources, secure_sender
from graph_dpg.config import load_settings


class NoContacts:
    async def contact_certificates(
        self, mailbox: str, address: str
    ) -> list[tuple[str, list[str], list[bytes]]]:
        return []


def test_files_then_contacts_then_ldap(tmp_path: Path) -> None:
    settings = load_settings(
        env_file=None,
        smime_recipient_cert_dir=tmp_path,
        smime_ldap_url="ldap://127.0.0.1:1389",
        smime_ldap_base_dn="o=certifikater",
        smime_ldap_search_attributes="mail, otherMailbox",
    )
    assert settings.smime_ldap_search_attributes == ["mail", "otherMailbox"]
    chain = recipient_sources(settings, NoContacts())
    assert [s.kind for s in chain.sources] == ["file", "contacts", "ldap"]
    assert [s.per_mailbox for s in chain.sources] == [False, True, False]


def test_contacts_can_be_switched_off_and_nothing_configured_sends_nothing(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, smime_recipient_contacts=False)
    assert recipient_sources(settings, NoContacts()).sources == ()
    assert secure_sender(settings, NoContacts()) is None  # no signing certificate either
