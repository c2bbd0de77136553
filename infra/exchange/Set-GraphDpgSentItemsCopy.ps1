<#
.SYNOPSIS
    Keeps a copy of mail sent AS or ON BEHALF OF a shared function mailbox in that mailbox's Sent Items.

.DESCRIPTION
    graph_dpg picks up Digital Post from the function mailboxes' own folders. Without these settings a
    message a case worker sends "as" the shared mailbox is stored only in the case worker's personal
    Sent Items, where the gateway (restricted to the function mailboxes) cannot see it, and the sent
    message cannot get its Digital Post categories.
    Sets MessageCopyForSentAsEnabled and MessageCopyForSendOnBehalfEnabled to $true on each shared mailbox.
    Idempotent (mailboxes already configured are left alone) and supports -WhatIf / -Confirm.
    Source: learn.microsoft.com/powershell/module/exchange/set-mailbox.

.PARAMETER Mailboxes
    The function mailboxes (any identity Get-Mailbox accepts).

.PARAMETER MailboxGroup
    Alternatively: the group whose mailbox members are the function mailboxes.

.EXAMPLE
    ./Set-GraphDpgSentItemsCopy.ps1 -MailboxGroup dpg-function-mailboxes@contoso.dk -WhatIf

.EXAMPLE
    ./Set-GraphDpgSentItemsCopy.ps1 -Mailboxes hr@contoso.dk, borgerservice@contoso.dk
#>
#Requires -Version 7.0
#Requires -Modules ExchangeOnlineManagement
[CmdletBinding(SupportsShouldProcess = $true, DefaultParameterSetName = 'ByMailbox')]
param(
    [Parameter(Mandatory = $true, ParameterSetName = 'ByMailbox')]
    [ValidateNotNullOrEmpty()]
    [string[]] $Mailboxes,

    [Parameter(Mandatory = $true, ParameterSetName = 'ByGroup')]
    [ValidateNotNullOrEmpty()]
    [string] $MailboxGroup
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

if (-not (Get-Command -Name Get-Mailbox -ErrorAction SilentlyContinue)) {
    throw 'Exchange Online cmdlets not found: run Connect-ExchangeOnline first.'
}

if ($PSCmdlet.ParameterSetName -eq 'ByGroup') {
    $Mailboxes = @(Get-DistributionGroupMember -Identity $MailboxGroup -ResultSize Unlimited |
        Where-Object { $_.RecipientTypeDetails -eq 'SharedMailbox' } |
        ForEach-Object { $_.PrimarySmtpAddress.ToString() })
    if ($Mailboxes.Count -eq 0) {
        Write-Warning "Group '$MailboxGroup' has no shared mailbox members."
    }
}

$changed = 0
foreach ($identity in $Mailboxes) {
    $mailbox = Get-Mailbox -Identity $identity -ErrorAction SilentlyContinue
    if ($null -eq $mailbox) {
        Write-Warning "$identity : mailbox not found, skipped."
        continue
    }
    if ($mailbox.RecipientTypeDetails -ne 'SharedMailbox') {
        Write-Warning "$identity : is a $($mailbox.RecipientTypeDetails), not a shared mailbox; skipped."
        continue
    }
    if ($mailbox.MessageCopyForSentAsEnabled -and $mailbox.MessageCopyForSendOnBehalfEnabled) {
        Write-Host "$identity : sent-items copies already enabled"
        continue
    }
    if ($PSCmdlet.ShouldProcess($identity, 'Set-Mailbox -MessageCopyForSentAsEnabled $true -MessageCopyForSendOnBehalfEnabled $true')) {
        Set-Mailbox -Identity $mailbox.Identity -MessageCopyForSentAsEnabled $true -MessageCopyForSendOnBehalfEnabled $true
        Write-Host "$identity : sent-items copies enabled"
        $changed++
    }
}
Write-Host "$changed mailbox(es) changed."
