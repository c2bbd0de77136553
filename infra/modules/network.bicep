// Virtual network for graph_dpg: one subnet per consumer, so each can carry the delegation Azure requires.
//   - apps:              Container Apps environment (workload profiles need a /27 or larger, delegated)
//   - postgres:          PostgreSQL Flexible Server private access (delegated, nothing else may live there)
//   - private-endpoints: Key Vault private endpoint
// Every subnet has an NSG; Container Apps and PostgreSQL manage their own rules inside the delegation.

@description('Azure region.')
param location string

@description('Name prefix for the network resources.')
param namePrefix string

@description('Address space of the virtual network.')
param addressPrefix string = '10.40.0.0/16'

@description('Subnet for the Container Apps environment (at least /27 for workload profiles).')
param appsSubnetPrefix string = '10.40.0.0/23'

@description('Subnet delegated to PostgreSQL Flexible Server.')
param postgresSubnetPrefix string = '10.40.2.0/24'

@description('Subnet for private endpoints (Key Vault).')
param privateEndpointSubnetPrefix string = '10.40.3.0/24'

param tags object = {}

resource appsNsg 'Microsoft.Network/networkSecurityGroups@2024-01-01' = {
  name: '${namePrefix}-nsg-apps'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource postgresNsg 'Microsoft.Network/networkSecurityGroups@2024-01-01' = {
  name: '${namePrefix}-nsg-postgres'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        // Only the app subnet talks to the database; the default rules would allow the whole VNet.
        name: 'allow-postgres-from-apps'
        properties: {
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: appsSubnetPrefix
          sourcePortRange: '*'
          destinationAddressPrefix: postgresSubnetPrefix
          destinationPortRange: '5432'
        }
      }
      {
        name: 'deny-postgres-from-elsewhere'
        properties: {
          priority: 200
          direction: 'Inbound'
          access: 'Deny'
          protocol: 'Tcp'
          sourceAddressPrefix: '*'
          sourcePortRange: '*'
          destinationAddressPrefix: postgresSubnetPrefix
          destinationPortRange: '5432'
        }
      }
    ]
  }
}

resource privateEndpointNsg 'Microsoft.Network/networkSecurityGroups@2024-01-01' = {
  name: '${namePrefix}-nsg-pe'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-01-01' = {
  name: '${namePrefix}-vnet'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: appsSubnetPrefix
          networkSecurityGroup: {
            id: appsNsg.id
          }
          delegations: [
            {
              name: 'containerapps'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'postgres'
        properties: {
          addressPrefix: postgresSubnetPrefix
          networkSecurityGroup: {
            id: postgresNsg.id
          }
          delegations: [
            {
              name: 'postgres'
              properties: {
                serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          networkSecurityGroup: {
            id: privateEndpointNsg.id
          }
          privateEndpointNetworkPolicies: 'Enabled'
        }
      }
    ]
  }
}

output vnetId string = vnet.id
output vnetName string = vnet.name
output appsSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'apps')
output postgresSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'postgres')
output privateEndpointSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'private-endpoints')
