"""The admin console in a real headless browser (issue 19): Debian's chromium driven by selenium through the
system chromedriver, pointed at explicitly (nothing is downloaded). One browser for the module.

Covered: an anonymous request refused, sign-in as reader and as admin through the emulated Entra ID, search,
a timeline, a reader refused an admin action, a form without its CSRF token refused, retry, cancel of a
running mass delivery, resending a receipt mail (and its refusal for a letter closed without one), and the
routing page's dry run of the rules with the contact-point table. With GRAPH_DPG_SCREENSHOTS=<dir> the main pages are photographed there
(``GRAPH_DPG_SCREENSHOTS=docs/img pytest -m browser tests/e2e/test_console_browser.py`` refreshes
docs/img/console-*.png).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from graph_dpg.adapters.store import create_store
from graph_dpg.bootstrap.console import ConsoleOptions
from graph_dpg.domain.routing import ContactPointRoute, InboundSettings
from graph_dpg.domain.rules import RoutingRule, RuleAction, RuleCondition
from graph_dpg.ports.digital_post import ContactPointInfo
from graph_dpg.ports.store import JobState, OutboundJob, OutboxState, PlannedMemo, SendOutcome
from graph_dpg.runtime.console import StoreOperations, create_console_app
from graph_dpg.runtime.console.rules import RulesConsole
from graph_dpg.sandbox.idp import IdpState, serve
from graph_dpg.services.letters import LettersService
from tests.keyvault_support import tls_files

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = (
    "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else shutil.which("chromedriver")
)
SHOTS = os.environ.get("GRAPH_DPG_SCREENSHOTS")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="needs the system's chromium and chromedriver (apt-get install chromium chromium-driver); "
        "no browser is downloaded at run time",
    ),
    pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended:UserWarning"),
]


def _seed(store: Any) -> None:
    store.replica_heartbeat("gateway-replica-1")
    store.increment_rule_hits("fakturaer-til-oekonomi", 12)
    store.disable_rule("cpr-i-titel", "the regular expression ran out of its time budget")
    failed = OutboundJob("job-failed", "jobcenter@sandby.dk", "m-1", "<m-1@x>", "Afgørelse om ydelse", "dp")
    store.plan_job(failed, [PlannedMemo("uuid-failed", "cpr", "0102031234", memo_xml=b"<m/>")])
    store.record_send_results([SendOutcome("uuid-failed", OutboxState.FAILED, error="NgDP answered 503")])
    store.set_job_state("job-failed", JobState.FAILED, "gave up")
    mass = OutboundJob("job-mass", "borgerservice@sandby.dk", "m-2", "<m-2@x>", "Ny affaldsordning", "dp")
    store.plan_job(
        mass,
        [
            PlannedMemo(f"uuid-mass-{i}", "cpr", f"0{i % 9 + 1}0203{i:04d}", memo_xml=b"<m/>")
            for i in range(40)
        ],
    )
    store.set_job_state("job-mass", JobState.SENDING)
    store.record_send_results(
        [SendOutcome(f"uuid-mass-{i}", OutboxState.ACCEPTED, transmission_id=f"t{i}") for i in range(10)]
    )
    # A finished letter whose receipt mail was written (the receipt effect, as services.outbound plans it).
    done = OutboundJob("job-done", "borgerservice@sandby.dk", "m-3", "<m-3@x>", "Svar på ansøgning", "dp")
    store.plan_job(done, [PlannedMemo("uuid-done", "cpr", "0304051234", memo_xml=b"<m/>")])
    store.set_job_state("job-done", JobState.SENDING)
    store.record_send_results([SendOutcome("uuid-done", OutboxState.ACCEPTED, transmission_id="t-done")])
    store.plan_effect(
        "receipt:job-done", {"job": "job-done", "kind": "receipt", "findings": []}, done.mailbox
    )
    store.complete_effect("receipt:job-done", {"message_id": "receipt-1"})
    store.set_job_state("job-done", JobState.DONE)
    # A mail closed without a letter (it vanished before it was read): finished, but no receipt mail.
    gone = OutboundJob("job-gone", "borgerservice@sandby.dk", "m-4", "<m-4@x>", "Slettet kladde", "dp")
    store.create_job(gone)
    store.set_job_state("job-gone", JobState.FAILED, "the mail was deleted before it was read")


def _routing() -> RulesConsole:
    """The routing page's engine over a small gateway file: two rules and two contact points, one of them
    explicitly without a mailbox; NgDP lists one of them and one the gateway file lacks."""
    rules = (
        RoutingRule(
            "fakturaer",
            (RuleCondition.make("subject", "contains", "faktura"),),
            RuleAction(deliver_mailbox="oekonomi@sandby.dk", categories=("Faktura",)),
            priority=10,
        ),
        RoutingRule(
            "skat",
            (RuleCondition.make("from", "contains", "skat.dk"),),
            RuleAction(deliver_mailbox="skat@sandby.dk"),
            priority=20,
        ),
    )
    points = {
        "cp-1": ContactPointRoute("cp-1", "Borgerservice", "borgerservice@sandby.dk"),
        "cp-2": ContactPointRoute("cp-2", "Gammelt", None),
    }
    settings = InboundSettings(
        "29189846", "Sandby Kommune", "post@sandby.dk", "drift@sandby.dk", contact_points=points, rules=rules
    )

    async def listed() -> list[ContactPointInfo]:
        return [
            ContactPointInfo("cp-1", "Borgerservice", None, None),
            ContactPointInfo("cp-9", "Nyt", None, None),
        ]

    return RulesConsole(settings, ngdp_contact_points=listed)


def _serve_console(app: Any, sock: socket.socket) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(
        uvicorn.Config(
            app, lifespan="off", log_level="warning", access_log=False, timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the console did not start"
        time.sleep(0.01)
    return server, thread


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """The console's base URL and its store."""
    work = tmp_path_factory.mktemp("console-browser")
    store = create_store(f"sqlite:///{work / 'state.db'}", replica="browser-test")
    _seed(store)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    cert, key, ca = tls_files(work)
    state = IdpState("sandbox-tenant", "console-client", "secret-1", (f"{base}/console/auth/callback",))
    with serve(state, certfile=cert, keyfile=key) as idp:
        options = ConsoleOptions(
            idp.authority,
            "console-client",
            "secret-1",
            f"{base}/console/auth/callback",
            "b" * 40,
            ca_bundle=ca,
        )
        services = {lang: LettersService(store, language=lang) for lang in ("da", "en")}
        console_app = create_console_app(
            options, services.__getitem__, operations=StoreOperations(store), routing=_routing()
        )
        app = Starlette(routes=[Mount("/console", app=console_app)])
        server, thread = _serve_console(app, sock)
        try:
            yield base, store
        finally:
            server.should_exit = True
            thread.join(5)
            store.close()


