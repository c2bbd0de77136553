// graph_dpg on Azure: Container Apps (the service), PostgreSQL Flexible Server (state), Key Vault (OCES3
// certificate, NgDP API token, database URL, gateway file), a user-assigned managed identity, Log Analytics
// and the VNet that keeps the database and the vault private.
//
// Two deployments (infra/README.md):
//   1. deployApp=false: everything except the container app. Then upload the certificate and secrets.
//   2. deployApp=true: the container app, whose Key Vault references must resolve at creation.
//
// No secret is written in this template or its parameter file. The only secret parameter is the PostgreSQL
// administrator password (@secure(), passed on the command line from the environment).

targetScope = 'resourceGroup'

@description('Azure region for every resource.')
param location string = resourceGroup().location

@description('Short prefix for resource names (letters and digits).')
@minLength(3)
@maxLength(12)
param namePrefix string = 'graphdpg'

@description('Create the container app (second deployment, after the Key Vault secrets exist).')
param deployApp bool = false

@description('Container image (pinned tag or digest).')
param containerImage string = ''

@description('Registry login server the managed identity pulls from (grant it AcrPull). Empty: public image.')
param registryServer string = ''

// ---- Microsoft Graph ----
@description('Entra tenant of the Microsoft 365 organisation. Defaults to the subscription\'s tenant.')
param graphTenantId string = subscription().tenantId

@description('How graph_dpg authenticates to Graph: the managed identity (no secret) or an app registration certificate.')
@allowed([
  'managed_identity'
  'certificate'
])
param graphCredentialKind string = 'managed_identity'

@description('Application (client) id of the app registration. Only for graphCredentialKind=certificate.')
param graphClientId string = ''

// ---- NgDP ----
@description('NgDP REST base URL. Test: https://api.test.digitalpost.dk/apis/v1, production: https://api.digitalpost.dk/apis/v1.')
param ngdpBaseUrl string = 'https://api.test.digitalpost.dk/apis/v1'

@description('Id (UUID) of the system registered in NgDP administration. Not a secret; the API token is.')
param ngdpSystemId string

@description('Expose the NgDP REST PUSH endpoints publicly over HTTPS. False (REST PULL, recommended): VNet only.')
param exposePushEndpoints bool = false

@description('Receive Microsoft Graph change notifications (GRAPH_DPG_NOTIFICATIONS_URL): makes the ingress public over HTTPS; mail reaches NgDP within seconds instead of at the next poll. infra/README.md §6.2.')
param graphNotifications bool = false

@description('Public HTTPS base URL Graph posts notifications to, when the app has a custom domain. Empty: the app\'s ingress FQDN.')
param notificationsBaseUrl string = ''

@description('Seconds between safety-net polls of a folder while notifications are on (GRAPH_DPG_POLL_INTERVAL_WITH_NOTIFICATIONS_SECONDS).')
param pollIntervalWithNotificationsSeconds int = 300

@description('CIDRs allowed to reach the ingress, and NgDP\'s push source addresses (GRAPH_DPG_PUSH_ALLOWED_IPS). Empty: no IP filter.')
param ingressAllowedCidrs array = []

@description('SHA-256 thumbprints (comma-separated hex) of NgDP\'s push client certificate (GRAPH_DPG_PUSH_CLIENT_THUMBPRINTS).')
param pushClientThumbprints string = ''

@description('Also require the optional shared secret push-token from Key Vault on push (NgDP itself presents none).')
param pushRequiresToken bool = false

@description('Client certificates on the ingress: accept (forward one if presented, X-Forwarded-Client-Cert; the app checks it on the push path only). require would refuse Graph change notifications and the admin console.')
@allowed([
  'ignore'
  'accept'
  'require'
])
param pushClientCertificateMode string = 'accept'

// ---- Admin console (/console/), signed in with Entra ID (infra/README.md §6.3) ----
@description('Application (client) id of the console\'s app registration (Web platform, app roles Gateway.Reader and Gateway.Admin). Empty: no console. Its client secret and a session secret are the Key Vault secrets console-client-secret and console-session-secret.')
param consoleClientId string = ''

