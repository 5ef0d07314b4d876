metadata name = 'Smartby tenant onboarding'
metadata description = 'Deployable entry that adds one municipality (tenant) to a deployed region: deploy it into the region\'s resource group with infra/tenants/<tenant>.bicepparam (written by `smartby onboard`). Resource names come from the same convention as main.bicep (modules/naming.bicep).'
metadata owner = 'Smartby platform team'

targetScope = 'resourceGroup'

// Parameters

@description('Required. Tenant id: the municipality slug used in the API, e.g. sandefjord (lowercase letters, digits, single hyphens, 2-14 characters).')
@minLength(2)
@maxLength(14)
param tenantId string

@description('Required. Display name of the municipality, e.g. Sandefjord kommune.')
@minLength(1)
@maxLength(100)
param tenantName string

@description('Required. Four-digit kommunenummer, e.g. 3907.')
@minLength(4)
@maxLength(4)
param kommunenummer string

@description('Optional. The municipality\'s language (BCP 47), e.g. nb-NO.')
param locale string = 'nb-NO'

@description('Optional. The municipality\'s IANA time zone.')
param timezone string = 'Europe/Oslo'

@description('Optional. Monthly budget in the billing currency (NOK/month for a Norwegian billing account); 0 creates no budget.')
@minValue(0)
param budgetAmount int = 0

@description('Optional. E-mail addresses that receive the budget alerts.')
param contactEmails array = []

@description('Optional. First month of the budget, yyyy-MM-01T00:00:00Z; required when budgetAmount > 0, and never changed afterwards (Azure refuses a new start date for a budget). `smartby onboard` writes it.')
param budgetStartDate string = ''

@description('Optional. Dedicated Cosmos DB RU/s the tenant pays for (autoscale regions only); the deploy workflow adds the tenants\' reservations to the shared autoscale maximum.')
@minValue(0)
param cosmosDedicatedMaxThroughput int = 0

@description('Optional. Location of the tenant\'s resources; the region\'s location by default.')
param location string = resourceGroup().location

@description('Optional. Extra tags of the tenant\'s resources.')
param tags object = {}

// Resources

module naming 'modules/naming.bicep' = {
  name: 'naming-${tenantId}'
  params: {
    tenantId: tenantId
  }
}

module tenant 'modules/tenant.bicep' = {
  name: 'tenant-${tenantId}'
  params: {
    tenantId: tenantId
    tenantName: tenantName
    kommunenummer: kommunenummer
    locale: locale
    timezone: timezone
    budgetAmount: budgetAmount
    contactEmails: contactEmails
    budgetStartDate: budgetStartDate
    cosmosDedicatedMaxThroughput: cosmosDedicatedMaxThroughput
    location: location
    tags: tags
    vaultName: naming.outputs.tenantVaultName
    functionIdentityName: naming.outputs.functionIdentityName
    logAnalyticsWorkspaceId: resourceId('Microsoft.OperationalInsights/workspaces', naming.outputs.logAnalyticsWorkspaceName)
  }
}

// Outputs

@description('The tenant id.')
output tenantId string = tenant.outputs.tenantId

@description('The name of the tenant\'s Key Vault.')
output name string = tenant.outputs.name

@description('The resource ID of the tenant\'s Key Vault.')
output resourceId string = tenant.outputs.resourceId

@description('The URI of the tenant\'s Key Vault.')
output vaultUri string = tenant.outputs.vaultUri

@description('The principal ID allowed to write the tenant\'s device keys (the region\'s Function App identity).')
output principalId string = tenant.outputs.principalId

@description('The twin tags to set on each of the tenant\'s devices in IoT Hub.')
output deviceTwinTags object = tenant.outputs.deviceTwinTags

@description('The resource ID of the tenant\'s budget, or an empty string.')
output budgetResourceId string = tenant.outputs.budgetResourceId