@pytest.fixture(scope="module")
def console(seeded: tuple[str, Any]) -> str:
    return seeded[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # The emulated identity provider's certificate comes from a throw-away test CA the browser does not know.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1200,900",
        "--ignore-certificate-errors",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    driver.implicitly_wait(5)  # find_element waits for the next page's element after a submitting click
    try:
        yield driver
    finally:
        driver.quit()


def _text(driver: Any) -> str:
    return str(driver.execute_script("return document.body.innerText"))


def _count(driver: Any, css: str) -> int:
    """How many elements match now (find_elements would wait for the implicit timeout when none do)."""
    return int(driver.execute_script("return document.querySelectorAll(arguments[0]).length", css))


def _shot(driver: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SHOTS) / f"console-{name}.png"))


def _wait(driver: Any, condition: Any) -> None:
    """Until ``condition(driver)`` (a click that submits a form returns before the next page is there)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(condition)


def _sign_in(driver: Any, base: str, user: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{base}/console/")
    assert "/console/signin" in driver.current_url  # a page without sign-in: sent to sign in
    _shot(driver, "signin")
    driver.find_element(By.ID, "sign-in").click()
    driver.find_element(By.ID, f"user-{user}").click()  # the emulator's page: choose a demo user
    _wait(
        driver, lambda d: d.current_url.startswith(f"{base}/console/") and d.find_elements(By.ID, "signed-in")
    )
    assert driver.find_element(By.ID, "signed-in").is_displayed()


def _click_to_next_page(driver: Any, button: str) -> None:
    """Click the submit button ``button`` (an id) and wait until the page it was on is gone: the next page
    has elements of the same ids, which a plain find_element could read off the old one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, button).click()
    _wait(driver, expected_conditions.staleness_of(old))


