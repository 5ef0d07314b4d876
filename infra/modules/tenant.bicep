metadata name = 'Smartby tenant'
metadata description = 'What one municipality (tenant) adds to a region: its own Key Vault for device keys, which only the platform Function App can write, and a monthly budget alert to its contacts.'

targetScope = 'resourceGroup'

// Seed 003: neighbours never get each other's data; every collection point is encrypted with its
// own key, held by its own municipality. So each tenant gets a dedicated vault (not a name prefix in
// a shared vault): deleting, auditing, recovering or handing over one municipality's keys touches
// nothing of another's, and a role assignment can never reach across tenants by a naming mistake.
//
// IoT Hub device convention: each device's twin carries the tag `tenant` = this tenant's id. IoT Hub
// copies it onto every message as the application property `tenant` (modules/iot-hub.bicep), and
// ingest uses it to pick the tenant and this vault.

// Parameters

@description('Required. Tenant id: the municipality slug, e.g. sandefjord (lowercase letters, digits, single hyphens; at most 14 characters so its vault name fits Key Vault\'s 24).')
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

@description('Required. Name of the tenant\'s Key Vault (from modules/naming.bicep).')
@minLength(3)
@maxLength(24)
param vaultName string

@description('Required. Name of the region\'s Function App identity, which gets Key Vault Secrets Officer on the tenant vault.')
param functionIdentityName string

@description('Required. Resource ID of the region\'s Log Analytics workspace for the vault\'s diagnostic settings.')
param logAnalyticsWorkspaceId string

@description('Optional. The municipality\'s language as a BCP 47 tag; budget e-mails are sent in it where Cost Management supports it (nb-NO does), else in English.')
param locale string = 'nb-NO'

@description('Optional. The municipality\'s IANA time zone; recorded as a tag (the API holds the authoritative value).')
param timezone string = 'Europe/Oslo'

@description('Optional. Location of the tenant vault.')
param location string = resourceGroup().location

@description('Optional. Monthly budget in the billing currency (NOK for a Norwegian billing account); 0 creates no budget.')
@minValue(0)
param budgetAmount int = 0

@description('Optional. E-mail addresses the budget alerts go to (required when budgetAmount > 0).')
param contactEmails array = []

@description('Optional. First month of the budget, yyyy-MM-01T00:00:00Z; required when budgetAmount > 0. Azure refuses to change a budget\'s start date, so it stays the month the budget was created in (`smartby onboard` writes and keeps it); a date computed at deployment time would fail every deployment after that month.')
param budgetStartDate string = ''

@description('Optional. Dedicated RU/s the tenant pays for in autoscale mode; added to the region\'s shared autoscale maximum by the deploy workflow (0: none). Recorded as a tag on the vault.')
@minValue(0)
param cosmosDedicatedMaxThroughput int = 0

@description('Optional. Days a deleted vault or key can be recovered (7-90, fixed after creation).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Optional. Extra tags of the tenant\'s resources.')
param tags object = {}

// Variables

var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

var tenantTags = union(tags, {
  application: 'smartby'
  'smartby-tenant': tenantId
  kommunenummer: kommunenummer
  timezone: timezone
  'smartby-cosmos-dedicated-ru': string(cosmosDedicatedMaxThroughput)
})

// Languages Cost Management writes budget e-mails in (its `locale` values).
var budgetLocales = [
  'cs-cz'
  'da-dk'
  'de-de'
  'en-gb'
  'en-us'
  'es-es'
  'fr-fr'
  'hu-hu'
  'it-it'
  'ja-jp'
  'ko-kr'
  'nb-no'
  'nl-nl'
  'pl-pl'
  'pt-br'
  'pt-pt'
  'ru-ru'
  'sv-se'
  'tr-tr'
  'zh-cn'
  'zh-tw'
]

var budgetNotification = {
  enabled: true
  operator: 'GreaterThanOrEqualTo'
  contactEmails: contactEmails
  locale: contains(budgetLocales, toLower(locale)) ? toLower(locale) : 'en-us'
}

// Resources

resource functionIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: functionIdentityName
}

module vault 'key-vault.bicep' = {
  name: 'tenant-${tenantId}-key-vault'
  params: {
    name: vaultName
    location: location
    softDeleteRetentionInDays: softDeleteRetentionInDays
    logAnalyticsWorkspaceId: logAnalyticsWorkspaceId
    tags: tenantTags
    // Secrets Officer, not Secrets User: the API writes each device's AppSKey / AES key here when
    // the device is registered (write once, read by ingest to decrypt). No human role by default.
    roleAssignments: [
      {
        roleDefinitionId: keyVaultSecretsOfficer
        principalId: functionIdentity.properties.principalId
        principalType: 'ServicePrincipal'
      }
    ]
  }
}

// Shared resources are not split per tenant: the budget watches the region's resource group, at
// the amount the municipality has agreed to fund, and warns its own contacts (actual 80 % and
// 100 %, forecast 100 %).
resource budget 'Microsoft.Consumption/budgets@2023-11-01' = if (budgetAmount > 0) {
  name: 'budget-smartby-${tenantId}'
  properties: {
    category: 'Cost'
    amount: budgetAmount
    timeGrain: 'Monthly'
    timePeriod: {
      startDate: budgetStartDate
    }
    notifications: {
      actual80: union(budgetNotification, {
        threshold: 80
        thresholdType: 'Actual'
      })
      actual100: union(budgetNotification, {
        threshold: 100
        thresholdType: 'Actual'
      })
      forecast100: union(budgetNotification, {
        threshold: 100
        thresholdType: 'Forecasted'
      })
    }
  }
}

// Outputs

@description('The tenant id.')
output tenantId string = tenantId

@description('The display name of the municipality.')
output tenantName string = tenantName

@description('The name of the tenant\'s Key Vault.')
output name string = vault.outputs.name

@description('The resource ID of the tenant\'s Key Vault.')
output resourceId string = vault.outputs.resourceId

@description('The URI of the tenant\'s Key Vault.')
output vaultUri string = vault.outputs.uri

@description('The principal that may write device keys to the vault (the region\'s Function App identity).')
output principalId string = functionIdentity.properties.principalId

@description('The device twin tags every device of this tenant must carry in IoT Hub.')
output deviceTwinTags object = {
  tenant: tenantId
}

@description('The dedicated RU/s this tenant reserves in the shared Cosmos DB throughput.')
output cosmosDedicatedMaxThroughput int = cosmosDedicatedMaxThroughput

@description('The resource ID of the budget, or an empty string when none.')
output budgetResourceId string = budgetAmount > 0 ? budget.id : ''
