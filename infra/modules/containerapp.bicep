// Azure Container Apps environment + the graph_dpg service (`graph-dpg run`).
//
// - Runs as the user-assigned managed identity: Key Vault references for secrets, ACR pull, optionally
//   Microsoft Graph (GRAPH_DPG_CREDENTIAL_KIND=managed_identity).
// - Secrets are Key Vault references (versionless URLs, so rotations are picked up); nothing secret is in
//   the template. Secrets needed as files (OCES3 certificate, Graph certificate, gateway file) are mounted
//   from a secret volume at /mnt/secrets.
// - At least one replica always runs: the poller (Graph delta + NgDP pull) is the product, not a request
//   handler, so scale-to-zero would stop mail flowing. Extra replicas share work through lease rows in
//   PostgreSQL (SELECT ... FOR UPDATE SKIP LOCKED), so scaling out is safe.
// - Ingress: HTTPS only (allowInsecure=false; Container Apps terminates TLS). It carries the NgDP REST PUSH
//   endpoints; with the recommended REST PULL model it can stay internal to the VNet.

param location string
param namePrefix string

@description('Container image, e.g. myregistry.azurecr.io/graph-dpg:1.0.0 (pin a tag or digest, never latest).')
param containerImage string

@description('Registry login server pulled with the managed identity (AcrPull). Empty: public image.')
param registryServer string = ''

param identityId string
param infrastructureSubnetId string
param logAnalyticsWorkspaceName string

@description('Expose the NgDP REST PUSH endpoints to the internet (HTTPS). False: reachable only inside the VNet.')
param exposePushEndpoints bool = false

@description('Receive Microsoft Graph change notifications: the ingress is public (Graph POSTs to /graph/notifications and /graph/lifecycle over HTTPS) and GRAPH_DPG_NOTIFICATIONS_URL is set.')
param graphNotifications bool = false

@description('Public HTTPS base URL Graph posts to (a custom domain). Empty: the app\'s own ingress FQDN.')
param notificationsBaseUrl string = ''

@description('Seconds between safety-net polls of a folder while notifications are on.')
param pollIntervalWithNotificationsSeconds int = 300

@description('CIDRs allowed to reach the ingress (e.g. the NgDP push source addresses). Empty: no IP filter.')
param ingressAllowedCidrs array = []

@description('TLS client certificates on the ingress: accept forwards one if presented (X-Forwarded-Client-Cert).')
@allowed([
  'ignore'
  'accept'
  'require'
])
param clientCertificateMode string = 'accept'

@description('Port graph-dpg run listens on inside the container (GRAPH_DPG_HTTP_PORT).')
param httpPort int = 8080

@minValue(1)
param minReplicas int = 1

@minValue(1)
@maxValue(10)
param maxReplicas int = 3

@description('Concurrent HTTP requests per replica before another replica is added (push bursts).')
param httpConcurrency int = 20

@description('CPU cores per replica.')
param cpu string = '0.5'

@description('Memory per replica (must match the CPU ratio of the Consumption profile: 2 GiB per core).')
param memory string = '1Gi'

param zoneRedundant bool = false

@description('Plain (non-secret) environment variables: [{ name, value }].')
param environmentVariables array

@description('Secrets from Key Vault: [{ name, keyVaultUrl }]; referenced by env vars (secretRef) or files.')
param keyVaultSecrets array

@description('Environment variables filled from secrets: [{ name, secretRef }].')
param secretEnvironmentVariables array = []

@description('Secrets mounted as files under /mnt/secrets: [{ secretRef, path }].')
param secretFiles array = []

param tags object = {}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsWorkspaceName
}

resource managedEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${namePrefix}-cae'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: workspace.properties.customerId
        sharedKey: workspace.listKeys().primarySharedKey
      }
    }
    vnetConfiguration: {
      infrastructureSubnetId: infrastructureSubnetId
      // An internal environment gets no public IP at all: right for the REST PULL model.
      internal: !publicIngress
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    zoneRedundant: zoneRedundant
  }
}

// Public when NgDP pushes or Graph notifies; otherwise reachable only inside the VNet.
var publicIngress = exposePushEndpoints || graphNotifications
// The app's own FQDN is <app name>.<environment default domain>
// (learn.microsoft.com/azure/container-apps/ingress-overview, "Domain names").
var appFqdn = '${namePrefix}-app.${managedEnvironment.properties.defaultDomain}'
var notificationEnvironment = graphNotifications ? [
  {
    name: 'GRAPH_DPG_NOTIFICATIONS_URL'
    value: empty(notificationsBaseUrl) ? 'https://${appFqdn}' : notificationsBaseUrl
  }
  {
    name: 'GRAPH_DPG_POLL_INTERVAL_WITH_NOTIFICATIONS_SECONDS'
    value: string(pollIntervalWithNotificationsSeconds)
  }
] : []

var secretVolumeName = 'kv-files'
var volumes = empty(secretFiles) ? [] : [
  {
    name: secretVolumeName
    storageType: 'Secret'
    secrets: secretFiles
  }
]
var volumeMounts = empty(secretFiles) ? [] : [
  {
    volumeName: secretVolumeName
    mountPath: '/mnt/secrets'
  }
]

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${namePrefix}-app'
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: managedEnvironment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: publicIngress
        targetPort: httpPort
        transport: 'http'
        allowInsecure: false
        // Container Apps passes a presented client certificate on but does not check who issued it.
        clientCertificateMode: clientCertificateMode
        traffic: [
          {
            latestRevision: true
            weight: 100
          }
        ]
        ipSecurityRestrictions: [for cidr in ingressAllowedCidrs: {
          name: 'allow-${replace(replace(cidr, '.', '-'), '/', '-')}'
          ipAddressRange: cidr
          action: 'Allow'
        }]
      }
      registries: empty(registryServer) ? [] : [
        {
          server: registryServer
          identity: identityId
        }
      ]
      secrets: [for secret in keyVaultSecrets: {
        name: secret.name
        keyVaultUrl: secret.keyVaultUrl
        identity: identityId
      }]
    }
    template: {
      containers: [
        {
          name: 'graph-dpg'
          image: containerImage
          command: [
            'graph-dpg'
          ]
          args: [
            'run'
          ]
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          env: concat(environmentVariables, notificationEnvironment, secretEnvironmentVariables)
          volumeMounts: volumeMounts
          probes: [
            {
              // Gives migrations and the first token acquisition up to 60 s before liveness applies.
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: httpPort
              }
              initialDelaySeconds: 3
              periodSeconds: 6
              failureThreshold: 10
              timeoutSeconds: 5
            }
            {
              // /healthz = the process and its scheduler loop are alive; a hung loop gets the replica restarted.
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: httpPort
              }
              periodSeconds: 15
              failureThreshold: 3
              timeoutSeconds: 5
            }
            {
              // /readyz = database answers, credentials usable, last poll recent; not ready = no push traffic here.
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: httpPort
              }
              periodSeconds: 10
              failureThreshold: 3
              timeoutSeconds: 5
            }
          ]
        }
      ]
      volumes: volumes
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'push-http-concurrency'
            http: {
              metadata: {
                concurrentRequests: string(httpConcurrency)
              }
            }
          }
          {
            name: 'cpu-utilisation'
            custom: {
              type: 'cpu'
              metadata: {
                type: 'Utilization'
                value: '70'
              }
            }
          }
        ]
      }
    }
  }
}

output environmentId string = managedEnvironment.id
output appName string = app.name
output fqdn string = app.properties.configuration.ingress.fqdn
output defaultDomain string = managedEnvironment.properties.defaultDomain
output staticIp string = managedEnvironment.properties.staticIp
