metadata name = 'Smartby Cosmos DB'
metadata description = 'The Cosmos DB for NoSQL account, the `smartby` database and its containers, with Microsoft Entra-only data access (`disableLocalAuth`) and data-plane role assignments scoped to the database.'

targetScope = 'resourceGroup'

// Definitions

@description('Serverless bills per request (dev, small regions); autoscale provisions shared database throughput that scales between 10 % and 100 % of its maximum.')
type capacityModeType = 'serverless' | 'autoscale'

// Parameters

@description('Required. Name of the Cosmos DB account (3-44 lowercase letters, digits and hyphens).')
@minLength(3)
@maxLength(44)
param name string

@description('Required. Resource ID of the Log Analytics workspace for diagnostic settings.')
param logAnalyticsWorkspaceId string

@description('Optional. Location of the account (single region).')
param location string = resourceGroup().location

@description('Optional. Capacity mode of the account. It is fixed when the account is created: switching later means a new account and a data migration.')
param capacityMode capacityModeType = 'serverless'

@description('Optional. Autoscale maximum RU/s of the shared database throughput (capacityMode autoscale only), before tenant reservations.')
@minValue(1000)
param autoscaleMaxThroughput int = 1000

@description('Optional. Sum of the tenants\' `cosmosDedicatedMaxThroughput` reservations (RU/s); added to the shared autoscale maximum, which is rounded up to a whole 1000 RU/s. The deploy workflow computes it from infra/tenants/*.bicepparam.')
@minValue(0)
param tenantReservedMaxThroughput int = 0

@description('Optional. Name of the database.')
param databaseName string = 'smartby'

@description('Optional. Principal IDs that get the Cosmos DB Built-in Data Contributor role on the database (not the account).')
param dataContributorPrincipalIds array = []

@description('Optional. Tags of the account.')
param tags object = {}

// Variables

// Built-in data-plane role definitions of Cosmos DB for NoSQL (not Azure RBAC roles).
var cosmosBuiltInDataContributor = '00000000-0000-0000-0000-000000000002'

// Autoscale maxima go in steps of 1000 RU/s: a tenant reserving 1500 rounds the sum up, instead of
// failing the region's deployment.
var sharedMaxThroughput = ((autoscaleMaxThroughput + tenantReservedMaxThroughput + 999) / 1000) * 1000

// Indexing: only paths the repositories query are indexed; writes to large documents (time series
// readings) then cost fewer RUs. `_etag` is never queried.
var defaultIndexing = {
  indexingMode: 'consistent'
  automatic: true
  includedPaths: [
    {
      path: '/*'
    }
  ]
  excludedPaths: [
    {
      path: '/"_etag"/?'
    }
  ]
}

var containers = [
  {
    name: 'tenants'
    partitionKey: '/tenant'
    indexingPolicy: defaultIndexing
  }
  {
    name: 'apikeys'
    partitionKey: '/tenant'
    indexingPolicy: defaultIndexing
  }
  {
    name: 'devices'
    partitionKey: '/tenant'
    indexingPolicy: defaultIndexing
  }
  {
    // Latest state per device (with its LoRaWAN frame-counter session and its newest, still open,
    // hour of readings): listed per tenant, filtered by area, ordered by device; the hourly sweep
    // finds the open hours of quiet devices by `openBucket`.
    name: 'latest'
    partitionKey: '/tenant'
    indexingPolicy: {
      indexingMode: 'consistent'
      automatic: true
      includedPaths: [
        {
          path: '/tenant/?'
        }
        {
          path: '/area/?'
        }
        {
          path: '/device/?'
        }
        {
          path: '/openBucket/?'
        }
      ]
      excludedPaths: [
        {
          path: '/*'
        }
        {
          path: '/"_etag"/?'
        }
      ]
    }
  }
  {
    // Set-aside input with its reason; kept 30 days for the operator.
    name: 'quarantine'
    partitionKey: '/tenant'
    defaultTtl: 2592000
    indexingPolicy: {
      indexingMode: 'consistent'
      automatic: true
      includedPaths: [
        {
          path: '/tenant/?'
        }
        {
          path: '/reason/?'
        }
        {
          path: '/received/?'
        }
      ]
      excludedPaths: [
        {
          path: '/*'
        }
        {
          path: '/"_etag"/?'
        }
      ]
    }
  }
  {
    // Time series: a document per device and UTC hour, a logical partition per device and month
    // ("<tenant>|<device>|<yyyy-mm>"); only the bucket is queried (range + order within one
    // partition). TTL on (-1) without a default: the app sets `ttl` from the tenant's retention.
    name: 'series'
    partitionKey: '/pk'
    defaultTtl: -1
    indexingPolicy: {
      indexingMode: 'consistent'
      automatic: true
      includedPaths: [
        {
          path: '/bucket/?'
        }
      ]
      excludedPaths: [
        {
          path: '/*'
        }
        {
          path: '/"_etag"/?'
        }
      ]
    }
  }
]

// Resources

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    //checkov:skip=CKV_AZURE_101:No private endpoint in this region template (Flex Consumption without VNet); local auth is disabled, so every request needs a Microsoft Entra token with a data-plane role
    //checkov:skip=CKV_AZURE_99:Same as CKV_AZURE_101: the public endpoint is the Function App's path; an IP firewall cannot list Flex Consumption's outbound addresses
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    capabilities: capacityMode == 'serverless' ? [
      {
        name: 'EnableServerless'
      }
    ] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
    enableAutomaticFailover: false
    enableFreeTier: false
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    // Throughput is shared by all containers at database level; serverless has none to set.
    options: capacityMode == 'autoscale' ? {
      autoscaleSettings: {
        maxThroughput: sharedMaxThroughput
      }
    } : {}
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for container in containers: {
  parent: database
  name: container.name
  properties: {
    resource: {
      id: container.name
      partitionKey: {
        paths: [
          container.partitionKey
        ]
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: container.indexingPolicy
      // Absent: TTL off. -1: on without a default expiry. > 0: default expiry in seconds.
      defaultTtl: container.?defaultTtl
    }
  }
}]

// Data-plane RBAC (Cosmos's own role system), scoped to the database so the identity cannot touch
// other databases or account settings.
resource dataContributorAssignments 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [for principalId in dataContributorPrincipalIds: {
  parent: account
  name: guid('${account.id}/dbs/${databaseName}', principalId, cosmosBuiltInDataContributor)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${cosmosBuiltInDataContributor}'
    principalId: principalId
    scope: '${account.id}/dbs/${databaseName}'
  }
  dependsOn: [
    database
  ]
}]

resource accountDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'send-to-log-analytics'
  scope: account
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'Requests'
        enabled: true
      }
    ]
  }
}

// Outputs

@description('The name of the Cosmos DB account.')
output name string = account.name

@description('The resource ID of the Cosmos DB account.')
output resourceId string = account.id

@description('The account endpoint (https://<name>.documents.azure.com:443/), for COSMOS__accountEndpoint.')
output endpoint string = account.properties.documentEndpoint

@description('The name of the database.')
output databaseName string = database.name

@description('The shared autoscale maximum RU/s (0 when serverless).')
output sharedMaxThroughput int = capacityMode == 'autoscale' ? sharedMaxThroughput : 0
