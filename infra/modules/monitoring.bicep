metadata name = 'Smartby monitoring'
metadata description = 'A Log Analytics workspace and a workspace-based Application Insights component that accepts only Microsoft Entra-authenticated telemetry (local auth disabled).'

targetScope = 'resourceGroup'

// Parameters

@description('Required. Name of the Log Analytics workspace.')
param logAnalyticsWorkspaceName string

@description('Required. Name of the Application Insights component.')
param applicationInsightsName string

@description('Optional. Location of both resources.')
param location string = resourceGroup().location

@description('Optional. Days the workspace keeps data (30 is included in the price).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Optional. Role assignments on the Application Insights component: objects `{ roleDefinitionId: <built-in role GUID>, principalId: string, principalType: \'ServicePrincipal\' | \'Group\' | \'User\' }`.')
param roleAssignments array = []

@description('Optional. Tags of both resources.')
param tags object = {}

// Resources

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsWorkspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

// The workspace's own audit trail (who queried what) goes to itself.
resource workspaceDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'send-to-log-analytics'
  scope: workspace
  properties: {
    workspaceId: workspace.id
    logs: [
      {
        categoryGroup: 'audit'
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

// No diagnostic setting on the component itself: a workspace-based component already writes all
// of its telemetry into the workspace above, and a diagnostic setting would store it twice.
resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

resource applicationInsightsRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for assignment in roleAssignments: {
  name: guid(applicationInsights.id, assignment.principalId, assignment.roleDefinitionId)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', assignment.roleDefinitionId)
    principalId: assignment.principalId
    principalType: assignment.principalType
  }
}]

// Outputs

@description('The resource ID of the Log Analytics workspace.')
output logAnalyticsWorkspaceId string = workspace.id

@description('The name of the Application Insights component.')
output name string = applicationInsights.name

@description('The resource ID of the Application Insights component.')
output resourceId string = applicationInsights.id

@description('The Application Insights connection string (an ingestion address, not a secret: local auth is disabled, so telemetry needs a Microsoft Entra token).')
output connectionString string = applicationInsights.properties.ConnectionString
