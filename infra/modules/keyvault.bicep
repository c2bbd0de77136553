// Key Vault for graph_dpg's secrets. The template creates the vault and the access to it, never a secret
// value: the admin uploads them after deployment (infra/README.md, "Key Vault"):
//   ngdp-oces3-certificate  certificate (PEM content type, so the secret is a PEM file the container mounts)
//   ngdp-api-token          secret: the NgDP system's API token
//   push-token              secret: bearer token NgDP REST PUSH calls must present
//   database-url            secret: postgresql+psycopg://graph_dpg:<pw>@<fqdn>:5432/graph_dpg?sslmode=require
//   graph-app-certificate   certificate (only with credential kind "certificate"; PEM content type)
//
// Access model: Azure RBAC only (no access policies). The container's managed identity gets
// "Key Vault Secrets User" (read secret values, which is also how a certificate's key+cert is read);
// the operator optionally gets "Key Vault Secrets Officer" + "Key Vault Certificates Officer" to upload.
// Network: private endpoint in the VNet only; public network access is disabled. To upload secrets from
// outside the VNet, open it briefly for one IP with the az commands in infra/README.md; the next
// deployment closes it again.

param location string
param namePrefix string

@description('Globally unique vault name (3-24 chars). Empty: derived from the prefix and resource group.')
param vaultName string = ''

@description('Principal id of the container app\'s user-assigned managed identity.')
param appPrincipalId string

@description('Optional: object id of the operator (user or group) who uploads the certificate and secrets.')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'Group'

param privateEndpointSubnetId string
param vnetId string
param logAnalyticsWorkspaceId string
param tags object = {}

var name = empty(vaultName) ? take('${namePrefix}-kv-${uniqueString(resourceGroup().id)}', 24) : vaultName

// Built-in role definition ids (identical in every subscription).
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
var keyVaultCertificatesOfficer = 'a4417e6f-fecd-4de8-b567-7b0420556985'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      // Premium: keys can be HSM-backed; the price difference is negligible for a handful of objects.
      name: 'premium'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // Irreversible on purpose: a deleted OCES3 certificate must stay recoverable.
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Disabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      ipRules: []
      virtualNetworkRules: []
    }
  }
}

resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorCertificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(vault.id, operatorPrincipalId, keyVaultCertificatesOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCertificatesOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource privateDnsZone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: 'privatelink.vaultcore.azure.net'
  location: 'global'
  tags: tags
}

resource privateDnsZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: privateDnsZone
  name: '${namePrefix}-kv-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnetId
    }
  }
}

resource privateEndpoint 'Microsoft.Network/privateEndpoints@2024-01-01' = {
  name: '${namePrefix}-kv-pe'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: privateEndpointSubnetId
    }
    privateLinkServiceConnections: [
      {
        name: 'vault'
        properties: {
          privateLinkServiceId: vault.id
          groupIds: [
            'vault'
          ]
        }
      }
    ]
  }
}

resource privateDnsZoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-01-01' = {
  parent: privateEndpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: 'vaultcore'
        properties: {
          privateDnsZoneId: privateDnsZone.id
        }
      }
    ]
  }
}

// Every secret read (including by the container at start-up) is audited.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
