// Azure Database for PostgreSQL Flexible Server, private access only (VNet-injected into a delegated subnet,
// name resolved through a private DNS zone linked to the VNet). graph_dpg uses it for all state (outbox,
// idempotency keys, deltaLinks, receipts, leases claimed with SELECT ... FOR UPDATE SKIP LOCKED).
//
// Authentication: Microsoft Entra is enabled and an Entra admin (a group, ideally) is set. Password
// authentication stays enabled by default because GRAPH_DPG_DATABASE_URL carries a password for the
// least-privilege role "graph_dpg" the admin creates after deployment (infra/README.md); the server
// administrator password is a @secure() parameter passed at deployment time and never stored here.
// TLS: require_secure_transport=on and TLS >= 1.2, so a URL without sslmode=require is refused.

param location string
param namePrefix string

@description('Server name. Empty: derived from the prefix and resource group.')
param serverName string = ''

@description('SKU, e.g. Standard_B1ms (Burstable) for small tenants, Standard_D2ds_v5 (GeneralPurpose) otherwise.')
param skuName string = 'Standard_D2ds_v5'

@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param skuTier string = 'GeneralPurpose'

@allowed([
  '15'
  '16'
])
param postgresVersion string = '16'

@minValue(32)
param storageSizeGB int = 64

@minValue(7)
@maxValue(35)
param backupRetentionDays int = 35

@description('Geo-redundant backups (paired region). Cannot be changed after the server is created.')
@allowed([
  'Enabled'
  'Disabled'
])
param geoRedundantBackup string = 'Enabled'

@description('ZoneRedundant high availability: a standby in another zone with synchronous replication.')
@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param highAvailabilityMode string = 'Disabled'

@description('Keep password authentication (needed for the graph_dpg role in GRAPH_DPG_DATABASE_URL).')
param passwordAuthEnabled bool = true

@description('Server administrator login (password authentication only).')
param administratorLogin string = 'pgadmin'

@description('Server administrator password. Pass at deployment time (never in a file); unused without password auth.')
@secure()
param administratorLoginPassword string = ''

@description('Object id of the Microsoft Entra administrator (group recommended). Empty: none is set.')
param entraAdminObjectId string = ''

@description('Display name of the Entra administrator (group name or UPN).')
param entraAdminName string = ''

@allowed([
  'Group'
  'User'
  'ServicePrincipal'
])
param entraAdminType string = 'Group'

param delegatedSubnetId string
param vnetId string
param logAnalyticsWorkspaceId string
param databaseName string = 'graph_dpg'
param tags object = {}

var name = empty(serverName) ? '${namePrefix}-pg-${uniqueString(resourceGroup().id)}' : serverName

// Zone name must end in .postgres.database.azure.com for private access.
resource privateDnsZone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: '${name}.private.postgres.database.azure.com'
  location: 'global'
  tags: tags
}

resource privateDnsZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: privateDnsZone
  name: '${namePrefix}-pg-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnetId
    }
  }
}

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: postgresVersion
    administratorLogin: passwordAuthEnabled ? administratorLogin : null
    administratorLoginPassword: passwordAuthEnabled ? administratorLoginPassword : null
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: passwordAuthEnabled ? 'Enabled' : 'Disabled'
      tenantId: subscription().tenantId
    }
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: geoRedundantBackup
    }
    highAvailability: {
      mode: highAvailabilityMode
    }
    network: {
      delegatedSubnetResourceId: delegatedSubnetId
      privateDnsZoneArmResourceId: privateDnsZone.id
      publicNetworkAccess: 'Disabled'
    }
  }
  dependsOn: [
    privateDnsZoneLink
  ]
}

// Server parameters are applied one at a time: the service rejects concurrent configuration updates.
resource requireTls 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'require_secure_transport'
  properties: {
    value: 'on'
    source: 'user-override'
  }
}

resource minTls 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'ssl_min_protocol_version'
  properties: {
    value: 'TLSv1.2'
    source: 'user-override'
  }
  dependsOn: [
    requireTls
  ]
}

resource logConnections 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'log_connections'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    minTls
  ]
}

resource logDisconnections 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'log_disconnections'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    logConnections
  ]
}

resource logCheckpoints 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'log_checkpoints'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    logDisconnections
  ]
}

resource connectionThrottling 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'connection_throttle.enable'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    logCheckpoints
  ]
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [
    connectionThrottling
  ]
}

resource entraAdmin 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = if (!empty(entraAdminObjectId)) {
  parent: server
  name: empty(entraAdminObjectId) ? 'none' : entraAdminObjectId
  properties: {
    principalName: entraAdminName
    principalType: entraAdminType
    tenantId: subscription().tenantId
  }
  dependsOn: [
    database
  ]
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: server
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
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

output id string = server.id
output name string = server.name
output fqdn string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
