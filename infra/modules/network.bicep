// Virtual network for graph_dpg: one subnet per consumer, so each can carry the delegation Azure requires.
//   - apps:              Container Apps environment (workload profiles need a /27 or larger, delegated)
//   - postgres:          PostgreSQL Flexible Server private access (delegated, nothing else may live there)
//   - private-endpoints: Key Vault private endpoint
// Every subnet has an NSG. Outbound traffic of the apps subnet leaves through a NAT gateway with one static
// public IP, so NgDP (system "allowedIps") and any firewall can allow-list exactly that address.

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

@description('Allow HTTPS from the internet into the apps subnet (needed when the push endpoints are public).')
param allowInternetHttps bool = false

@description('Give the apps subnet a NAT gateway with a static public IP for outbound traffic.')
param deployNatGateway bool = true

param tags object = {}

resource natPublicIp 'Microsoft.Network/publicIPAddresses@2024-01-01' = if (deployNatGateway) {
  name: '${namePrefix}-nat-pip'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

resource natGateway 'Microsoft.Network/natGateways@2024-01-01' = if (deployNatGateway) {
  name: '${namePrefix}-nat'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    idleTimeoutInMinutes: 10
    publicIpAddresses: [
      {
        id: natPublicIp.id
      }
    ]
  }
}

var httpsFromInternet = [
  {
    // Container Apps terminates TLS at the environment's load balancer inside this subnet; the app's own
    // IP restrictions (ingressAllowedCidrs) narrow the sources further.
    name: 'allow-https-inbound'
    properties: {
      priority: 100
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Tcp'
      sourceAddressPrefix: 'Internet'
      sourcePortRange: '*'
      destinationAddressPrefix: appsSubnetPrefix
      destinationPortRange: '443'
    }
  }
]

resource appsNsg 'Microsoft.Network/networkSecurityGroups@2024-01-01' = {
  name: '${namePrefix}-nsg-apps'
  location: location
  tags: tags
  properties: {
    securityRules: allowInternetHttps ? httpsFromInternet : []
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
        // High availability: primary and standby replicate inside the delegated subnet.
        name: 'allow-postgres-within-subnet'
        properties: {
          priority: 110
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: postgresSubnetPrefix
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
          natGateway: deployNatGateway ? {
            id: natGateway.id
          } : null
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
output outboundIp string = deployNatGateway ? natPublicIp.properties.ipAddress : ''
output privateEndpointSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'private-endpoints')