@description('The console\'s redirect URI as registered: https://<app FQDN or custom domain>/console/auth/callback (the ingress is HTTPS).')
param consoleRedirectUri string = ''

@description('Static outbound IP through a NAT gateway (for NgDP allowed IPs and firewalls).')
param deployNatGateway bool = true

@description('Port graph-dpg run listens on inside the container.')
param httpPort int = 8080

@minValue(1)
param minReplicas int = 1

@minValue(1)
@maxValue(10)
param maxReplicas int = 3

param zoneRedundant bool = false

// ---- PostgreSQL ----
param postgresSkuName string = 'Standard_D2ds_v5'

@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresSkuTier string = 'GeneralPurpose'

@allowed([
  'Enabled'
  'Disabled'
])
param postgresGeoRedundantBackup string = 'Enabled'

@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param postgresHighAvailability string = 'Disabled'

@minValue(7)
@maxValue(35)
param postgresBackupRetentionDays int = 35

@description('PostgreSQL server administrator password: pass at deployment time from the environment, never in a file.')
@secure()
param postgresAdministratorPassword string

@description('Object id of the Entra group that administers PostgreSQL (recommended).')
param postgresEntraAdminObjectId string = ''

@description('Display name of that Entra group.')
param postgresEntraAdminName string = ''

// ---- Key Vault ----
@description('Optional: Key Vault name (globally unique). Empty: derived.')
param keyVaultName string = ''

@description('Object id of the operator group/user that uploads the certificate and secrets.')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'Group'

@description('Secure mail: names of the organisation\'s S/MIME certificates in this vault (GRAPH_DPG_SMIME_KEYVAULT_CERTIFICATES), read by the gateway itself through the vault\'s URI (GRAPH_DPG_KEYVAULT_URL). Empty: no S/MIME certificates from Key Vault.')
param smimeKeyVaultCertificates array = []

// ---- Logs ----
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 90

param tags object = {
  application: 'graph_dpg'
}

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    location: location
    namePrefix: namePrefix
    allowInternetHttps: exposePushEndpoints
    deployNatGateway: deployNatGateway
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    namePrefix: namePrefix
    retentionInDays: logRetentionInDays
    tags: tags
  }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    location: location
    namePrefix: namePrefix
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    namePrefix: namePrefix
    vaultName: keyVaultName
    appPrincipalId: identity.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    privateEndpointSubnetId: network.outputs.privateEndpointSubnetId
    vnetId: network.outputs.vnetId
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
    tags: tags
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    location: location
    namePrefix: namePrefix
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    geoRedundantBackup: postgresGeoRedundantBackup
    highAvailabilityMode: postgresHighAvailability
    backupRetentionDays: postgresBackupRetentionDays
    administratorLoginPassword: postgresAdministratorPassword
    entraAdminObjectId: postgresEntraAdminObjectId
    entraAdminName: postgresEntraAdminName
    delegatedSubnetId: network.outputs.postgresSubnetId
    vnetId: network.outputs.vnetId
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
    tags: tags
  }
}

var vaultSecretsUri = '${keyVault.outputs.uri}secrets/'
var secretMount = '/mnt/secrets'

// Key Vault object names the operator creates (infra/README.md). Certificates are read through /secrets/
// (that returns the key and certificate; with PEM content type the file is a PEM bundle).
var requiredSecrets = [
  {
    name: 'database-url'
    keyVaultUrl: '${vaultSecretsUri}database-url'
  }
  {
    name: 'ngdp-api-token'
    keyVaultUrl: '${vaultSecretsUri}ngdp-api-token'
  }
  {
    name: 'ngdp-oces3-certificate'
    keyVaultUrl: '${vaultSecretsUri}ngdp-oces3-certificate'
  }
  {
    name: 'gateway-file'
    keyVaultUrl: '${vaultSecretsUri}gateway-file'
  }
]
var pushSecrets = exposePushEndpoints && pushRequiresToken ? [
  {
    name: 'push-token'
    keyVaultUrl: '${vaultSecretsUri}push-token'
  }
] : []
var graphCertificateSecrets = graphCredentialKind == 'certificate' ? [
  {
    name: 'graph-app-certificate'
    keyVaultUrl: '${vaultSecretsUri}graph-app-certificate'
  }
] : []

