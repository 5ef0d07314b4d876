metadata name = 'User-assigned managed identity'
metadata description = 'A user-assigned managed identity. Smartby uses one for the Function App and one for the IoT Hub, so their role assignments exist before the resources that need them are created.'

targetScope = 'resourceGroup'

// Parameters

@description('Required. Name of the identity.')
param name string

@description('Optional. Location of the identity.')
param location string = resourceGroup().location

@description('Optional. Tags of the identity.')
param tags object = {}

// Resources

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

// Outputs

@description('The name of the identity.')
output name string = identity.name

@description('The resource ID of the identity.')
output resourceId string = identity.id

@description('The principal (object) ID of the identity, for role assignments.')
output principalId string = identity.properties.principalId

@description('The client (application) ID of the identity, for AZURE_CLIENT_ID and `<connection>__clientId` settings.')
output clientId string = identity.properties.clientId
