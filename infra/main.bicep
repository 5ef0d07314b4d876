metadata name = 'Smartby region'
metadata description = 'One Smartby region in one resource group: the Function App on Flex Consumption with a user-assigned managed identity, its storage, IoT Hub, Event Hubs, Cosmos DB, the platform Key Vault, Notification Hubs and monitoring, with least-privilege role assignments. Municipalities (tenants) are added with tenant.bicep.'
metadata owner = 'Smartby platform team'

targetScope = 'resourceGroup'

// Definitions

@description('Serverless bills per request; autoscale provisions shared database throughput.')
type cosmosCapacityModeType = 'serverless' | 'autoscale'

@description('IoT Hub tier: F1 (free, one per subscription) or Standard (twins are needed for the tenant enrichment).')
type iotHubSkuType = 'F1' | 'S1' | 'S2' | 'S3'

@description('Notification Hubs tier.')
type notificationHubsSkuType = 'Free' | 'Basic' | 'Standard'

@description('Replication of the host storage account.')
type storageSkuType = 'Standard_LRS' | 'Standard_ZRS' | 'Standard_GRS' | 'Standard_GZRS'

@description('Kind of Microsoft Entra principal.')
type principalTypeType = 'Group' | 'User' | 'ServicePrincipal'

// Parameters

@description('Required. Name of the environment (e.g. dev, prod); tagged on every resource as azd-env-name.')
@minLength(1)
@maxLength(32)
param environmentName string

@description('Optional. Location of every resource. The region must offer Flex Consumption (e.g. norwayeast, swedencentral, northeurope).')
param location string = resourceGroup().location

@description('Optional. Extra tags for every resource.')
param tags object = {}

@description('Optional. Most Function App instances (40-1000).')
@minValue(40)
@maxValue(1000)
param functionMaximumInstanceCount int = 100

@description('Optional. Memory per Function App instance in MB.')
@allowed([
  512
  2048
  4096
])
param functionInstanceMemoryMB int = 2048

@description('Optional. Spread Function App instances over availability zones (only where Flex Consumption offers zones; fixed at creation).')
param functionZoneRedundant bool = false

@description('Optional. Replication of the host storage account.')
param storageSkuName storageSkuType = 'Standard_LRS'

@description('Optional. Cosmos DB capacity mode, fixed when the account is created.')
param cosmosCapacityMode cosmosCapacityModeType = 'serverless'

@description('Optional. Shared autoscale maximum RU/s of the database before tenant reservations (autoscale mode only).')
@minValue(1000)
param cosmosAutoscaleMaxThroughput int = 1000

@description('Optional. Sum of the tenants\' dedicated RU/s (`cosmosDedicatedMaxThroughput` in infra/tenants/*.bicepparam), added to the shared autoscale maximum. The deploy workflow computes it; 0 when none.')
@minValue(0)
param cosmosTenantReservedMaxThroughput int = 0

@description('Optional. Throughput units of the Event Hubs namespace.')
@minValue(1)
@maxValue(40)
param eventHubsCapacity int = 1

@description('Optional. Partitions per event hub (fixed after creation).')
@minValue(1)
@maxValue(32)
param eventHubsPartitionCount int = 2

@description('Optional. Days events are kept in each hub (1-7).')
@minValue(1)
@maxValue(7)
param eventHubsRetentionInDays int = 1

@description('Optional. IoT Hub tier.')
param iotHubSku iotHubSkuType = 'S1'

@description('Optional. IoT Hub units.')
@minValue(1)
@maxValue(200)
param iotHubCapacity int = 1

@description('Optional. Deny IoT Hub-level shared access policies. Set false only for a back-end integration that needs an IoT Hub connection string.')
param iotHubDisableLocalAuth bool = true

@description('Optional. Notification Hubs tier.')
param notificationHubsSku notificationHubsSkuType = 'Basic'

@description('Optional. Days Log Analytics keeps data.')
@minValue(30)
@maxValue(730)
param logAnalyticsRetentionInDays int = 30

@description('Optional. Days a deleted Key Vault or secret can be recovered (7-90; fixed after creation).')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 90

@description('Optional. Object ID of the operators\' Microsoft Entra group (or user). It gets Key Vault Secrets Officer on the platform vault (to set the admin key) and IoT Hub Registry and Twin Contributor (to register devices and set their `tenant` tag). Never access to the tenants\' vaults. Empty: no operator roles.')
param operatorPrincipalId string = ''

@description('Optional. Kind of principal operatorPrincipalId is.')
param operatorPrincipalType principalTypeType = 'Group'

// Variables

var allTags = union(tags, {
  application: 'smartby'
  'azd-env-name': environmentName
})

