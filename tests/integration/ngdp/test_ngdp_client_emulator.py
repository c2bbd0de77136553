"""NgdpClient against the NgDP emulator over mutual TLS on 127.0.0.1."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from graph_dpg.adapters.digital_post import NgdpClient
from graph_dpg.core.errors import (
    AmbiguousOutcomeError,
    AuthError,
    ConfigError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from graph_dpg.demo.ngdp import start_ngdp_sandbox
from graph_dpg.sandbox.ngdp import CertificateAuthority, Fault, NgdpState, SandboxPki
from graph_dpg.sandbox.ngdp.samples import sample_memo

ClientFactory = Callable[..., NgdpClient]

REGISTERED_CPR = "0101900000"
EXEMPT_CPR = "0202900000"
CLOSED_CPR = "0303900000"
UNKNOWN_CPR = "0404900000"
REGISTERED_CVR = "55133018"
CONTACT_POINT = "241d39f6-998e-4929-b198-ccacbbf4b330"


@pytest.fixture
def state() -> NgdpState:
    s = NgdpState(hang_seconds=0.5, seed=7)
    s.register(cpr=REGISTERED_CPR)
    s.register(cpr=EXEMPT_CPR, status="EXEMPT")
    s.register(cpr=CLOSED_CPR, status="CLOSED")
    s.register(cvr=REGISTERED_CVR)
    s.add_contact_point(
        CONTACT_POINT, "Borgerservice", memo_size_threshold_mb=0.05, allowed_number_of_attachments=2
    )
    return s


def memo(**kw: object) -> tuple[str, bytes]:
    uid = str(uuid.uuid4())
    kw.setdefault("recipient_id", REGISTERED_CPR)
    return uid, sample_memo(message_uuid=uid, **kw)  # type: ignore[arg-type]


def send_posts(state: NgdpState) -> int:
    return sum(1 for method, path, _ in state.request_log if method == "POST" and path.endswith("/memos/"))


# ---------------------------------------------------------------- sending


async def test_send_memo_is_accepted_once_over_mtls(client: NgdpClient, state: NgdpState) -> None:
    uid, xml = memo()
    result = await client.send_memo(uid, xml)
    assert result.message_uuid == uid
    assert result.receipt_status == "RECEIVED"
    assert result.transmission_id is not None
    assert result.duplicate is False
    assert [m.message_uuid for m in state.accepted] == [uid]
    assert state.accepted[0].xml == xml
    assert state.accepted[0].transmission_id == result.transmission_id


async def test_second_send_of_same_uuid_is_a_duplicate_success(client: NgdpClient, state: NgdpState) -> None:
    uid, xml = memo()
    first = await client.send_memo(uid, xml)
    second = await client.send_memo(uid, xml)
    assert (first.duplicate, second.duplicate) == (False, True)
    assert state.accepted_count(uid) == 1
    assert len(state.accepted) == 1
    assert state.duplicate_count == 1


async def test_400_maps_to_rejected_with_field_errors(client: NgdpClient, state: NgdpState) -> None:
    uid, xml = memo(sender_cvr="12345674")
    with pytest.raises(RejectedError) as caught:
        await client.send_memo(uid, xml)
    err = caught.value
    assert err.status == 400
    assert err.code == "SENDER_NOT_ALLOWED"
    assert err.details["code"] == "SENDER_NOT_ALLOWED"
    field_errors = err.details["fieldErrors"]
    assert isinstance(field_errors, list)
    assert field_errors[0]["field"] == "MessageHeader.Sender.senderID"
    assert field_errors[0]["rejectedValue"] == "12345674"
    assert set(field_errors[0]) == {"resource", "field", "code", "message", "rejectedValue"}
    assert state.accepted == []
    assert send_posts(state) == 1  # permanent: not retried


async def test_contact_point_limits_are_enforced(client: NgdpClient, state: NgdpState) -> None:
    uid, xml = memo(recipient_contact_point=CONTACT_POINT, attachments=3)
    with pytest.raises(RejectedError) as too_many:
        await client.send_memo(uid, xml)
    assert too_many.value.code == "TOO_MANY_ATTACHMENTS"

    uid, xml = memo(recipient_contact_point=CONTACT_POINT, attachments=1, attachment_size=60_000)
    with pytest.raises(RejectedError) as too_big:
        await client.send_memo(uid, xml)
    assert too_big.value.code == "MEMO_TOO_LARGE"

    uid, xml = memo(recipient_contact_point=str(uuid.uuid4()))
    with pytest.raises(RejectedError) as unknown:
        await client.send_memo(uid, xml)
    assert unknown.value.code == "CONTACT_POINT_NOT_FOUND"

    uid, xml = memo(recipient_contact_point=CONTACT_POINT, attachments=2)
    assert (await client.send_memo(uid, xml)).receipt_status == "RECEIVED"
    assert [m.message_uuid for m in state.accepted] == [uid]


async def test_query_uuid_must_match_message_uuid(client: NgdpClient, state: NgdpState) -> None:
    _, xml = memo()
    with pytest.raises(RejectedError) as caught:
        await client.send_memo(str(uuid.uuid4()), xml)
    assert caught.value.code == "MESSAGE_UUID_MISMATCH"
    assert caught.value.details["fieldErrors"][0]["field"] == "memo-message-uuid"  # type: ignore[index]
    assert state.accepted == []


async def test_xsd_violation_is_rejected_by_validation(client: NgdpClient, state: NgdpState) -> None:
    uid, xml = memo()
    broken = xml.replace(b"<memo:label>Besked fra kommunen</memo:label>", b"")
    with pytest.raises(RejectedError) as caught:
        await client.send_memo(uid, broken)
    assert caught.value.code == "MEMO_VALIDATION_FAILED"
    assert caught.value.details["fieldErrors"]
    assert state.accepted == []


async def test_sync_recipient_check_refuses_exempt_recipient(client: NgdpClient, state: NgdpState) -> None:
    state.recipient_check = "sync"
    uid, xml = memo(recipient_id=EXEMPT_CPR)
    with pytest.raises(RejectedError) as caught:
        await client.send_memo(uid, xml)
    assert caught.value.code == "RECIPIENT_NOT_ALLOWED"
    # CPR numbers are never echoed back in the error.
    assert EXEMPT_CPR not in str(caught.value.details)
    uid, xml = memo(recipient_id=EXEMPT_CPR, mandatory=True)
    assert (await client.send_memo(uid, xml)).duplicate is False


async def test_wrong_api_token_is_auth_error_without_retry(
    make_client: ClientFactory, state: NgdpState
) -> None:
    client = make_client(api_token="not-the-token")
    uid, xml = memo()
    with pytest.raises(AuthError) as caught:
        await client.send_memo(uid, xml)
    assert caught.value.status == 401
    assert send_posts(state) == 1
    with pytest.raises(AuthError):
        await client.list_receipts()


async def test_system_without_sender_role_gets_403(make_client: ClientFactory, state: NgdpState) -> None:
    system = state.add_system(state.organisation_id, roles=frozenset({"RECIPIENT"}))
    client = make_client(system_id=system.id, api_token=system.api_token)
    uid, xml = memo()
    with pytest.raises(AuthError) as caught:
        await client.send_memo(uid, xml)
    assert caught.value.status == 403
    assert state.accepted == []


async def test_503_is_retried_with_the_same_uuid(client: NgdpClient, state: NgdpState) -> None:
    state.faults.script("send", "503", "503")
    uid, xml = memo()
    result = await client.send_memo(uid, xml)
    assert result.duplicate is False
    assert send_posts(state) == 3
    assert state.accepted_count(uid) == 1


async def test_503_until_attempts_run_out_is_transient(make_client: ClientFactory, state: NgdpState) -> None:
    client = make_client(max_send_attempts=3)
    state.faults.script("send", "503", "503", "503")
    uid, xml = memo()
    with pytest.raises(TransientError) as caught:
        await client.send_memo(uid, xml)
    assert not isinstance(caught.value, AmbiguousOutcomeError)
    assert caught.value.status == 503
    assert state.accepted == []


async def test_timeout_after_accept_resolves_to_one_accepted_memo(
    make_client: ClientFactory, state: NgdpState
) -> None:
    # The client gives up after 1 s, the emulator hangs up only after 3 s: an ordinary answer (the retry)
    # comes in milliseconds, so even a busy machine keeps the three apart.
    client = make_client(read_timeout=1.0)
    state.faults.script("send", Fault("timeout_after_accept", delay=3.0))
    uid, xml = memo()
    result = await client.send_memo(uid, xml)
    assert result.duplicate is True  # the retry found it already accepted
    assert state.accepted_count(uid) == 1
    assert len(state.accepted) == 1
    assert state.duplicate_count == 1
    assert state.faults.injected == [("send", "timeout_after_accept")]


async def test_connection_reset_is_retried(client: NgdpClient, state: NgdpState) -> None:
    state.faults.script("send", "reset")
    uid, xml = memo()
    result = await client.send_memo(uid, xml)
    assert result.duplicate is False  # the reset came before NgDP stored anything
    assert state.accepted_count(uid) == 1
    assert ("send", "reset") in state.faults.injected


async def test_unresolved_ambiguity_is_reported_then_settled_by_a_later_retry(
    make_client: ClientFactory, state: NgdpState
) -> None:
    client = make_client(read_timeout=1.0, max_send_attempts=3)  # as above
    state.faults.script("send", Fault("timeout_after_accept", delay=3.0), "503", "503")
    uid, xml = memo()
    with pytest.raises(AmbiguousOutcomeError):
        await client.send_memo(uid, xml)
    assert state.accepted_count(uid) == 1  # NgDP did take it
    later = await client.send_memo(uid, xml)
    assert later.duplicate is True
    assert len(state.accepted) == 1


async def test_slow_answers_and_random_faults_still_deliver_each_memo_once(
    make_client: ClientFactory, state: NgdpState
) -> None:
    client = make_client(max_send_attempts=10)
    state.faults.script("send", Fault("slow", delay=0.1))
    state.faults.set_rate("503", 0.3, endpoint="send")
    state.faults.set_rate("reset", 0.1, endpoint="send")
    sent = []
    for _ in range(12):
        uid, xml = memo()
        await client.send_memo(uid, xml)
        sent.append(uid)
    assert sorted(m.message_uuid for m in state.accepted) == sorted(sent)
    assert any(kind == "503" for _, kind in state.faults.injected)


# ---------------------------------------------------------------- TLS and certificates


async def test_client_without_certificate_is_refused_at_tls(
    make_client: ClientFactory, state: NgdpState
) -> None:
    client = make_client(cert_file=None, key_file=None)
    assert client.certificate_days_left() is None
    # The server aborts the handshake; asyncio servers drop the connection without flushing the TLS
    # alert, so the client sees a disconnect: a transient failure, and nothing reached the HTTP layer.
    with pytest.raises(TransientError):
        await client.list_receipts()
    uid, xml = memo()
    with pytest.raises(TransientError):
        await client.send_memo(uid, xml)
    assert state.request_log == []
    assert state.accepted == []


async def test_untrusted_server_certificate_is_auth_error(
    make_client: ClientFactory, state: NgdpState, tmp_path: Path
) -> None:
    other_ca, _ = CertificateAuthority("another CA").write_ca(tmp_path, "other")
    client = make_client(ca_bundle=other_ca)
    with pytest.raises(AuthError) as caught:
        await client.list_receipts()
    assert "TLS" in caught.value.message
    assert state.request_log == []


async def test_certificate_from_another_ca_is_refused(
    make_client: ClientFactory, state: NgdpState, tmp_path: Path
) -> None:
    rogue = CertificateAuthority("rogue CA").issue_client(tmp_path, "rogue")
    client = make_client(cert_file=rogue.cert, key_file=rogue.key, max_send_attempts=2)
    uid, xml = memo()
    with pytest.raises(TransientError):
        await client.send_memo(uid, xml)
    assert state.request_log == []
    assert state.accepted == []


async def test_pkcs12_certificate_works(make_client: ClientFactory, pki: SandboxPki) -> None:
    client = make_client(
        cert_file=None, key_file=None, pkcs12_file=pki.client.p12, pkcs12_password=pki.client.p12_password
    )
    contact = await client.lookup_contact(cvr=REGISTERED_CVR)
    assert contact is not None
    assert client.certificate_days_left() in (364, 365)


async def test_pkcs12_with_wrong_password_is_config_error(
    make_client: ClientFactory, pki: SandboxPki
) -> None:
    with pytest.raises(ConfigError):
        make_client(cert_file=None, key_file=None, pkcs12_file=pki.client.p12, pkcs12_password="wrong")


async def test_days_left_of_a_short_lived_pem_certificate(tmp_path: Path) -> None:
    ca = CertificateAuthority()
    short = ca.issue_client(tmp_path, "short", days=10)
    client = NgdpClient(
        "https://127.0.0.1:9/apis/v1", "system", "token", cert_file=short.cert, key_file=short.key
    )
    try:
        assert client.certificate_days_left() in (9, 10)
        assert client.certificate_not_after() == short.not_after
    finally:
        await client.aclose()


# ---------------------------------------------------------------- business receipts


async def test_business_receipts_pull_and_delete(client: NgdpClient, state: NgdpState) -> None:
    expected = {}
    for cpr, mandatory, status in (
        (REGISTERED_CPR, False, "COMPLETED"),
        (EXEMPT_CPR, False, "NOT_ALLOWED"),
        (EXEMPT_CPR, True, "COMPLETED"),
        (CLOSED_CPR, False, "NOT_ALLOWED"),
        (UNKNOWN_CPR, False, "INVALID"),
    ):
        uid, xml = memo(recipient_id=cpr, mandatory=mandatory)
        result = await client.send_memo(uid, xml)
        expected[uid] = (status, result.transmission_id)

    ids = await client.list_receipts()
    assert len(ids) == 5
    seen = {}
    for receipt_id in ids:
        receipt = await client.get_receipt(receipt_id)
        assert receipt.id == receipt_id
        assert receipt.timestamp is not None
        seen[receipt.message_uuid] = (receipt.receipt_status, receipt.transmission_id)
        if receipt.receipt_status != "COMPLETED":
            assert receipt.error_code
        assert receipt.raw["messageUUID"] == receipt.message_uuid
    assert seen == expected
    assert await client.list_receipts() == ids  # GET with delete=false keeps them

    for receipt_id in ids:
        await client.delete_receipt(receipt_id)
    await client.delete_receipt(ids[0])  # already gone: still fine
    assert await client.list_receipts() == []
    assert state.deleted_receipts == ids
    with pytest.raises(NotFoundError):
        await client.get_receipt(ids[0])


async def test_receipt_listing_pages_through(client: NgdpClient, state: NgdpState) -> None:
    queued = [
        state.queue_receipt({"messageUUID": str(uuid.uuid4()), "receiptStatus": "COMPLETED"})
        for _ in range(1203)
    ]
    assert await client.list_receipts() == queued


# ---------------------------------------------------------------- inbound memos


async def test_inbound_memos_list_get_receipt_delete(client: NgdpClient, state: NgdpState) -> None:
    xml11 = sample_memo(
        version="1.1", sender_cvr=REGISTERED_CVR, recipient_id="29189846", recipient_id_type="CVR"
    )
    xml12 = sample_memo(sender_cvr=REGISTERED_CVR, recipient_id="29189846", recipient_id_type="CVR")
    id11, id12 = state.queue_inbound_memo(xml11), state.queue_inbound_memo(xml12)

    assert await client.list_memos() == [id11, id12]
    assert await client.get_memo(id11) == xml11
    assert await client.get_memo(id12) == xml12

    await client.send_memo_receipt(id11, "COMPLETED")
    await client.send_memo_receipt(id11, "COMPLETED")  # a retry after a lost answer: 409 counts as done
    await client.send_memo_receipt(id12, "INVALID", error_code="MEMO_INVALID", error_message="bad XML")
    assert [r["receiptStatus"] for r in state.inbound_receipts(id11)] == ["COMPLETED"]
    (r12,) = state.inbound_receipts(id12)
    assert (r12["receiptStatus"], r12["errorCode"], r12["messageUUID"]) == ("INVALID", "MEMO_INVALID", id12)

    await client.delete_memo(id11)
    await client.delete_memo(id11)  # idempotent
    assert await client.list_memos() == [id12]
    assert state.deleted_inbound == [id11]
    with pytest.raises(NotFoundError):
        await client.get_memo(id11)


# ---------------------------------------------------------------- registry


async def test_contact_lookup(client: NgdpClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # httpx's own level too: a Runtime started by an earlier test quiets it to WARNING process-wide.
    caplog.set_level(logging.INFO, logger="httpx")
    citizen = await client.lookup_contact(cpr=REGISTERED_CPR)
    assert citizen is not None
    assert (citizen.type, citizen.public_registration_status) == ("CITIZEN", "REGISTERED")
    assert citizen.registration_status == "AUTOMATIC_REGISTRATION"
    assert citizen.has_cpr and citizen.reachable

    exempt = await client.lookup_contact(cpr=EXEMPT_CPR)
    assert exempt is not None
    assert exempt.public_registration_status == "EXEMPT"
    assert not exempt.reachable

    company = await client.lookup_contact(cvr=REGISTERED_CVR)
    assert company is not None
    assert (company.type, company.cvr_number) == ("COMPANY", REGISTERED_CVR)

    assert await client.lookup_contact(cpr=UNKNOWN_CPR) is None
    for cpr in (REGISTERED_CPR, EXEMPT_CPR, UNKNOWN_CPR):
        assert cpr not in caplog.text
    assert "cprNumber=xxxxxxxxxx" in caplog.text  # httpx's request log line, masked


async def test_contact_points(client: NgdpClient, state: NgdpState) -> None:
    state.add_contact_point("7a1c5c87-8d1c-4a8b-9a55-3f3c0d5b9e11", "Jobcenter", 20.0, 5, active=False)
    other = state.add_organisation("12345674", "Anden Kommune")
    state.add_contact_point(str(uuid.uuid4()), "Fremmed", organisation_id=other.id)

    points = {p.name: p for p in await client.list_contact_points()}
    assert set(points) == {"Borgerservice", "Jobcenter"}
    assert points["Borgerservice"].id == CONTACT_POINT
    assert points["Borgerservice"].memo_size_threshold_mb == 0.05
    assert points["Borgerservice"].allowed_number_of_attachments == 2
    assert points["Jobcenter"].active is False

    with pytest.raises(AuthError):
        await client.list_contact_points(other.id)


# ---------------------------------------------------------------- the sandbox helper


async def test_sandbox_helper_serves_mtls_and_builds_client_parameters(tmp_path: Path) -> None:
    state = NgdpState()
    state.register(cpr=REGISTERED_CPR)
    with start_ngdp_sandbox(tmp_path, state=state) as sandbox:
        assert sandbox.base_url.startswith("https://127.0.0.1:")
        async with NgdpClient(**sandbox.client_kwargs()) as client:
            uid, xml = memo()
            assert (await client.send_memo(uid, xml)).receipt_status == "RECEIVED"
            assert await client.list_contact_points() == []
    assert state.accepted_count(uid) == 1


async def test_single_certificate_file_is_detected_as_pem_or_pkcs12(
    make_client: ClientFactory, pki: SandboxPki, tmp_path: Path
) -> None:
    combined = tmp_path / "combined.pem"
    combined.write_bytes(pki.client.cert.read_bytes() + pki.client.key.read_bytes())
    for path, password in ((combined, None), (pki.client.p12, pki.client.p12_password)):
        client = make_client(
            cert_file=None, key_file=None, certificate_file=path, certificate_password=password
        )
        assert await client.lookup_contact(cvr=REGISTERED_CVR) is not None
        assert client.certificate_not_after() == pki.client.not_after
    with pytest.raises(ConfigError):
        make_client(certificate_file=combined)  # together with cert_file from the fixture


async def test_legal_notification_needs_the_organisation_permission(
    make_client: ClientFactory, state: NgdpState
) -> None:
    org = state.add_organisation("29189846", "Privat ApS", legal_notification_allowed=False)
    system = state.add_system(org.id)
    client = make_client(system_id=system.id, api_token=system.api_token)
    uid, xml = memo(legal_notification=True)
    with pytest.raises(RejectedError) as caught:
        await client.send_memo(uid, xml)
    assert caught.value.code == "MEMO_VALIDATION_FAILED"
    fields = [e["field"] for e in caught.value.details["fieldErrors"]]  # type: ignore[attr-defined]
    assert any("legalNotification" in f for f in fields)
    uid, xml = memo()
    assert (await client.send_memo(uid, xml)).duplicate is False


async def test_memo_with_a_dtd_is_refused_unread(client: NgdpClient, state: NgdpState) -> None:
    uid, xml = memo()
    evil = xml.replace(
        b'<?xml version="1.0" encoding="UTF-8"?>',
        b'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    )
    with pytest.raises(RejectedError) as caught:
        await client.send_memo(uid, evil)
    assert caught.value.code == "MEMO_NOT_READABLE"
    assert state.accepted == []
