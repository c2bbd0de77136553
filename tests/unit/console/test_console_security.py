"""The console's access rules, without a browser (Starlette TestClient, a fake identity provider).

Issue 19: no console page or data without sign-in (redirect for pages, 401 for data and actions), roles from
the ID token decide, a CSRF token on every form, security headers on every response, the sign-in callback
rate-limited per client address in bounded memory, session cookies HttpOnly/Secure/SameSite=Lax.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

with warnings.catch_warnings():  # starlette ≥0.50 prefers httpx2 for its TestClient; httpx is what we ship
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from graph_dpg.bootstrap.console import ConsoleOptions
from graph_dpg.core.errors import RemoteError, StoreError
from graph_dpg.domain.routing import ContactPointRoute, InboundSettings
from graph_dpg.domain.rules import RoutingRule, RuleAction, RuleCondition
from graph_dpg.domain.texts import Text
from graph_dpg.ports.digital_post import ContactPointInfo
from graph_dpg.ports.store import JobState, OutboundJob
from graph_dpg.runtime.console import create_console_app
from graph_dpg.runtime.console.auth import (
    FLOW_COOKIE,
    SESSION_COOKIE,
    RateLimiter,
    SealedCookies,
    SignInFailed,
)
from graph_dpg.runtime.console.operations import Credential, InboundRow, InboundView, Overview, RuleRow
from graph_dpg.runtime.console.rules import RulesConsole
from graph_dpg.services.letters import (
    ActionRefused,
    ActionResult,
    Actor,
    LetterHit,
    LetterNotFound,
    MassDelivery,
    Query,
    RecipientView,
    Role,
    SearchResult,
    Step,
    Timeline,
)

SECRET = "s" * 40
CLAIMS = {
    "reader": {
        "name": "Rita Reader",
        "preferred_username": "rita@example.dk",
        "oid": "o-1",
        "roles": ["Gateway.Reader"],
    },
    "admin": {
        "name": "Adam Admin",
        "preferred_username": "adam@example.dk",
        "oid": "o-2",
        "roles": ["Gateway.Reader", "Gateway.Admin"],
    },
    "nobody": {"name": "No Role", "preferred_username": "no@example.dk", "oid": "o-3"},
}


class FakeSignIn:
    """An identity provider that answers ``code=<user>`` with that user's claims (state checked)."""

    def begin(self) -> dict[str, Any]:
        return {"auth_uri": "https://idp.example/authorize?state=st", "state": "st", "code_verifier": "v"}

    def finish(self, flow: Mapping[str, Any], response: Mapping[str, str]) -> Mapping[str, Any]:
        if response.get("state") != flow["state"] or response.get("code") not in CLAIMS:
            raise SignInFailed("state or code")
        return CLAIMS[response["code"]]


