metadata name = 'Smartby event hub'
metadata description = 'One event hub in an existing namespace, with its consumer groups (one per consuming function, so each keeps its own checkpoints) and role assignments scoped to this hub only.'

targetScope = 'resourceGroup'

// Parameters

@description('Required. Name of the existing Event Hubs namespace.')
param namespaceName string

@description('Required. Name of the event hub.')
param name string

@description('Optional. Partitions (fixed after creation on the Standard tier): the upper bound of parallel consumers.')
@minValue(1)
@maxValue(32)
param partitionCount int = 2

@description('Optional. Days events are retained (Standard tier: 1-7).')
@minValue(1)
@maxValue(7)
param messageRetentionInDays int = 1

@description('Optional. Consumer groups to create, one per consuming function (names).')
param consumerGroups array = []

@description('Optional. Role assignments on this hub: objects `{ roleDefinitionId: <built-in role GUID>, principalId: string, principalType: \'ServicePrincipal\' | \'Group\' | \'User\' }`.')
param roleAssignments array = []

// Resources

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: namespaceName
}

resource eventHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: name
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: messageRetentionInDays
  }
}

resource groups 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = [for group in consumerGroups: {
  parent: eventHub
  name: group
}]

resource hubRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for assignment in roleAssignments: {
  name: guid(eventHub.id, assignment.principalId, assignment.roleDefinitionId)
  scope: eventHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', assignment.roleDefinitionId)
    principalId: assignment.principalId
    principalType: assignment.principalType
  }
}]

// Outputs

@description('The name of the event hub.')
output name string = eventHub.name

@description('The resource ID of the event hub.')
output resourceId string = eventHub.id
