metadata name = 'Smartby naming convention'
metadata description = 'Derives every Smartby resource name in a region (one resource group) from the resource group id, so the region template (main.bicep) and the tenant template (tenant.bicep) agree on names without passing them around. Deploys nothing.'

targetScope = 'resourceGroup'

// Parameters

@description('Optional. Tenant (municipality) id; when set, `tenantVaultName` is that tenant\'s Key Vault name.')
@maxLength(14)
param tenantId string = ''

// Variables

// One token per region: uniqueString of the resource group id is stable across redeployments and
// differs between dev and prod (one resource group each). Key Vault names are global and at most
// 24 characters, so the per-tenant vault uses a 6-character slice: 'kv-' + tenant (<= 14) + '-' + 6.
var token = toLower(uniqueString(resourceGroup().id))
var shortToken = take(token, 6)
var tenantVaultNameTemplate = 'kv-{tenant}-${shortToken}'

// Outputs

@description('The region token appended to globally unique names.')
output token string = token

@description('Name of the Function App.')
output functionAppName string = 'func-smartby-${token}'

@description('Name of the Flex Consumption plan.')
output appServicePlanName string = 'asp-smartby-${token}'

@description('Name of the Function App\'s user-assigned managed identity.')
output functionIdentityName string = 'id-func-smartby-${token}'

@description('Name of the IoT Hub\'s user-assigned managed identity (used by its identity-based routing endpoint).')
output iotHubIdentityName string = 'id-iot-smartby-${token}'

@description('Name of the storage account (AzureWebJobsStorage and the deployment package).')
output storageAccountName string = 'stsmartby${token}'

@description('Name of the Cosmos DB account.')
output cosmosAccountName string = 'cosmos-smartby-${token}'

@description('Name of the Event Hubs namespace.')
output eventHubNamespaceName string = 'evhns-smartby-${token}'

@description('Name of the IoT Hub.')
output iotHubName string = 'iot-smartby-${token}'

@description('Name of the platform Key Vault (admin key, Notification Hubs send key).')
output platformVaultName string = 'kv-${token}'

@description('Per-tenant Key Vault name with the placeholder `{tenant}`.')
output tenantVaultNameTemplate string = tenantVaultNameTemplate

@description('The tenant\'s Key Vault name, or an empty string when no tenantId was given.')
output tenantVaultName string = empty(tenantId) ? '' : replace(tenantVaultNameTemplate, '{tenant}', tenantId)

@description('Name of the Notification Hubs namespace.')
output notificationHubNamespaceName string = 'ntfns-smartby-${token}'

@description('Name of the Log Analytics workspace.')
output logAnalyticsWorkspaceName string = 'log-smartby-${token}'

@description('Name of the Application Insights component.')
output applicationInsightsName string = 'appi-smartby-${token}'