@dataclass
class FakeLetters:
    """The letters service as the console calls it (``runtime.console.letters.Letters``): canned answers,
    the calls recorded with the actor the console passed."""

    calls: list[tuple[str, ...]] = field(default_factory=list)
    names: Mapping[str, str] = field(default_factory=dict)  # clear CPR → name, as a name lookup answers
    job_state: JobState = JobState.SENDING
    channel: str = "digital_post"
    pending: int = 1

    def __call__(self, language: str) -> FakeLetters:  # the console's LettersFactory
        return self

    def _job(self) -> OutboundJob:
        now = datetime.now(UTC)
        return OutboundJob(
            "job-1",
            "post@example.dk",
            "m-1",
            None,
            "Afgørelse",
            self.channel,
            self.job_state,
            None,
            now,
            now,
        )

    async def search(self, query: Query, actor: Actor) -> SearchResult:
        self.calls.append(("search", query.text, actor.name))
        recipient = "0102031234"
        hit = LetterHit(
            "job-1",
            "post@example.dk",
            "Afgørelse om 010203-xxxx",
            "digital_post",
            "failed",
            datetime.now(UTC),
            None,
            {"pending": 0, "accepted": 0, "rejected": 0, "failed": 1},
            message_uuid="uuid-1",
            recipient="010203-xxxx",
            recipient_state="failed",
            recipient_name=self.names.get(recipient),
        )
        return SearchResult(letters=[hit])

    async def timeline(self, ident: str, actor: Actor) -> Timeline:
        if ident == "db-down":
            raise StoreError("read letter: the database did not answer")
        if ident not in ("job-1", "uuid-1", "uuid-2"):
            raise LetterNotFound(ident)
        now = datetime.now(UTC)
        failed = RecipientView(
            "uuid-1", "010203-xxxx", "cpr", "failed", None, 3, None, "timeout", retry="same"
        )
        refused = RecipientView(
            "uuid-2", "020304-xxxx", "cpr", "rejected", None, 1, now, "refused", replaced_by="uuid-3"
        )
        steps = [
            Step(now, "seen", "Set i Sendt post"),
            Step(now, "receipt_mail", "Kvitteringsmail skrevet i afsenderens postkasse"),
            Step(now, "category", "Kategori sat: DPG sendt"),
            Step(None, "replaced", "Sendt igen som nyt brev uuid-3", message_uuid="uuid-2"),
        ]
        progress = {"pending": self.pending, "accepted": 0, "rejected": 1, "failed": 1}
        return Timeline(self._job(), steps, [failed, refused], 3, progress, None)

    async def progress(self, ident: str, actor: Actor) -> dict[str, int]:
        if ident != "job-1":
            raise LetterNotFound(ident)
        return {"pending": 1, "accepted": 1, "rejected": 0, "failed": 0}

    async def mass_deliveries(
        self, actor: Actor, *, active_only: bool = False, limit: int = 50
    ) -> list[MassDelivery]:
        return []

    async def retry(self, ident: str, actor: Actor) -> ActionResult:
        self._admin(actor)
        self.calls.append(("retry", ident, actor.name))
        return ActionResult("retry", "job-1", True, "", retried=[ident])

    async def cancel(self, ident: str, actor: Actor) -> ActionResult:
        self._admin(actor)
        self.calls.append(("cancel", ident, actor.name))
        return ActionResult("cancel", "job-1", True, "")

    async def resend_receipt(self, ident: str, actor: Actor) -> ActionResult:
        self._admin(actor)
        self.calls.append(("resend_receipt", ident, actor.name))
        if self.job_state is not JobState.DONE:
            raise ActionRefused(Text.CONSOLE_REFUSED_NOT_FINISHED)
        again = any(c[0] == "resend_receipt" for c in self.calls[:-1])
        return ActionResult("resend_receipt", "job-1", not again, "")

    async def reveal_cpr(self, message_uuid: str, actor: Actor) -> str:
        self._admin(actor)
        self.calls.append(("reveal", message_uuid, actor.name))
        return "0102031234"

    @staticmethod
    def _admin(actor: Actor) -> None:
        assert actor.role is Role.ADMIN and actor.via == "console"


class FakeOperations:
    def overview(self) -> Overview:
        rules = (
            RuleRow("fakturaer", 7, None, None),
            RuleRow("langsom", 0, "ran out of time", datetime.now(UTC)),
        )
        credentials = (Credential("NgDP OCES3 certificate", datetime(2027, 3, 1, tzinfo=UTC), 12),)
        return Overview(
            ("replica-a",), {"pending": 3, "accepted": 9, "rejected": 0, "failed": 1}, 2, rules, credentials
        )

    def inbound(self) -> InboundView:
        row = InboundRow(
            "memo-1",
            "delivered",
            datetime.now(UTC),
            "oekonomi@x.dk",
            None,
            "fakturaer",
            ("fakturaer",),
            ("title ~ faktura",),
            "",
            None,
            None,
        )
        unmapped = InboundRow(
            "memo-2",
            "received",
            datetime.now(UTC),
            "post@x.dk",
            "cp-9",
            None,
            (),
            (),
            "main mailbox",
            "unmapped",
            None,
        )
        return InboundView((row, unmapped), (("cp-9", 1),))


