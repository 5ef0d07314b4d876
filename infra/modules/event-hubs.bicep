metadata name = 'Smartby Event Hubs'
metadata description = 'The Event Hubs namespace (Standard: consumer groups beyond $Default) with local (SAS) auth disabled, and its hubs through event-hub.bicep.'

targetScope = 'resourceGroup'

// Parameters

@description('Required. Name of the namespace (6-50 characters).')
@minLength(6)
@maxLength(50)
param name string

@description('Required. Resource ID of the Log Analytics workspace for diagnostic settings.')
param logAnalyticsWorkspaceId string

@description('Required. The hubs: objects `{ name: string, consumerGroups: string[], roleAssignments: [{ roleDefinitionId, principalId, principalType }] }`.')
param eventHubs array

@description('Optional. Location of the namespace.')
param location string = resourceGroup().location

@description('Optional. Throughput units of the Standard namespace.')
@minValue(1)
@maxValue(40)
param capacity int = 1

@description('Optional. Partitions per hub (fixed after creation).')
@minValue(1)
@maxValue(32)
param partitionCount int = 2

@description('Optional. Days events are retained (1-7).')
@minValue(1)
@maxValue(7)
param messageRetentionInDays int = 1

@description('Optional. Tags of the namespace.')
param tags object = {}

// Resources

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: capacity
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    isAutoInflateEnabled: false
  }
}

module hubs 'event-hub.bicep' = [for hub in eventHubs: {
  name: 'evh-${hub.name}'
  params: {
    namespaceName: namespace.name
    name: hub.name
    partitionCount: partitionCount
    messageRetentionInDays: messageRetentionInDays
    consumerGroups: hub.consumerGroups
    roleAssignments: hub.roleAssignments
  }
}]

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
    metrics: [
      {
        category: 'AllMetrics'
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

@description('The namespace host name (<name>.servicebus.windows.net in the public cloud, taken from the endpoint so other clouds work), for `<connection>__fullyQualifiedNamespace`.')
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '//')[1], ':')[0]
