// The user-assigned managed identity the container runs as. It is used for:
//   - reading Key Vault secrets (role "Key Vault Secrets User", granted in keyvault.bicep),
//   - pulling the image from Azure Container Registry (AcrPull, granted outside this template if the
//     registry lives elsewhere),
//   - optionally Microsoft Graph (GRAPH_DPG_CREDENTIAL_KIND=managed_identity): the identity's service principal
//     then receives the Graph app roles and the Exchange RBAC for Applications scope (see infra/README.md).
// A user-assigned identity (rather than system-assigned) survives re-creation of the container app, so its
// Exchange role assignments and Key Vault role assignments stay valid.

param location string
param namePrefix string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-id'
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
