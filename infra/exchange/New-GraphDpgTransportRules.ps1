<#
.SYNOPSIS
    Mail-flow (transport) rules that keep Digital Post traffic inside the tenant.

.DESCRIPTION
    Two rules, created or brought back to the desired state on every run (idempotent; -WhatIf / -Confirm):

    1. "graph_dpg: gateway-domain mail never leaves the tenant" (priority 0, stops rule processing)
       Mail to the gateway domain (default digital-post.dk, with its ngdp./mitdk./eboks./sikkermail. subdomains) is how
       staff send Digital Post: graph_dpg reads it from the function mailbox's Sent Items and sends it to
       NgDP itself. The domain is a real internet domain, so without this rule the message - with CPR
       numbers and documents - would also be delivered to whoever runs that domain. The rule redirects it
       to a sink mailbox inside the tenant (-SinkMailbox) or, without one, deletes it silently in transport.
       Whether Exchange applies the action to the whole message or only to the gateway recipients when a
       mail also has other recipients was not verified: tell staff to send Digital Post as mails of their
       own, and check the behaviour in your tenant with a message trace.

    2. "graph_dpg: MemoHeader attachments never go outside" (priority 1)
       MemoHeader.json / MemoHeaderInfo.json attachments carry MeMo header data (CPR numbers, case ids) for
       the gateway. Sent to any recipient outside the organisation they are a leak: the message is rejected
       with an explanation to the sender and an incident report goes to the monitoring mailbox (sender,
       recipients, subject and the rule - never the original message, which may carry CPR numbers).

    Source: learn.microsoft.com/powershell/module/exchange/new-transportrule (RecipientDomainIs matches
    the domain and its subdomains; AttachmentNameMatchesPatterns takes regular expressions).

.PARAMETER GatewayDomain
    The gateway domain configured in graph_dpg (gateway file), default digital-post.dk.

.PARAMETER SinkMailbox
    Optional mailbox inside the tenant that receives the redirected gateway-domain mail.

.PARAMETER MonitoringMailbox
    Mailbox that receives incident reports about blocked MemoHeader leaks.

.EXAMPLE
    ./New-GraphDpgTransportRules.ps1 -MonitoringMailbox dpg-monitor@contoso.dk -WhatIf

.EXAMPLE
    ./New-GraphDpgTransportRules.ps1 -GatewayDomain digital-post.dk -SinkMailbox dpg-sink@contoso.dk `
        -MonitoringMailbox dpg-monitor@contoso.dk
#>
#Requires -Version 7.0
#Requires -Modules ExchangeOnlineManagement
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
param(
    [ValidatePattern('^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$')]
    [string] $GatewayDomain = 'digital-post.dk',

    [string] $SinkMailbox = '',

    [Parameter(Mandatory = $true)]
    [ValidateNotNullOrEmpty()]
    [string] $MonitoringMailbox
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

if (-not (Get-Command -Name Get-TransportRule -ErrorAction SilentlyContinue)) {
    throw 'Exchange Online cmdlets not found: run Connect-ExchangeOnline first.'
}

$domain = $GatewayDomain.ToLowerInvariant()
# sikkermail.: secure mail to external recipients (<local>=<domain>@sikkermail.<gateway>), sent by the gateway.
$gatewayDomains = @($domain, "ngdp.$domain", "mitdk.$domain", "eboks.$domain", "sikkermail.$domain")

function Set-DesiredTransportRule {
    [CmdletBinding(SupportsShouldProcess = $true)]
    param(
        [Parameter(Mandatory = $true)] [string] $Name,
        [Parameter(Mandatory = $true)] [hashtable] $Settings
    )
    $existing = Get-TransportRule -Identity $Name -ErrorAction SilentlyContinue
    if ($null -eq $existing) {
        if ($PSCmdlet.ShouldProcess($Name, 'New-TransportRule')) {
            New-TransportRule -Name $Name @Settings | Out-Null
            Write-Host "created transport rule '$Name'"
        }
    }
    else {
        # Rerunning re-applies every setting, so a rule edited by hand is brought back to the desired state.
        if ($PSCmdlet.ShouldProcess($Name, 'Set-TransportRule (re-apply the desired settings)')) {
            Set-TransportRule -Identity $Name @Settings
            Write-Host "transport rule '$Name' exists; settings re-applied"
        }
    }
}

# 1. Gateway-domain mail stays inside ---------------------------------------------------------------------
$gatewayRule = @{
    Priority           = 0
    Mode               = 'Enforce'
    RecipientDomainIs  = $gatewayDomains
    StopRuleProcessing = $true
    Comments           = "graph_dpg: mail to $domain is sent to Digital Post by the gateway, never by SMTP."
}
if ($SinkMailbox) {
    if ($null -eq (Get-Recipient -Identity $SinkMailbox -ErrorAction SilentlyContinue)) {
        throw "Sink mailbox '$SinkMailbox' not found in this tenant."
    }
    $gatewayRule['RedirectMessageTo'] = $SinkMailbox
    $gatewayRule['DeleteMessage'] = $false
}
else {
    $gatewayRule['DeleteMessage'] = $true
}
Set-DesiredTransportRule -Name 'graph_dpg: gateway-domain mail never leaves the tenant' -Settings $gatewayRule

# 2. MemoHeader*.json never to external recipients ---------------------------------------------------------
if ($null -eq (Get-Recipient -Identity $MonitoringMailbox -ErrorAction SilentlyContinue)) {
    throw "Monitoring mailbox '$MonitoringMailbox' not found in this tenant."
}
$memoHeaderRule = @{
    Priority                         = 1
    Mode                             = 'Enforce'
    SentToScope                      = 'NotInOrganization'
    AttachmentNameMatchesPatterns    = @('^MemoHeader.*\.json$')
    RejectMessageReasonText          = 'This message carries a MemoHeader JSON attachment (Digital Post header data, possibly CPR numbers) and was addressed outside the organisation. It was NOT sent. Send Digital Post only to gateway addresses, and remove the MemoHeader attachment from ordinary mail.'
    RejectMessageEnhancedStatusCode  = '5.7.1'
    GenerateIncidentReport           = $MonitoringMailbox
    IncidentReportContent            = @('Sender', 'Recipients', 'Subject', 'RuleDetections')
    StopRuleProcessing               = $true
    Comments                         = 'graph_dpg: MemoHeader*.json is for the Digital Post gateway only.'
}
Set-DesiredTransportRule -Name 'graph_dpg: MemoHeader attachments never go outside' -Settings $memoHeaderRule

Write-Host 'Done. Transport rules can take up to 30 minutes to apply everywhere; test with a mail to a gateway address.'
