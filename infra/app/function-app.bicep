metadata name = 'Smartby Function App'
metadata description = 'The Smartby Function App (Python 3.11) on a Flex Consumption (FC1) plan. It runs as a user-assigned managed identity, and every connection in its settings is identity-based: no key, SAS or connection string, except the Application Insights connection string (an ingestion address; ingestion itself needs Microsoft Entra ID).'

targetScope = 'resourceGroup'

// Parameters

@description('Required. Name of the Function App.')
param name string

@description('Required. Name of the Flex Consumption plan.')
param planName string

@description('Required. Resource ID of the app\'s user-assigned managed identity.')
param identityResourceId string

@description('Required. Client ID of the app\'s user-assigned managed identity.')
param identityClientId string

@description('Required. Name of the host storage account (AzureWebJobsStorage).')
param storageAccountName string

@description('Required. Blob endpoint of the host storage account (https://<account>.blob.core.windows.net/).')
param storageBlobEndpoint string

@description('Required. Blob container holding the deployment package.')
param deploymentContainerName string

@description('Required. Application Insights connection string.')
param applicationInsightsConnectionString string

@description('Required. Cosmos DB account endpoint (https://<account>.documents.azure.com:443/).')
param cosmosEndpoint string

@description('Required. Host name of the Event Hubs namespace (<namespace>.servicebus.windows.net).')
param eventHubNamespaceHostName string

@description('Required. URI of the platform Key Vault (https://<vault>.vault.azure.net/).')
param platformVaultUri string

@description('Required. URI template of the tenants\' Key Vaults with the placeholder `{tenant}`.')
param tenantVaultUriTemplate string

@description('Required. Name of the Notification Hubs namespace.')
param notificationHubNamespaceName string

@description('Required. Name of the notification hub.')
param notificationHubName string

@description('Required. Versionless URI of the Key Vault secret with the notification hub\'s Send-only connection string.')
param notificationHubConnectionSecretUri string

@description('Required. Resource ID of the Log Analytics workspace for diagnostic settings.')
param logAnalyticsWorkspaceId string

@description('Optional. Location of the plan and the app.')
param location string = resourceGroup().location

@description('Optional. Name of the Cosmos DB database.')
param cosmosDatabaseName string = 'smartby'

@description('Optional. Event hub of observation events (ingest writes, rules reads).')
param observationsHubName string = 'observations'

@description('Optional. Event hub of alert events (rules writes, notify reads).')
param alertsHubName string = 'alerts'

@description('Optional. Event hub that IoT Hub routes device telemetry to (ingest reads).')
param iotTelemetryHubName string = 'iothub-telemetry'

@description('Optional. Consumer group of the ingest function on the telemetry hub.')
param iotConsumerGroupName string = 'ingest'

@description('Optional. Name of the platform Key Vault secret holding the API admin key.')
param adminKeySecretName string = 'smartby-admin-key'

@description('Optional. Most instances the app scales out to (40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Optional. Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Optional. Spread instances over availability zones. Flex Consumption supports it only in some regions; check the region before turning it on (it cannot be changed after creation).')
param zoneRedundant bool = false

@description('Optional. Tags of the plan and the app. The app also gets `azd-service-name: api`.')
param tags object = {}

// Variables

// Identity-based connections with a user-assigned identity: `<connection>__credential` =
// managedidentity and `<connection>__clientId` pick it for the Functions host (triggers and
// bindings); AZURE_CLIENT_ID picks it for azure-identity in the app's own adapters.
var appSettings = {
  SMARTBY_STORE: 'cosmos'
  SMARTBY_BUS: 'eventhub'
  SMARTBY_KEYSTORE: 'keyvault'
  SMARTBY_LOG_FORMAT: 'json'
  SMARTBY_LOG_LEVEL: 'INFO'
  SMARTBY_MAX_BODY_BYTES: '262144'
  AZURE_CLIENT_ID: identityClientId

  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId

  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'

  COSMOS__accountEndpoint: cosmosEndpoint
  COSMOS__credential: 'managedidentity'
  COSMOS__clientId: identityClientId
  SMARTBY_COSMOS_DATABASE: cosmosDatabaseName

  EVENTHUB__fullyQualifiedNamespace: eventHubNamespaceHostName
  EVENTHUB__credential: 'managedidentity'
  EVENTHUB__clientId: identityClientId
  SMARTBY_OBSERVATIONS_HUB: observationsHubName
  SMARTBY_ALERTS_HUB: alertsHubName

  // IoT Hub telemetry arrives through our own namespace (see modules/iot-hub.bicep for why).
  IOTHUB__fullyQualifiedNamespace: eventHubNamespaceHostName
  IOTHUB__credential: 'managedidentity'
  IOTHUB__clientId: identityClientId
  IOTHUB_EVENTHUB_NAME: iotTelemetryHubName
  IOTHUB_CONSUMER_GROUP: iotConsumerGroupName

  KEYVAULT__vaultUri: platformVaultUri
  SMARTBY_TENANT_VAULT_URI_TEMPLATE: tenantVaultUriTemplate
  SMARTBY_ADMIN_KEY: '@Microsoft.KeyVault(SecretUri=${platformVaultUri}secrets/${adminKeySecretName}/)'

  NOTIFICATIONHUB__namespace: notificationHubNamespaceName
  NOTIFICATIONHUB_NAME: notificationHubName
  // Notification Hubs has no Microsoft Entra data plane: a Key Vault reference, not the key.
  NOTIFICATIONHUB_CONNECTION: '@Microsoft.KeyVault(SecretUri=${notificationHubConnectionSecretUri})'
}

// Resources

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    //checkov:skip=CKV_AZURE_225:Zone redundancy is the zoneRedundant parameter: Flex Consumption offers zones only in some regions, and it is fixed at creation
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    //checkov:skip=CKV_AZURE_222:The HTTP API is public by design (citizen app, portal and chatbot back ends call it); callers authenticate with tenant-scoped API keys
    //checkov:skip=CKV_AZURE_17:Callers are app back ends with API keys; client certificates are not part of the API contract
    //checkov:skip=CKV_AZURE_212:Flex Consumption scales out by itself up to maximumInstanceCount; there is no worker count to raise
    //checkov:skip=CKV_AZURE_213:The platform manages Flex Consumption instances; liveness is probed from outside on /api/health, not by App Service health-check eviction
    serverFarmId: plan.id
    publicNetworkAccess: 'Enabled'
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: identityResourceId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityResourceId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource planDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'send-to-log-analytics'
  scope: plan
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource appDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'send-to-log-analytics'
  scope: functionApp
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

// Outputs

@description('The name of the Function App.')
output name string = functionApp.name

@description('The resource ID of the Function App.')
output resourceId string = functionApp.id

@description('The default host name URL of the Function App.')
output uri string = 'https://${functionApp.properties.defaultHostName}'
