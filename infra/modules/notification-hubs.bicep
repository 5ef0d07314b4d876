metadata name = 'Smartby Notification Hubs'
metadata description = 'A Notification Hubs namespace and hub for citizen push notifications, with a Send-only access rule whose connection string is written straight into the platform Key Vault (never into an output or an app setting).'

targetScope = 'resourceGroup'

// Definitions

@description('Free: 1 M pushes and 500 devices, no SLA (dev). Basic/Standard: production (Standard adds telemetry and scheduled pushes).')
type skuType = 'Free' | 'Basic' | 'Standard'

// Parameters

@description('Required. Name of the namespace (6-50 characters, globally unique).')
@minLength(6)
@maxLength(50)
param namespaceName string

@description('Required. Name of the existing platform Key Vault that receives the send connection string.')
param keyVaultName string

@description('Required. Resource ID of the Log Analytics workspace for diagnostic settings.')
param logAnalyticsWorkspaceId string

@description('Optional. Name of the notification hub.')
param hubName string = 'smartby'

@description('Optional. Name of the Key Vault secret that holds the hub\'s Send-only connection string.')
param sendConnectionSecretName string = 'notificationhub-send-connection'

@description('Optional. Pricing tier of the namespace.')
param sku skuType = 'Basic'

@description('Optional. Location of the namespace.')
param location string = resourceGroup().location

@description('Optional. Tags of the namespace.')
param tags object = {}

// Resources

resource namespace 'Microsoft.NotificationHubs/namespaces@2023-09-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    namespaceType: 'NotificationHub'
  }
}

resource hub 'Microsoft.NotificationHubs/namespaces/notificationHubs@2023-09-01' = {
  parent: namespace
  name: hubName
  location: location
  tags: tags
  properties: {}
}

// Notification Hubs accepts only shared access signatures on its data plane (no Microsoft Entra
// ID), so the app needs a key. The narrowest one: Send on this hub alone (no Listen, no Manage).
resource sendRule 'Microsoft.NotificationHubs/namespaces/notificationHubs/authorizationRules@2023-09-01' = {
  parent: hub
  name: 'smartby-send'
  properties: {
    rights: [
      'Send'
    ]
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource sendConnectionSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: sendConnectionSecretName
  properties: {
    //checkov:skip=CKV_AZURE_41:The value is re-read from the hub's Send rule on every deployment; an expiry would break the Key Vault reference without rotating the key. Rotate with `az notification-hub authorization-rule regenerate-keys` and redeploy
    contentType: 'text/plain; notification-hubs-connection-string'
    value: sendRule.listKeys().primaryConnectionString
  }
}

resource namespaceDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'send-to-log-analytics'
  scope: namespace
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

// Outputs

@description('The name of the namespace.')
output name string = namespace.name

@description('The resource ID of the namespace.')
output resourceId string = namespace.id

@description('The name of the notification hub.')
output hubName string = hub.name

@description('The versionless URI of the Key Vault secret with the Send-only connection string, for a Key Vault reference.')
output sendConnectionSecretUri string = '${vault.properties.vaultUri}secrets/${sendConnectionSecret.name}/'