def _options(redirect: str = "https://gw.example.dk/console/auth/callback") -> ConsoleOptions:
    return ConsoleOptions("https://login.example/tenant", "client", "client-secret", redirect, SECRET)


def _client(letters: FakeLetters, *, limiter: RateLimiter | None = None, https: bool = True) -> TestClient:
    redirect = (
        "https://gw.example.dk/console/auth/callback"
        if https
        else "http://127.0.0.1:8080/console/auth/callback"
    )
    console = create_console_app(
        _options(redirect), letters, operations=FakeOperations(), sign_in=FakeSignIn(), limiter=limiter
    )
    app = Starlette(routes=[Mount("/console", app=console)])
    return TestClient(app, base_url="https://testserver" if https else "http://127.0.0.1:8080")


def _sign_in(client: TestClient, user: str) -> None:
    start = client.get("/console/auth/start", follow_redirects=False)
    assert start.status_code == 303
    done = client.get(f"/console/auth/callback?code={user}&state=st", follow_redirects=False)
    assert done.status_code == 303, done.text


def _csrf(client: TestClient) -> str:
    cookie = client.cookies.get(SESSION_COOKIE)
    session = SealedCookies(SECRET).session(cookie)
    assert session is not None
    return session.csrf


# --------------------------------------------------------------------------------------- anonymous


def test_an_anonymous_page_request_is_sent_to_sign_in():
    response = _client(FakeLetters()).get("/console/letters/job-1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/signin?next=%2Fconsole%2Fletters%2Fjob-1"


def test_anonymous_data_and_actions_get_401_and_nothing_is_done():
    letters = FakeLetters()
    client = _client(letters)
    assert client.get("/console/api/progress/job-1").status_code == 401
    assert client.post("/console/letters/job-1/retry", data={"message_uuid": "uuid-1"}).status_code == 401
    assert client.post("/console/letters/job-1/cancel").status_code == 401
    assert client.get("/console/no-such-page").status_code == 401
    assert letters.calls == []


def test_a_forged_session_cookie_counts_as_no_session():
    client = _client(FakeLetters())
    other = SealedCookies("x" * 40).seal("session", {"name": "Eve", "roles": ["Gateway.Admin"]}, 3600)
    client.cookies.set(SESSION_COOKIE, other)
    assert client.get("/console/api/progress/job-1").status_code == 401
    client.cookies.set(SESSION_COOKIE, "garbage" * 10)
    assert client.get("/console/api/progress/job-1").status_code == 401


# ----------------------------------------------------------------------------------------- sign-in


def test_sign_in_sets_httponly_secure_lax_cookies_and_lands_on_the_asked_page():
    client = _client(FakeLetters())
    start = client.get("/console/auth/start?next=/console/letters/job-1", follow_redirects=False)
    assert start.headers["location"].startswith("https://idp.example/authorize")
    flow_cookie = start.headers["set-cookie"].lower()
    assert FLOW_COOKIE in flow_cookie
    assert "httponly" in flow_cookie
    assert "secure" in flow_cookie
    assert "samesite=lax" in flow_cookie
    done = client.get("/console/auth/callback?code=reader&state=st", follow_redirects=False)
    assert done.headers["location"] == "/console/letters/job-1"
    session_cookie = next(
        h for h in done.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")
    )
    assert "httponly" in session_cookie.lower()
    assert "secure" in session_cookie.lower()
    assert "samesite=lax" in session_cookie.lower()
    page = client.get("/console/letters/job-1")
    assert page.status_code == 200
    assert "Rita Reader" in page.text


def test_on_plain_http_loopback_the_cookies_are_not_secure_but_still_httponly():
    # The sandbox serves the console on http://127.0.0.1 (a browser would not return a Secure cookie there).
    client = _client(FakeLetters(), https=False)
    client.get("/console/auth/start", follow_redirects=False)
    done = client.get("/console/auth/callback?code=reader&state=st", follow_redirects=False)
    cookie = next(h for h in done.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "="))
    assert "httponly" in cookie.lower()
    assert "secure" not in cookie.lower()
    assert client.get("/console/").status_code == 200