// Built-in Azure role definitions (GUIDs are the same in every tenant). Least privilege: data-plane
// roles on single resources, never Owner, Contributor or User Access Administrator.
var roles = {
  // The documented minimum for an identity-based AzureWebJobsStorage (blob leases/checkpoints,
  // queues and tables used by the host) and the Flex Consumption deployment package.
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975'
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  iotHubRegistryContributor: '4ea46cd5-c1b2-4a8e-910b-273211f9ce47'
  iotHubTwinContributor: '494bdba2-168f-4f31-a0a1-191d2f7c028c'
}

// Each tenant's vault, by the naming convention tenant.bicep also uses; the app replaces `{tenant}`.
var tenantVaultUriTemplate = 'https://${naming.outputs.tenantVaultNameTemplate}${environment().suffixes.keyvaultDns}/'

var observationsHubName = 'observations'
var alertsHubName = 'alerts'
var iotTelemetryHubName = 'iothub-telemetry'

// Resources

module naming 'modules/naming.bicep' = {
  name: 'naming'
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsWorkspaceName: naming.outputs.logAnalyticsWorkspaceName
    applicationInsightsName: naming.outputs.applicationInsightsName
    location: location
    retentionInDays: logAnalyticsRetentionInDays
    tags: allTags
    roleAssignments: [
      {
        // Entra-authenticated telemetry (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
        roleDefinitionId: roles.monitoringMetricsPublisher
        principalId: functionIdentity.outputs.principalId
        principalType: 'ServicePrincipal'
      }
    ]
  }
}

module functionIdentity 'modules/user-assigned-identity.bicep' = {
  name: 'identity-function'
  params: {
    name: naming.outputs.functionIdentityName
    location: location
    tags: allTags
  }
}

module iotHubIdentity 'modules/user-assigned-identity.bicep' = {
  name: 'identity-iothub'
  params: {
    name: naming.outputs.iotHubIdentityName
    location: location
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: naming.outputs.storageAccountName
    location: location
    skuName: storageSkuName
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    tags: allTags
    roleAssignments: [
      {
        roleDefinitionId: roles.storageBlobDataOwner
        principalId: functionIdentity.outputs.principalId
        principalType: 'ServicePrincipal'
      }
      {
        roleDefinitionId: roles.storageQueueDataContributor
        principalId: functionIdentity.outputs.principalId
        principalType: 'ServicePrincipal'
      }
      {
        roleDefinitionId: roles.storageTableDataContributor
        principalId: functionIdentity.outputs.principalId
        principalType: 'ServicePrincipal'
      }
    ]
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    name: naming.outputs.cosmosAccountName
    location: location
    capacityMode: cosmosCapacityMode
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    tenantReservedMaxThroughput: cosmosTenantReservedMaxThroughput
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    tags: allTags
    dataContributorPrincipalIds: [
      functionIdentity.outputs.principalId
    ]
  }
}

module eventHubs 'modules/event-hubs.bicep' = {
  name: 'event-hubs'
  params: {
    name: naming.outputs.eventHubNamespaceName
    location: location
    capacity: eventHubsCapacity
    partitionCount: eventHubsPartitionCount
    messageRetentionInDays: eventHubsRetentionInDays
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    tags: allTags
    eventHubs: [
      {
        // ingest publishes observations; rules will consume them. Roles follow what the deployed
        // functions do: a consumer's Data Receiver arrives with the function that receives.
        name: observationsHubName
        consumerGroups: [
          'rules'
        ]
        roleAssignments: [
          {
            roleDefinitionId: roles.eventHubsDataSender
            principalId: functionIdentity.outputs.principalId
            principalType: 'ServicePrincipal'
          }
        ]
      }
      {
        // rules will publish alerts and notify consume them; no function uses it yet, so no role.
        name: alertsHubName
        consumerGroups: [
          'notify'
        ]
        roleAssignments: []
      }
      {
        // IoT Hub routes device telemetry here (its identity sends); ingest consumes it.
        name: iotTelemetryHubName
        consumerGroups: [
          'ingest'
        ]
        roleAssignments: [
          {
            roleDefinitionId: roles.eventHubsDataSender
            principalId: iotHubIdentity.outputs.principalId
            principalType: 'ServicePrincipal'
          }
          {
            roleDefinitionId: roles.eventHubsDataReceiver
            principalId: functionIdentity.outputs.principalId
            principalType: 'ServicePrincipal'
          }
        ]
      }
    ]
  }
}

