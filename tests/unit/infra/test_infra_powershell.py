"""Structure of the Exchange Online scripts in infra/exchange (pwsh is not available on this machine).

infra/check parses every script with the tree-sitter PowerShell grammar; these tests check what a parser
alone does not: -WhatIf support, that every change is guarded by ShouldProcess, idempotency (Get-X before
New-X), the parameters the README documents, the loud warning, and that no tenant id or secret is baked in.
The scanner strips comments and string literals first, so braces and cmdlet names inside them don't count.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from graph_dpg.domain.permissions import required_permissions

EXCHANGE = Path(__file__).resolve().parents[3] / "infra" / "exchange"
SCRIPTS = sorted(EXCHANGE.glob("*.ps1"))

EXPECTED = {
    "Grant-GraphDpgMailboxAccess.ps1": {
        "parameters": {"AppId", "ServicePrincipalObjectId", "MailboxGroup", "Mailboxes", "ControlMailbox"},
        "cmdlets": {
            "New-ServicePrincipal",
            "New-ManagementScope",
            "New-ManagementRoleAssignment",
            "Test-ServicePrincipalAuthorization",
        },
    },
    "Set-GraphDpgSentItemsCopy.ps1": {
        "parameters": {"Mailboxes", "MailboxGroup"},
        "cmdlets": {"Get-Mailbox", "Set-Mailbox"},
    },
    "New-GraphDpgTransportRules.ps1": {
        "parameters": {"GatewayDomain", "SinkMailbox", "MonitoringMailbox"},
        "cmdlets": {"Get-TransportRule", "New-TransportRule", "Set-TransportRule"},
    },
}

# Changes to the tenant: must run only inside `if ($PSCmdlet.ShouldProcess(...)) { ... }`.
MUTATING = re.compile(
    r"(?<![\w-])(?:New|Set|Add|Remove|Enable|Disable)-(?!StrictMode\b|Variable\b|DesiredTransportRule\b)[A-Z]\w+"
)
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def strip_comments_and_strings(source: str) -> str:
    """Blank out comments and string literals (here-strings included), keeping offsets and line breaks.

    One left-to-right pass, because which quote opens first decides what is a string: in
    ``"-eq '" + $x + "'"`` the single quotes are inside double-quoted strings.
    """
    out = list(source)

    def blank(start: int, end: int) -> None:
        for index in range(start, min(end, len(source))):
            if source[index] != "\n":
                out[index] = " "

    i = 0
    while i < len(source):
        rest = source[i : i + 2]
        if rest == "<#":
            end = source.find("#>", i + 2)
            end = len(source) if end < 0 else end + 2
        elif rest in ("@'", '@"') and source[i + 2 : i + 3] == "\n":
            closing = re.compile("^" + re.escape(rest[1]) + "@", re.M)
            found = closing.search(source, i + 3)
            end = len(source) if found is None else found.end()
        elif source[i] == "#":
            end = source.find("\n", i)
            end = len(source) if end < 0 else end
        elif source[i] == "'":
            end = i + 1
            while end < len(source):
                if source[end] == "'":
                    if source[end + 1 : end + 2] == "'":  # '' is an escaped quote
                        end += 2
                        continue
                    break
                end += 1
            end += 1
        elif source[i] == '"':
            end = i + 1
            while end < len(source) and source[end] != '"':
                end += 2 if source[end] == "`" else 1
            end += 1
        else:
            i += 1
            continue
        blank(i, end)
        i = end
    return "".join(out)


def unguarded_mutations(source: str) -> list[str]:
    """Mutating cmdlet calls not inside a block opened by an `if ($PSCmdlet.ShouldProcess(...))`."""
    code = strip_comments_and_strings(source)
    found: list[str] = []
    stack: list[bool] = []  # one entry per open brace: is it a ShouldProcess-guarded block?
    pending_guard = False
    tokens = re.compile(r"\$PSCmdlet\.ShouldProcess\(|\{|\}|" + MUTATING.pattern)
    for match in tokens.finditer(code):
        token = match.group(0)
        if token.startswith("$PSCmdlet"):
            pending_guard = True
        elif token == "{":
            stack.append(pending_guard)
            pending_guard = False
        elif token == "}":
            assert stack, f"unbalanced '}}' at offset {match.start()}"
            stack.pop()
        elif not any(stack):
            line = code.count("\n", 0, match.start()) + 1
            found.append(f"line {line}: {token}")
    assert not stack, "unbalanced '{'"
    return found


def test_all_three_scripts_exist() -> None:
    assert {path.name for path in SCRIPTS} == set(EXPECTED)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_supports_should_process_before_the_param_block(script: Path) -> None:
    code = strip_comments_and_strings(script.read_text(encoding="utf-8"))
    binding = re.search(r"\[CmdletBinding\(([^)]*)\)\]\s*param\s*\(", code)
    assert binding, "[CmdletBinding(...)] must directly precede the script's param( block"
    assert re.search(r"SupportsShouldProcess\s*=\s*\$true", binding.group(1))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_documented_parameters_and_cmdlets(script: Path) -> None:
    source = script.read_text(encoding="utf-8")
    code = strip_comments_and_strings(source)
    param_block = code[code.index("param(") : code.index("Set-StrictMode")]
    declared = set(re.findall(r"\$(\w+)", param_block)) - {"true", "false"}
    assert EXPECTED[script.name]["parameters"] <= declared
    for name in declared:
        assert f".PARAMETER {name}" in source, f"comment-based help lacks .PARAMETER {name}"
    for cmdlet in EXPECTED[script.name]["cmdlets"]:
        assert re.search(rf"(?<![\w-]){cmdlet}\b", code), f"{cmdlet} is not called"
    assert "Set-StrictMode -Version Latest" in code
    assert "$ErrorActionPreference = 'Stop'" in source


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_change_is_guarded_by_should_process(script: Path) -> None:
    assert unguarded_mutations(script.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_idempotent_get_before_new(script: Path) -> None:
    code = strip_comments_and_strings(script.read_text(encoding="utf-8"))
    for match in re.finditer(r"(?<![\w-])New-(\w+)", code):
        noun = match.group(1)
        get = re.search(rf"(?<![\w-])Get-{noun}\b", code)
        assert get and get.start() < match.start(), f"New-{noun} without a prior Get-{noun}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_tenant_ids_or_secrets_are_hard_coded(script: Path) -> None:
    source = script.read_text(encoding="utf-8")
    assert not GUID.search(source), "a GUID is hard-coded; ids are parameters"
    assert not re.search(r"\b\w+\.onmicrosoft\.com\b", strip_comments_and_strings(source))
    assert not re.search(r"(?i)(password|secret|token)\s*=\s*['\"]", source)
    assert "Connect-ExchangeOnline -" not in strip_comments_and_strings(source), "the admin connects"


def test_grant_script_warns_loudly_against_tenant_wide_consent() -> None:
    source = (EXCHANGE / "Grant-GraphDpgMailboxAccess.ps1").read_text(encoding="utf-8")
    assert "NEVER ALSO GRANT" in source  # the help banner
    warning = re.search(r"Write-Warning @'(.*?)'@", source, flags=re.S)
    assert warning, "the warning must be printed on every run, not only in the help"
    assert "TENANT-WIDE" in warning.group(1)
    assert "EVERY mailbox" in warning.group(1)
    assert "MemberOfGroup -eq" in source


def script_roles(source: str) -> list[str]:
    """The Exchange roles the grant script assigns: the string items of its ``$Roles = @( ... )`` array."""
    code = strip_comments_and_strings(source)
    start = re.search(r"\$Roles\s*=\s*@\(", code)
    assert start, "the script must list its roles in $Roles = @( ... )"
    end = code.index(")", start.end())
    items = re.finditer(r"'((?:[^']|'')*)'|#[^\n]*", source[start.end() : end])
    return [m.group(1).replace("''", "'") for m in items if m.group(1) is not None]


def test_grant_script_assigns_exactly_the_required_rows_of_the_permission_table() -> None:
    source = (EXCHANGE / "Grant-GraphDpgMailboxAccess.ps1").read_text(encoding="utf-8")
    assert script_roles(source) == [p.exchange_role for p in required_permissions()]


def test_role_list_parser_reads_the_array_not_comments() -> None:
    source = "# $Roles = @('x')\n$Roles = @(\n    'Application A'  # 'not this'\n    'Application B'\n)\n"
    assert script_roles(source) == ["Application A", "Application B"]


def test_transport_rules_cover_the_gateway_subdomains_and_memo_header_attachments() -> None:
    source = (EXCHANGE / "New-GraphDpgTransportRules.ps1").read_text(encoding="utf-8")
    assert '"ngdp.$domain", "mitdk.$domain", "eboks.$domain", "sikkermail.$domain"' in source
    assert "SentToScope                      = 'NotInOrganization'" in source
    pattern = re.search(r"AttachmentNameMatchesPatterns\s*=\s*@\('([^']+)'\)", source)
    assert pattern
    regex = re.compile(pattern.group(1), re.IGNORECASE)
    for name in ("MemoHeader.json", "MemoHeaderInfo.json", "memoheader.JSON"):
        assert regex.search(name)
    for name in ("body.pdf", "MemoHeader.json.exe", "NotMemoHeader.json.txt"):
        assert not regex.search(name)
    assert "GenerateIncidentReport" in source
    assert "AttachOriginalMail" not in source  # the original may carry CPR numbers


def test_sent_items_copy_sets_both_flags() -> None:
    source = (EXCHANGE / "Set-GraphDpgSentItemsCopy.ps1").read_text(encoding="utf-8")
    assert "-MessageCopyForSentAsEnabled $true -MessageCopyForSendOnBehalfEnabled $true" in source


def test_scanner_catches_an_unguarded_change() -> None:
    guarded = "if ($PSCmdlet.ShouldProcess('x', 'y')) {\n  New-TransportRule -Name x\n}\n"
    unguarded = "if ($x) {\n  New-TransportRule -Name x\n}\n# New-Mailbox in a comment\n'Set-Mailbox'\n"
    assert unguarded_mutations(guarded) == []
    assert unguarded_mutations(unguarded) == ["line 2: New-TransportRule"]