def test_a_callback_with_a_wrong_state_or_no_flow_signs_nobody_in():
    client = _client(FakeLetters())
    no_flow = client.get("/console/auth/callback?code=admin&state=st", follow_redirects=False)
    assert no_flow.headers["location"] == "/console/signin?failed=1"
    client.get("/console/auth/start", follow_redirects=False)
    wrong = client.get("/console/auth/callback?code=admin&state=other", follow_redirects=False)
    assert wrong.headers["location"] == "/console/signin?failed=1"
    assert client.cookies.get(SESSION_COOKIE) is None


def test_next_never_leaves_the_console():
    client = _client(FakeLetters())
    client.get("/console/auth/start?next=https://evil.example/", follow_redirects=False)
    done = client.get("/console/auth/callback?code=reader&state=st", follow_redirects=False)
    assert done.headers["location"] == "/console/"


def test_a_person_without_a_console_role_sees_why_and_no_data():
    letters = FakeLetters()
    client = _client(letters)
    _sign_in(client, "nobody")
    page = client.get("/console/?q=x")
    assert page.status_code == 403
    assert "Gateway.Reader" in page.text
    assert client.get("/console/api/progress/job-1").status_code == 403
    assert letters.calls == []


def test_the_callback_is_rate_limited_per_client_address():
    client = _client(FakeLetters(), limiter=RateLimiter(limit=3, window_s=60))
    answers = [
        client.get("/console/auth/callback?code=x&state=y", follow_redirects=False).headers["location"]
        for _ in range(5)
    ]
    assert answers[:3] == ["/console/signin?failed=1"] * 3
    assert answers[3:] == ["/console/signin?failed=rate"] * 2
    page = client.get("/console/signin?failed=rate")
    assert "Vent et minut" in page.text


def test_the_rate_limiter_forgets_the_oldest_addresses_beyond_its_bound():
    now = [0.0]
    limiter = RateLimiter(limit=1, window_s=60, max_keys=100, clock=lambda: now[0])
    for i in range(10_000):
        limiter.allow(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter) == 100
    assert not limiter.allow("10.0.39.15")  # among the newest: still remembered
    now[0] = 61.0
    assert limiter.allow("10.0.39.15")  # the window has passed


# ------------------------------------------------------------------------------------ CSRF and roles


