// Log Analytics workspace: container console logs (graph_dpg logs JSON, CPR numbers masked at the source),
// Container Apps system logs, Key Vault audit events and PostgreSQL logs all land here.

param location string
param namePrefix string

@description('Days to keep logs. Audit of Key Vault access is usually wanted for at least 90 days.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 90

@description('Daily ingestion cap in GB (-1 = no cap). A cap protects the bill if a fault makes logs explode.')
param dailyQuotaGb int = 5

param tags object = {}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-log'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    workspaceCapping: {
      dailyQuotaGb: dailyQuotaGb
    }
    features: {
      // Access is granted per resource (RBAC on the resource), not only on the whole workspace.
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

output workspaceId string = workspace.id
output workspaceName string = workspace.name
