<#
.SYNOPSIS
    Gives graph_dpg access to the function mailboxes - and only to them - with Exchange Online
    RBAC for Applications.

.DESCRIPTION
    Idempotent (safe to rerun: every object is looked up before it is created or corrected) and supports
    -WhatIf / -Confirm. Steps:
      1. New-ServicePrincipal: Exchange's pointer to the Entra service principal (Enterprise application)
         of the app registration or the managed identity graph_dpg runs as.
      2. New-ManagementScope: the function mailboxes, as "members of one group" (MemberOfGroup -eq DN).
      3. New-ManagementRoleAssignment: Application Mail.ReadWrite, Application MailboxSettings.ReadWrite,
         Application Mail.Send (secure mail is sent as MIME through sendMail) and Application
         Contacts.Read (recipients' certificates kept on the mailbox's contacts), each limited to that
         scope. These are the required rows of graph_dpg's one permission table
         (graph_dpg/domain/permissions.py; a test checks that $Roles below lists exactly them).
      4. Test-ServicePrincipalAuthorization: every function mailbox must be InScope=True for every role,
         and the optional control mailbox (not in the group) InScope=False.

    ##########################################################################################
    ##  NEVER ALSO GRANT Mail.ReadWrite, Mail.Send OR MailboxSettings.ReadWrite TENANT-WIDE  ##
    ##  IN ENTRA ID (API permissions + "Grant admin consent").                               ##
    ##  Entra grants and Exchange RBAC grants are ADDED TOGETHER: with an Entra consent the   ##
    ##  app can read and send as EVERY mailbox in the tenant and this scope means nothing.    ##
    ##########################################################################################

    Requirements: ExchangeOnlineManagement module, Connect-ExchangeOnline as a member of Organization
    Management. Role changes can take from minutes up to about two hours to apply to tokens;
    Test-ServicePrincipalAuthorization bypasses that cache.
    Source: learn.microsoft.com/exchange/permissions-exo/application-rbac

.PARAMETER AppId
    Application (client) id of the app registration, or the client id of the managed identity.

.PARAMETER ServicePrincipalObjectId
    Object id of the Entra service principal: Entra ID > Enterprise applications > the app > Object ID.
    Not the object id of the app registration.

.PARAMETER MailboxGroup
    Mail-enabled security group (or distribution group) whose members are the function mailboxes.

.PARAMETER Mailboxes
    Mailboxes to test. Default: every mailbox member of MailboxGroup.

.PARAMETER ControlMailbox
    Optional mailbox that is NOT in the group; the script fails if the app can reach it.

.PARAMETER DisplayName
    Display name of the Exchange service principal object.

.PARAMETER ScopeName
    Name of the management scope.