def test_an_admin_action_without_or_with_a_wrong_csrf_token_is_refused_and_not_done():
    letters = FakeLetters()
    client = _client(letters)
    _sign_in(client, "admin")
    without = client.post("/console/letters/job-1/retry", data={"message_uuid": "uuid-1"})
    wrong = client.post("/console/letters/job-1/retry", data={"message_uuid": "uuid-1", "csrf": "nope"})
    assert without.status_code == 403
    assert wrong.status_code == 403
    assert "Genindlæs siden" in without.text
    assert letters.calls == []
    ok = client.post(
        "/console/letters/job-1/retry",
        data={"message_uuid": "uuid-1", "csrf": _csrf(client)},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert letters.calls == [("retry", "uuid-1", "console:adam@example.dk")]


def test_a_reader_is_refused_every_admin_action():
    letters = FakeLetters()
    client = _client(letters)
    _sign_in(client, "reader")
    token = _csrf(client)
    for action in ("retry", "cancel", "reveal"):
        response = client.post(
            f"/console/letters/job-1/{action}", data={"message_uuid": "uuid-1", "csrf": token}
        )
        assert response.status_code == 403
        assert "Gateway.Admin" in response.text
    assert letters.calls == []
    page = client.get("/console/letters/job-1")
    assert 'class="retry"' not in page.text  # the reader is not offered the buttons either
    assert "0102031234" not in page.text


def test_revealing_a_cpr_number_shows_it_once_to_an_admin():
    letters = FakeLetters()
    client = _client(letters)
    _sign_in(client, "admin")
    page = client.get("/console/letters/job-1")
    assert "010203-xxxx" in page.text
    assert "0102031234" not in page.text
    revealed = client.post(
        "/console/letters/job-1/reveal", data={"message_uuid": "uuid-1", "csrf": _csrf(client)}
    )
    assert revealed.status_code == 200
    assert "0102031234" in revealed.text
    assert revealed.headers["cache-control"] == "no-store"
    assert letters.calls == [("reveal", "uuid-1", "console:adam@example.dk")]


# ------------------------------------------------------------------------------------------ headers


@pytest.mark.parametrize(
    "path", ["/console/signin", "/console/", "/console/api/progress/job-1", "/console/static/console.css"]
)
def test_every_console_response_has_the_security_headers(path):
    response = _client(FakeLetters()).get(path, follow_redirects=False)
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def test_pages_carry_no_inline_script_and_every_form_a_csrf_token():
    client = _client(FakeLetters())
    _sign_in(client, "admin")
    for path in (
        "/console/",
        "/console/?q=job",
        "/console/letters/job-1",
        "/console/deliveries",
        "/console/inbound",
        "/console/operations",
    ):
        page = client.get(path).text
        assert "<script>" not in page
        assert " on" + "click=" not in page
        posts = page.count('method="post"')
        assert page.count('name="csrf"') == posts, path


def test_the_pages_speak_danish_and_english():
    client = _client(FakeLetters())
    _sign_in(client, "reader")
    assert "Søg breve" in client.get("/console/").text
    english = client.get("/console/?lang=en")
    assert "Search letters" in english.text
    assert "Search letters" in client.get("/console/").text  # remembered in a cookie
    assert "Logged in" not in english.text
    assert "Signed in as Rita Reader (reader)" in english.text


def test_progress_is_json_for_a_signed_in_reader():
    client = _client(FakeLetters())
    _sign_in(client, "reader")
    assert client.get("/console/api/progress/job-1").json() == {
        "total": 2,
        "done": 1,
        "pending": 1,
        "accepted": 1,
        "rejected": 0,
        "failed": 0,
    }
    assert client.get("/console/api/progress/nope").status_code == 404


def test_behind_the_ingress_the_limit_counts_the_forwarded_client_address_not_the_proxy():
    console = create_console_app(
        ConsoleOptions(
            "https://login.example/t",
            "c",
            "s",
            "https://gw.example.dk/console/auth/callback",
            SECRET,
            proxy_hops=1,
        ),
        FakeLetters(),
        sign_in=FakeSignIn(),
        limiter=RateLimiter(limit=1, window_s=60),
    )
    client = TestClient(Starlette(routes=[Mount("/console", app=console)]), base_url="https://testserver")

    def callback(forwarded: str) -> str:
        response = client.get(
            "/console/auth/callback?code=x&state=y",
            headers={"X-Forwarded-For": forwarded},
            follow_redirects=False,
        )
        return response.headers["location"]

    assert callback("203.0.113.1") == "/console/signin?failed=1"
    assert callback("203.0.113.2") == "/console/signin?failed=1"  # another person: own budget
    assert (
        callback("198.51.100.9, 203.0.113.1") == "/console/signin?failed=rate"
    )  # the left part is the client's


def test_operations_and_inbound_show_rules_routing_and_unmapped_contact_points():
    client = _client(FakeLetters())
    assert client.get("/console/operations", follow_redirects=False).status_code == 303  # not signed in
    _sign_in(client, "reader")
    ops = client.get("/console/operations?lang=en").text
    assert "replica-a" in ops
    assert "disabled" in ops
    assert "ran out of time" in ops
    assert "NgDP OCES3 certificate: expires 2027-03-01 01:00:00 (in 12 days)" in ops
    inbound = client.get("/console/inbound").text
    assert "The rule “fakturaer” chose the mailbox: title ~ faktura" in inbound
    assert "cp-9" in inbound


def test_an_oversized_form_is_refused_unread_and_nothing_is_done():
    letters = FakeLetters()
    client = _client(letters)
    _sign_in(client, "admin")
    body = {"message_uuid": "uuid-1", "csrf": _csrf(client), "padding": "x" * 20_000}
    assert client.post("/console/letters/job-1/retry", data=body).status_code == 413
    assert letters.calls == []


def test_a_database_outage_is_a_503_page_in_words_not_a_stack_trace():
    client = _client(FakeLetters())
    _sign_in(client, "reader")
    page = client.get("/console/letters/db-down")
    assert page.status_code == 503
    assert "Gatewayens database svarer ikke lige nu" in page.text
    assert "Traceback" not in page.text
    assert page.headers["x-content-type-options"] == "nosniff"


# ------------------------------------------------------------------------- the letters service's answers


def test_an_admin_resends_a_finished_letters_receipt_mail_once_and_a_reader_cannot():
    letters = FakeLetters(job_state=JobState.DONE)
    client = _client(letters)
    _sign_in(client, "reader")
    assert 'id="resend"' not in client.get("/console/letters/job-1").text
    refused = client.post("/console/letters/job-1/resend", data={"csrf": _csrf(client)})
    assert refused.status_code == 403 and letters.calls == []
    _sign_in(client, "admin")
    page = client.get("/console/letters/job-1")
    assert 'action="/console/letters/job-1/resend"' in page.text
    assert client.post("/console/letters/job-1/resend", data={}).status_code == 403  # no CSRF token
    first = client.post("/console/letters/job-1/resend", data={"csrf": _csrf(client)}, follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"].startswith("/console/letters/job-1?done=resend_receipt&changed=1")
    assert "Kvitteringsmailen skrives igen" in client.get(first.headers["location"]).text
    again = client.post("/console/letters/job-1/resend", data={"csrf": _csrf(client)})
    assert "allerede bestilt igen" in again.text
    assert letters.calls == [("resend_receipt", "job-1", "console:adam@example.dk")] * 2


def test_resending_the_receipt_of_an_unfinished_letter_is_refused_in_words():
    client = _client(FakeLetters(job_state=JobState.SENDING))
    _sign_in(client, "admin")
    assert 'id="resend"' not in client.get("/console/letters/job-1").text  # not offered
    refused = client.post("/console/letters/job-1/resend?lang=en", data={"csrf": _csrf(client)})
    assert refused.status_code == 409
    assert "Traceback" not in refused.text and "CONSOLE_REFUSED" not in refused.text


def test_search_results_name_the_recipient_where_the_service_has_a_name():
    named = FakeLetters(names={"0102031234": "Jens Hansen"})
    client = _client(named)
    _sign_in(client, "reader")
    page = client.get("/console/?q=010203-1234")
    assert "Jens Hansen (010203-xxxx)" in page.text
    results = page.text.split('id="results"')[1]
    assert "0102031234" not in results and "010203-1234" not in results
    assert 'href="/console/letters/uuid-1"' in page.text  # the matched MeMo, its timeline in focus
    plain = _client(FakeLetters())  # no register configured (or a protected person): the number alone
    _sign_in(plain, "reader")
    shown = plain.get("/console/?q=010203-1234").text
    assert "010203-xxxx" in shown and "Jens Hansen" not in shown


def test_the_timeline_shows_receipt_mails_categories_and_links_a_refused_letter_to_its_replacement():
    client = _client(FakeLetters())
    _sign_in(client, "reader")
    page = client.get("/console/letters/job-1").text
    assert "Kvitteringsmail skrevet" in page and "Kategori sat: DPG sendt" in page
    assert page.count('href="/console/letters/uuid-3"') == 2  # the recipient row and the timeline step
    assert "Afvist; sendt igen som nyt brev uuid-3" in page


# ------------------------------------------------------------------------------------ the routing page


def _routing(*, ngdp: list[ContactPointInfo] | None = None, disabled: tuple[str, ...] = ()) -> RulesConsole:
    rules = (
        RoutingRule(
            "fakturaer",
            (RuleCondition.make("subject", "contains", "faktura"),),
            RuleAction(deliver_mailbox="oekonomi@x.dk", categories=("Faktura",)),
            priority=10,
        ),
        RoutingRule(
            "skat",
            (RuleCondition.make("from", "contains", "skat.dk"),),
            RuleAction(deliver_mailbox="skat@x.dk"),
            priority=20,
        ),
    )
    points = {
        "cp-1": ContactPointRoute("cp-1", "Borgerservice", "borger@x.dk"),
        "cp-2": ContactPointRoute("cp-2", "Gammelt", None),
    }
    settings = InboundSettings(
        "29189846", "Kommune", "post@x.dk", "drift@x.dk", contact_points=points, rules=rules
    )

    async def listed() -> list[ContactPointInfo]:
        if ngdp is None:
            raise RemoteError("NgDP answered 503")
        return ngdp

    return RulesConsole(settings, disabled=lambda: disabled, ngdp_contact_points=listed)


def _routing_client(routing: RulesConsole) -> TestClient:
    console = create_console_app(_options(), FakeLetters(), sign_in=FakeSignIn(), routing=routing)
    return TestClient(Starlette(routes=[Mount("/console", app=console)]), base_url="https://testserver")


def test_the_routing_dry_run_names_the_rule_and_why_and_keeps_nothing():
    # The same engine as `graph-dpg rules test` (domain.rules.evaluate_rules); a reader may try it.
    ngdp = [
        ContactPointInfo("cp-1", "Borgerservice", None, None),
        ContactPointInfo("cp-9", "Nyt", None, None),
    ]
    client = _routing_client(_routing(ngdp=ngdp))
    assert client.post("/console/routing", data={"subject": "x"}).status_code == 401  # no session
    _sign_in(client, "reader")
    assert client.post("/console/routing", data={"subject": "Faktura 12"}).status_code == 403  # no CSRF
    form = {
        "csrf": _csrf(client),
        "kind": "mail",
        "sender": "a@b.dk",
        "subject": "Faktura 12 til 010203-1234",
    }
    page = client.post("/console/routing?lang=en", data=form).text
    assert "The rule “fakturaer” would deliver it to oekonomi@x.dk / inbox." in page
    assert "Categories: Faktura" in page
    trace = page.split('id="trace"')[1]
    assert "MATCHED" in trace and "skat" in trace and "010203-1234" not in trace
    other = client.post("/console/routing?lang=en", data={**form, "kind": "memo", "subject": "Hej"}).text
    assert "delivered by its contact point" in other
    table = other.split('id="contact-points"')[1]
    assert "borger@x.dk" in table and "known to NgDP" in table
    assert "no mailbox: delivered to post@x.dk with a warning" in table  # cp-2, explicitly unmapped
    assert "not on NgDP&#39;s list" in table or "not on NgDP's list" in table  # cp-2 is not NgDP's
    assert "cp-9" in table  # NgDP's, not in the gateway file


def test_the_routing_page_skips_rules_the_gateway_disabled_and_says_when_ngdp_did_not_answer():
    client = _routing_client(_routing(ngdp=None, disabled=("fakturaer",)))
    _sign_in(client, "reader")
    assert "NgDP did not answer" in client.get("/console/routing?lang=en").text
    form = {"csrf": _csrf(client), "kind": "mail", "sender": "x@skat.dk", "subject": "Faktura"}
    page = client.post("/console/routing?lang=en", data=form).text
    assert "The rule “skat” would deliver it to skat@x.dk / inbox." in page
    assert "disabled automatically" in page


def test_cancel_is_offered_for_a_secure_mail_not_sent_yet_which_has_no_recipient_rows():
    # A secure mail (S/MIME, channel "sikkermail") leaves in one sendMail and has no outbox rows; while its
    # job is unfinished the letters service can still stop it, so the page offers the button.
    def page(letters: FakeLetters) -> str:
        client = _client(letters)
        _sign_in(client, "admin")
        return client.get("/console/letters/job-1").text

    assert 'id="cancel"' in page(FakeLetters(job_state=JobState.NEW, channel="sikkermail", pending=0))
    assert 'id="cancel"' not in page(FakeLetters(job_state=JobState.DONE, channel="sikkermail", pending=0))
    assert 'id="cancel"' not in page(FakeLetters(job_state=JobState.NEW, pending=0))  # a letter: rows decide
