metadata name = 'Smartby Key Vault'
metadata description = 'A Key Vault with Azure RBAC authorization (no access policies), soft delete and purge protection. Used for the platform vault and for each tenant\'s own vault of device keys.'

targetScope = 'resourceGroup'

// Parameters

@description('Required. Name of the vault (3-24 characters, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Required. Resource ID of the Log Analytics workspace for diagnostic settings.')
param logAnalyticsWorkspaceId string

@description('Optional. Location of the vault.')
param location string = resourceGroup().location

@description('Optional. Days a deleted vault or secret can be recovered (7-90). Fixed after creation. With purge protection the name stays reserved for this long after deletion.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Optional. Role assignments on the vault: objects `{ roleDefinitionId: <built-in role GUID>, principalId: string, principalType: \'ServicePrincipal\' | \'Group\' | \'User\' }`.')
param roleAssignments array = []

@description('Optional. Tags of the vault.')
param tags object = {}

// Resources

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    //checkov:skip=CKV_AZURE_109:Flex Consumption without VNet integration calls the vault over its public endpoint; every call needs a Microsoft Entra token and an RBAC role on this vault
    //checkov:skip=CKV_AZURE_189:Same as CKV_AZURE_109: no private endpoint in this region template
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'send-to-log-analytics'
  scope: vault
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

resource vaultRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for assignment in roleAssignments: {
  name: guid(vault.id, assignment.principalId, assignment.roleDefinitionId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', assignment.roleDefinitionId)
    principalId: assignment.principalId
    principalType: assignment.principalType
  }
}]

// Outputs

@description('The name of the vault.')
output name string = vault.name

@description('The resource ID of the vault.')
output resourceId string = vault.id

@description('The vault URI (https://<name>.vault.azure.net/).')
output uri string = vault.properties.vaultUri