module platformVault 'modules/key-vault.bicep' = {
  name: 'key-vault-platform'
  params: {
    name: naming.outputs.platformVaultName
    location: location
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    tags: allTags
    // The app only reads here (admin key, Notification Hubs send key, through Key Vault
    // references): Secrets User. Device keys live in the tenants' own vaults (tenant.bicep).
    roleAssignments: concat([
      {
        roleDefinitionId: roles.keyVaultSecretsUser
        principalId: functionIdentity.outputs.principalId
        principalType: 'ServicePrincipal'
      }
    ], empty(operatorPrincipalId) ? [] : [
      {
        roleDefinitionId: roles.keyVaultSecretsOfficer
        principalId: operatorPrincipalId
        principalType: operatorPrincipalType
      }
    ])
  }
}

module notificationHubs 'modules/notification-hubs.bicep' = {
  name: 'notification-hubs'
  params: {
    namespaceName: naming.outputs.notificationHubNamespaceName
    keyVaultName: platformVault.outputs.name
    location: location
    sku: notificationHubsSku
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    tags: allTags
  }
}

// The routing endpoint is validated when the hub is created, so the hub's identity must already be
// a Data Sender on `iothub-telemetry`. Taking the namespace host name from the eventHubs module
// (which makes that assignment) orders the deployments; a user-assigned identity is what makes
// that ordering possible at all (a system-assigned one would not exist before the hub).
module iotHub 'modules/iot-hub.bicep' = {
  name: 'iot-hub'
  params: {
    name: naming.outputs.iotHubName
    location: location
    sku: iotHubSku
    capacity: iotHubCapacity
    disableLocalAuth: iotHubDisableLocalAuth
    routingIdentityResourceId: iotHubIdentity.outputs.resourceId
    eventHubNamespaceHostName: eventHubs.outputs.fullyQualifiedNamespace
    telemetryEventHubName: iotTelemetryHubName
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    tags: allTags
    roleAssignments: empty(operatorPrincipalId) ? [] : [
      {
        roleDefinitionId: roles.iotHubRegistryContributor
        principalId: operatorPrincipalId
        principalType: operatorPrincipalType
      }
      {
        roleDefinitionId: roles.iotHubTwinContributor
        principalId: operatorPrincipalId
        principalType: operatorPrincipalType
      }
    ]
  }
}

// Every input below is an output of the module that also grants the identity its roles there, so
// the app is created after its role assignments and its first cold start can reach everything.
module functionApp 'app/function-app.bicep' = {
  name: 'function-app'
  params: {
    name: naming.outputs.functionAppName
    planName: naming.outputs.appServicePlanName
    location: location
    tags: allTags
    identityResourceId: functionIdentity.outputs.resourceId
    identityClientId: functionIdentity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    eventHubNamespaceHostName: eventHubs.outputs.fullyQualifiedNamespace
    observationsHubName: observationsHubName
    alertsHubName: alertsHubName
    iotTelemetryHubName: iotTelemetryHubName
    iotConsumerGroupName: 'ingest'
    platformVaultUri: platformVault.outputs.uri
    tenantVaultUriTemplate: tenantVaultUriTemplate
    notificationHubNamespaceName: notificationHubs.outputs.name
    notificationHubName: notificationHubs.outputs.hubName
    notificationHubConnectionSecretUri: notificationHubs.outputs.sendConnectionSecretUri
    maximumInstanceCount: functionMaximumInstanceCount
    instanceMemoryMB: functionInstanceMemoryMB
    zoneRedundant: functionZoneRedundant
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

// Outputs

@description('The name of the Function App.')
output name string = functionApp.outputs.name

@description('The resource ID of the Function App.')
output resourceId string = functionApp.outputs.resourceId

@description('The URL of the Function App (the HTTP API is under /api).')
output uri string = functionApp.outputs.uri

@description('The principal ID of the Function App\'s user-assigned identity.')
output principalId string = functionIdentity.outputs.principalId

@description('The client ID of the Function App\'s user-assigned identity.')
output clientId string = functionIdentity.outputs.clientId

@description('The name of the resource group the region was deployed to.')
output resourceGroupName string = resourceGroup().name

@description('The location the region was deployed to.')
output location string = location

@description('The name of the IoT Hub (register devices here with the twin tag `tenant`).')
output iotHubName string = iotHub.outputs.name

@description('The Cosmos DB account endpoint.')
output cosmosEndpoint string = cosmos.outputs.endpoint

@description('The Event Hubs namespace host name.')
output eventHubNamespaceHostName string = eventHubs.outputs.fullyQualifiedNamespace

@description('The name of the platform Key Vault (put the admin key in as secret `smartby-admin-key`).')
output platformKeyVaultName string = platformVault.outputs.name

@description('The per-tenant Key Vault URI template (SMARTBY_TENANT_VAULT_URI_TEMPLATE).')
output tenantVaultUriTemplate string = tenantVaultUriTemplate

@description('The Application Insights resource ID.')
output applicationInsightsResourceId string = monitoring.outputs.resourceId