var consoleEnabled = !empty(consoleClientId)
var consoleSecrets = consoleEnabled ? [
  {
    name: 'console-client-secret'
    keyVaultUrl: '${vaultSecretsUri}console-client-secret'
  }
  {
    name: 'console-session-secret'
    keyVaultUrl: '${vaultSecretsUri}console-session-secret'
  }
] : []

var requiredSecretFiles = [
  {
    secretRef: 'ngdp-oces3-certificate'
    path: 'ngdp-oces3.pem'
  }
  {
    secretRef: 'gateway-file'
    path: 'gateway.yaml'
  }
]
var graphCertificateFiles = graphCredentialKind == 'certificate' ? [
  {
    secretRef: 'graph-app-certificate'
    path: 'graph-app.pem'
  }
] : []

var baseEnvironment = [
  {
    name: 'GRAPH_DPG_TENANT_ID'
    value: graphTenantId
  }
  {
    // With the managed identity the Graph client is the identity itself (its service principal holds the
    // Exchange RBAC for Applications scope); with a certificate it is the app registration.
    name: 'GRAPH_DPG_CLIENT_ID'
    value: graphCredentialKind == 'managed_identity' ? identity.outputs.clientId : graphClientId
  }
  {
    name: 'GRAPH_DPG_MANAGED_IDENTITY_CLIENT_ID'
    value: identity.outputs.clientId
  }
  {
    name: 'GRAPH_DPG_CREDENTIAL_KIND'
    value: graphCredentialKind
  }
  {
    name: 'GRAPH_DPG_NGDP_BASE_URL'
    value: ngdpBaseUrl
  }
  {
    name: 'GRAPH_DPG_NGDP_SYSTEM_ID'
    value: ngdpSystemId
  }
  {
    name: 'GRAPH_DPG_NGDP_CERTIFICATE_PATH'
    value: '${secretMount}/ngdp-oces3.pem'
  }
  {
    name: 'GRAPH_DPG_GATEWAY_FILE'
    value: '${secretMount}/gateway.yaml'
  }
  {
    name: 'GRAPH_DPG_LOG_FORMAT'
    value: 'json'
  }
  {
    // Inside the container the service must listen on all interfaces for ingress and probes to reach it.
    name: 'GRAPH_DPG_HTTP_HOST'
    value: '0.0.0.0'
  }
  {
    name: 'GRAPH_DPG_HTTP_PORT'
    value: string(httpPort)
  }
]
// REST PUSH: NgDP is identified by its client certificate (forwarded by the ingress) and its address (the
// ingress is one proxy hop, appending to X-Forwarded-For); infra/README.md §6.
var pushEnvironment = exposePushEndpoints ? concat([
  {
    name: 'GRAPH_DPG_PUSH_FORWARDED_CLIENT_CERT'
    value: 'true'
  }
  {
    name: 'GRAPH_DPG_PUSH_PROXY_HOPS'
    value: '1'
  }
], empty(pushClientThumbprints) ? [] : [
  {
    name: 'GRAPH_DPG_PUSH_CLIENT_THUMBPRINTS'
    value: pushClientThumbprints
  }
], empty(ingressAllowedCidrs) ? [] : [
  {
    name: 'GRAPH_DPG_PUSH_ALLOWED_IPS'
    value: join(ingressAllowedCidrs, ',')
  }
]) : []
// Secure mail: the gateway reads its S/MIME certificates (key included) from the vault at run time with its own
// identity (Key Vault Secrets User), so a renewal in the vault needs no redeployment (infra/README.md §5.2).
var smimeKeyVaultEnvironment = empty(smimeKeyVaultCertificates) ? [] : [
  {
    name: 'GRAPH_DPG_KEYVAULT_URL'
    value: keyVault.outputs.uri
  }
  {
    name: 'GRAPH_DPG_SMIME_KEYVAULT_CERTIFICATES'
    value: join(smimeKeyVaultCertificates, ',')
  }
]
var graphCertificateEnvironment = graphCredentialKind == 'certificate' ? [
  {
    name: 'GRAPH_DPG_CLIENT_CERTIFICATE_PATH'
    value: '${secretMount}/graph-app.pem'
  }
] : []