def _post_without_ui(driver: Any, action: str, fields: dict[str, str]) -> None:
    """Submit a form the page did not offer (what a forged or stale form does)."""
    driver.execute_script(
        "const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];"
        "for (const [k, v] of Object.entries(arguments[1])) {"
        "  const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.append(i); }"
        "document.body.append(f); f.submit();",
        action,
        fields,
    )


def test_an_anonymous_request_is_refused(console: str, browser: Any) -> None:
    browser.delete_all_cookies()
    browser.get(f"{console}/console/api/progress/job-mass")
    assert "sign-in required" in _text(browser)
    browser.get(f"{console}/console/letters/job-mass")
    assert "/console/signin" in browser.current_url
    assert "Ny affaldsordning" not in _text(browser)


def test_a_reader_signs_in_searches_reads_a_timeline_and_is_refused_an_admin_action(
    console: str, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    _sign_in(browser, console, "reader")
    assert "(læser)" in browser.find_element(By.ID, "signed-in").text
    box = browser.find_element(By.ID, "q")
    box.send_keys("jobcenter@sandby.dk")  # an address: the letters of that mailbox (services.letters)
    browser.find_element(By.ID, "search").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    assert len(rows) == 1
    _shot(browser, "search")
    browser.find_element(By.LINK_TEXT, "Afgørelse om ydelse").click()
    timeline = browser.find_element(By.ID, "timeline").text
    assert "Set i Sendt post" in timeline
    assert "Kunne ikke sendes: Afsendelsen mislykkedes: NgDP answered 503" in timeline
    assert "010203-xxxx" in browser.find_element(By.ID, "recipients").text
    assert "0102031234" not in _text(browser)
    assert _count(browser, "button.retry") == 0  # not offered to a reader
    token = browser.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    _post_without_ui(
        browser, "/console/letters/job-failed/retry", {"csrf": token, "message_uuid": "uuid-failed"}
    )
    _wait(browser, lambda d: "Kun administratorer (rollen Gateway.Admin)" in _text(d))


def test_an_admin_retries_a_recipient_and_a_form_without_csrf_is_refused(console: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    _sign_in(browser, console, "admin")
    assert "(administrator)" in browser.find_element(By.ID, "signed-in").text
    browser.get(f"{console}/console/letters/job-failed")
    _shot(browser, "timeline")
    _post_without_ui(browser, "/console/letters/job-failed/retry", {"message_uuid": "uuid-failed"})
    _wait(browser, lambda d: "Genindlæs siden" in _text(d))  # no CSRF token: refused, nothing done
    browser.get(f"{console}/console/letters/job-failed")
    browser.find_element(By.CSS_SELECTOR, "button.retry").click()
    assert "Sendes igen: 1 med samme messageUUID" in browser.find_element(By.ID, "notice").text
    assert _count(browser, "button.retry") == 0  # pending again: nothing to retry


def test_an_admin_cancels_a_running_mass_delivery_and_what_was_sent_stays_sent(
    console: str, seeded: tuple[str, Any], browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    _sign_in(browser, console, "admin")
    browser.get(f"{console}/console/deliveries")
    assert "Ny affaldsordning" in browser.find_element(By.ID, "deliveries").text
    _shot(browser, "deliveries")
    browser.find_element(By.LINK_TEXT, "Ny affaldsordning").click()
    assert "10 af 40 afsluttet" in browser.find_element(By.CSS_SELECTOR, ".progress").text
    # The page follows the delivery by itself (static/console.js polls the progress every 2 seconds).
    seeded[1].record_send_results(
        [SendOutcome(f"uuid-mass-{i}", OutboxState.ACCEPTED, transmission_id=f"t{i}") for i in range(10, 15)]
    )
    _wait(
        browser,
        lambda d: (
            "15 af 40 afsluttet (15 modtaget, 0 fejlet)" in d.find_element(By.CSS_SELECTOR, ".progress").text
        ),
    )
    browser.find_element(By.ID, "cancel").click()
    # The letters service records the cancellation (console_cancellations); the outbound worker fails what
    # is not yet sent. What was sent stays sent.
    notice = browser.find_element(By.ID, "notice").text
    assert "Annulleret: det, der er sendt, forbliver sendt; resten sendes ikke." in notice
    assert "(annulleret)" in browser.find_element(By.ID, "letter-state").text
    assert _count(browser, "#cancel") == 0  # asked once: not offered again
    assert "15 af 40 afsluttet (15 modtaget, 0 fejlet)" in _text(browser)
    cancellation = seeded[1].cancellation("job-mass")
    assert cancellation.via == "console" and cancellation.actor.startswith("console:")  # the signed-in admin
    browser.find_element(By.LINK_TEXT, "Drift").click()  # the operations page, reached from the menu
    assert browser.find_element(By.ID, "backlog").is_displayed()
    _shot(browser, "operations")


def test_an_admin_resends_a_receipt_mail_once_and_a_letter_without_one_is_refused(
    console: str, seeded: tuple[str, Any], browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    store = seeded[1]
    _sign_in(browser, console, "reader")
    browser.get(f"{console}/console/letters/job-done")
    assert "Svar på ansøgning" in _text(browser)
    assert _count(browser, "#resend") == 0  # not offered to a reader

    _sign_in(browser, console, "admin")
    browser.get(f"{console}/console/letters/job-done")
    browser.find_element(By.ID, "resend").click()
    # services.letters plans receipt:{job}:resend:1 with the first receipt's payload; the outbound worker
    # holding the mailbox's lease writes it.
    assert (
        "Kvitteringsmailen skrives igen i afsenderens postkasse."
        in browser.find_element(By.ID, "notice").text
    )
    assert "Kvitteringsmail bestilt igen af console:" in browser.find_element(By.ID, "timeline").text
    again = store.get_effect("receipt:job-done:resend:1")
    assert again is not None and again.state.value == "planned"
    assert again.payload["kind"] == "receipt" and str(again.payload["resent_by"]).startswith("console:")
    # Asked again before the worker wrote it: said so, and nothing is planned twice.
    _click_to_next_page(browser, "resend")
    assert "allerede bestilt igen" in browser.find_element(By.ID, "notice").text
    assert store.get_effect("receipt:job-done:resend:2") is None

    browser.get(f"{console}/console/letters/job-gone")
    browser.find_element(By.ID, "resend").click()  # finished, so offered; but no receipt mail exists
    _wait(browser, lambda d: "Der er ingen kvitteringsmail til denne mail" in _text(d))
    assert store.get_effect("receipt:job-gone:resend:1") is None


def test_a_reader_tries_the_routing_rules_on_a_pasted_message_and_sees_the_contact_points(
    console: str, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _sign_in(browser, console, "reader")
    browser.find_element(By.LINK_TEXT, "Routing").click()  # the menu, for readers too
    assert "Routing: prøv reglerne" in _text(browser)
    table = browser.find_element(By.ID, "contact-points").text
    assert "borgerservice@sandby.dk" in table and "kendt af NgDP" in table
    assert "ingen postkasse: leveres i post@sandby.dk med en advarsel" in table  # cp-2, explicitly unmapped
    assert "ikke på NgDP's liste" in table and "cp-9" in table  # cp-2 is not NgDP's; cp-9 not in the file

    Select(browser.find_element(By.ID, "kind")).select_by_value("mail")
    browser.find_element(By.ID, "sender").send_keys("bogholderi@leverandoer.dk")
    browser.find_element(By.ID, "subject").send_keys("Faktura 12 til 010203-1234")
    browser.find_element(By.ID, "body").send_keys("Vedlagt fakturaen.")
    browser.find_element(By.ID, "dry-run").click()
    verdict = browser.find_element(By.ID, "verdict").text
    assert verdict == "Reglen “fakturaer” ville levere den i oekonomi@sandby.dk / inbox."
    outcome = browser.find_element(By.ID, "outcome")
    assert "Kategorier: Faktura" in outcome.text
    trace = browser.find_element(By.ID, "trace").get_attribute("textContent")  # inside a closed <details>
    assert "fakturaer" in trace and "skat" in trace
    assert "010203-1234" not in str(outcome.get_attribute("textContent"))  # CPR masked in what is shown
    _shot(browser, "routing")

    # Another sender and subject: no rule chooses a mailbox; the form keeps what was pasted.
    subject = browser.find_element(By.ID, "subject")
    subject.clear()
    subject.send_keys("Hej")
    _click_to_next_page(browser, "dry-run")
    assert "Ingen regel vælger en postkasse: mailen bliver, hvor den kom ind." in (
        browser.find_element(By.ID, "verdict").text
    )
    assert browser.find_element(By.ID, "sender").get_attribute("value") == "bogholderi@leverandoer.dk"