.EXAMPLE
    ./Grant-GraphDpgMailboxAccess.ps1 -AppId <client id> -ServicePrincipalObjectId <enterprise app object id> `
        -MailboxGroup dpg-function-mailboxes@contoso.dk -ControlMailbox someone@contoso.dk -WhatIf
#>
#Requires -Version 7.0
#Requires -Modules ExchangeOnlineManagement
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
param(
    [Parameter(Mandatory = $true)]
    [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
    [string] $AppId,

    [Parameter(Mandatory = $true)]
    [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
    [string] $ServicePrincipalObjectId,

    [Parameter(Mandatory = $true)]
    [ValidateNotNullOrEmpty()]
    [string] $MailboxGroup,

    [string[]] $Mailboxes = @(),

    [string] $ControlMailbox = '',

    [ValidateNotNullOrEmpty()]
    [string] $DisplayName = 'graph_dpg',

    [ValidateNotNullOrEmpty()]
    [string] $ScopeName = 'graph_dpg function mailboxes'
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# The required rows of graph_dpg/domain/permissions.py, in table order (checked by a test).
$Roles = @(
    'Application Mail.ReadWrite'
    'Application MailboxSettings.ReadWrite'
    'Application Mail.Send'
    'Application Contacts.Read'
)

Write-Warning @'
NEVER also grant Mail.ReadWrite, Mail.Send or MailboxSettings.ReadWrite to this app TENANT-WIDE in
Entra ID (API permissions + admin consent). Entra grants are added to these Exchange grants: one
consent and graph_dpg can read and send as EVERY mailbox in the tenant. Check Entra ID > Enterprise
applications > the app > Permissions: the list of admin-consented Graph permissions must be empty.
'@

function Get-OptionalProperty {
    # StrictMode makes a missing property an error; Exchange objects differ between module versions.
    param([object] $InputObject, [string] $Name)
    if ($null -eq $InputObject) { return $null }
    $property = $InputObject.PSObject.Properties[$Name]
    if ($null -eq $property) { return $null }
    return $property.Value
}

if (-not (Get-Command -Name Get-ServicePrincipal -ErrorAction SilentlyContinue)) {
    throw 'Exchange Online cmdlets not found: run Connect-ExchangeOnline first (Organization Management).'
}

# 1. Service principal -----------------------------------------------------------------------------
$servicePrincipal = Get-ServicePrincipal -ErrorAction SilentlyContinue |
    Where-Object { $_.AppId -eq $AppId } | Select-Object -First 1
if ($null -eq $servicePrincipal) {
    if ($PSCmdlet.ShouldProcess("AppId $AppId", 'New-ServicePrincipal')) {
        $servicePrincipal = New-ServicePrincipal -AppId $AppId -ObjectId $ServicePrincipalObjectId -DisplayName $DisplayName
        Write-Host "created service principal $DisplayName ($AppId)"
    }
}
else {
    Write-Host "service principal for $AppId exists: $(Get-OptionalProperty $servicePrincipal 'DisplayName')"
    $knownObjectId = Get-OptionalProperty $servicePrincipal 'ObjectId'
    if ($knownObjectId -and $knownObjectId -ne $ServicePrincipalObjectId) {
        throw "The Exchange service principal for $AppId points at object id $knownObjectId, not $ServicePrincipalObjectId. Remove it (Remove-ServicePrincipal) if it is stale, then rerun."
    }
}

# 2. Management scope over the group's members --------------------------------------------------------
$group = Get-Recipient -Identity $MailboxGroup -ErrorAction SilentlyContinue
if ($null -eq $group) {
    throw "Group '$MailboxGroup' not found. Create a mail-enabled security group with the function mailboxes as members."
}
# MemberOfGroup needs the distinguished name; single quotes inside the OPATH string are doubled.
$filter = "MemberOfGroup -eq '" + ($group.DistinguishedName -replace "'", "''") + "'"

$scope = Get-ManagementScope -Identity $ScopeName -ErrorAction SilentlyContinue
if ($null -eq $scope) {
    if ($PSCmdlet.ShouldProcess($ScopeName, "New-ManagementScope ($filter)")) {
        New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter $filter | Out-Null
        Write-Host "created management scope '$ScopeName'"
    }
}
elseif (((Get-OptionalProperty $scope 'RecipientFilter') -replace '[()\s]', '') -ne ($filter -replace '[()\s]', '')) {
    # Compared without parentheses and spaces: Exchange may store the filter normalised.
    if ($PSCmdlet.ShouldProcess($ScopeName, "Set-ManagementScope ($filter)")) {
        Set-ManagementScope -Identity $ScopeName -RecipientRestrictionFilter $filter
        Write-Host "corrected the filter of management scope '$ScopeName'"
    }
}
else {
    Write-Host "management scope '$ScopeName' exists with the right filter"
}

# 3. Role assignments, each limited to the scope ---------------------------------------------------------
foreach ($role in $Roles) {
    $assignmentName = "graph_dpg - $role"
    $assignment = Get-ManagementRoleAssignment -Identity $assignmentName -ErrorAction SilentlyContinue
    if ($null -eq $assignment) {
        if ($PSCmdlet.ShouldProcess($assignmentName, "New-ManagementRoleAssignment scoped to '$ScopeName'")) {
            New-ManagementRoleAssignment -Name $assignmentName -App $AppId -Role $role -CustomResourceScope $ScopeName | Out-Null
            Write-Host "assigned '$role' scoped to '$ScopeName'"
        }
    }
    elseif ((Get-OptionalProperty $assignment 'CustomResourceScope') -notin @($null, $ScopeName)) {
        # A different scope (or none would be worse: unscoped = every mailbox) is corrected here; when the
        # module does not report the scope, Test-ServicePrincipalAuthorization below is the check.
        if ($PSCmdlet.ShouldProcess($assignmentName, "Set-ManagementRoleAssignment scope '$ScopeName'")) {
            Set-ManagementRoleAssignment -Identity $assignmentName -CustomResourceScope $ScopeName
            Write-Host "re-scoped '$role' to '$ScopeName'"
        }
    }
    else {
        Write-Host "'$role' is assigned and scoped to '$ScopeName'"
    }
}

# 4. Verify -----------------------------------------------------------------------------------------------
if ($WhatIfPreference) {
    Write-Host 'WhatIf: skipping Test-ServicePrincipalAuthorization (nothing was changed).'
    return
}
if ($Mailboxes.Count -eq 0) {
    $Mailboxes = @(Get-DistributionGroupMember -Identity $MailboxGroup -ResultSize Unlimited |
        Where-Object { $_.RecipientTypeDetails -in @('SharedMailbox', 'UserMailbox') } |
        ForEach-Object { $_.PrimarySmtpAddress.ToString() })
}
if ($Mailboxes.Count -eq 0) {
    Write-Warning "Group '$MailboxGroup' has no mailbox members: nothing to test."
}

$failures = 0
foreach ($mailbox in $Mailboxes) {
    $results = @(Test-ServicePrincipalAuthorization -Identity $AppId -Resource $mailbox)
    foreach ($role in $Roles) {
        $row = $results | Where-Object { (Get-OptionalProperty $_ 'RoleName') -eq $role } | Select-Object -First 1
        # Compared as text: True whether the module returns a boolean or a string.
        if ([string](Get-OptionalProperty $row 'InScope') -ne 'True') {
            Write-Warning "$mailbox : '$role' is NOT in scope (new assignments can take a while to apply)."
            $failures++
        }
    }
    Write-Host "$mailbox : checked $($Roles.Count) roles"
}
if ($ControlMailbox) {
    $outside = @(Test-ServicePrincipalAuthorization -Identity $AppId -Resource $ControlMailbox |
        Where-Object { [string](Get-OptionalProperty $_ 'InScope') -eq 'True' })
    if ($outside.Count -gt 0) {
        $reachable = ($outside | ForEach-Object { Get-OptionalProperty $_ 'RoleName' }) -join ', '
        Write-Warning "$ControlMailbox is NOT in the group but the app can reach it ($reachable). Look for unscoped role assignments and for Entra admin consent."
        $failures++
    }
    else {
        Write-Host "$ControlMailbox (control, outside the group): not reachable, as intended"
    }
}
if ($failures -gt 0) {
    throw "$failures authorization check(s) failed."
}
Write-Host 'graph_dpg can reach exactly the function mailboxes. Next: graph-dpg doctor.'