// The console signs people in against this tenant (authority https://login.microsoftonline.com/<tenant>).
var consoleEnvironment = consoleEnabled ? concat([
  {
    name: 'GRAPH_DPG_CONSOLE_AUTHORITY'
    value: '${environment().authentication.loginEndpoint}${graphTenantId}'
  }
  {
    name: 'GRAPH_DPG_CONSOLE_CLIENT_ID'
    value: consoleClientId
  }
  {
    name: 'GRAPH_DPG_CONSOLE_REDIRECT_URI'
    value: consoleRedirectUri
  }
], exposePushEndpoints ? [] : [
  {
    // The sign-in callback is rate-limited per client address: the ingress is the one proxy hop.
    name: 'GRAPH_DPG_PUSH_PROXY_HOPS'
    value: '1'
  }
]) : []
var consoleSecretEnvironment = consoleEnabled ? [
  {
    name: 'GRAPH_DPG_CONSOLE_CLIENT_SECRET'
    secretRef: 'console-client-secret'
  }
  {
    name: 'GRAPH_DPG_CONSOLE_SESSION_SECRET'
    secretRef: 'console-session-secret'
  }
] : []

var secretEnvironment = concat([
  {
    name: 'GRAPH_DPG_DATABASE_URL'
    secretRef: 'database-url'
  }
  {
    name: 'GRAPH_DPG_NGDP_API_TOKEN'
    secretRef: 'ngdp-api-token'
  }
], exposePushEndpoints && pushRequiresToken ? [
  {
    name: 'GRAPH_DPG_PUSH_TOKEN'
    secretRef: 'push-token'
  }
] : [])

module app 'modules/containerapp.bicep' = if (deployApp) {
  name: 'containerapp'
  params: {
    location: location
    namePrefix: namePrefix
    containerImage: containerImage
    registryServer: registryServer
    identityId: identity.outputs.id
    infrastructureSubnetId: network.outputs.appsSubnetId
    logAnalyticsWorkspaceName: monitoring.outputs.workspaceName
    exposePushEndpoints: exposePushEndpoints
    graphNotifications: graphNotifications
    notificationsBaseUrl: notificationsBaseUrl
    pollIntervalWithNotificationsSeconds: pollIntervalWithNotificationsSeconds
    ingressAllowedCidrs: ingressAllowedCidrs
    clientCertificateMode: pushClientCertificateMode
    httpPort: httpPort
    minReplicas: minReplicas
    maxReplicas: maxReplicas
    zoneRedundant: zoneRedundant
    environmentVariables: concat(baseEnvironment, graphCertificateEnvironment, pushEnvironment, smimeKeyVaultEnvironment, consoleEnvironment)
    keyVaultSecrets: concat(requiredSecrets, pushSecrets, graphCertificateSecrets, consoleSecrets)
    secretEnvironmentVariables: concat(secretEnvironment, consoleSecretEnvironment)
    secretFiles: concat(requiredSecretFiles, graphCertificateFiles)
    tags: tags
  }
  dependsOn: [
    // The identity must hold "Key Vault Secrets User" before the app resolves its secret references.
    keyVault
    postgres
  ]
}

output keyVaultName string = keyVault.outputs.name
output keyVaultUri string = keyVault.outputs.uri
output postgresFqdn string = postgres.outputs.fqdn
output postgresDatabase string = postgres.outputs.databaseName
output managedIdentityClientId string = identity.outputs.clientId
output managedIdentityPrincipalId string = identity.outputs.principalId
output logAnalyticsWorkspaceId string = monitoring.outputs.workspaceId
output outboundIp string = network.outputs.outboundIp
output appFqdn string = deployApp ? app.outputs.fqdn : ''
