// The dev region: small and cheap. Deployed by .github/workflows/deploy.yml (environment `dev`)
// into its own resource group; `azd up` can use it too (see docs/deployment.md).
using './main.bicep'

param environmentName = 'dev'

// Per-request Cosmos DB billing; tenant throughput reservations do not apply to serverless.
param cosmosCapacityMode = 'serverless'

param functionMaximumInstanceCount = 40
param functionInstanceMemoryMB = 2048
param storageSkuName = 'Standard_LRS'
param eventHubsCapacity = 1
param iotHubSku = 'S1'
param notificationHubsSku = 'Free'
param logAnalyticsRetentionInDays = 30

// Purge protection keeps a deleted vault's name for this many days: short in dev, where
// resource groups come and go.
param keyVaultSoftDeleteRetentionInDays = 7

// The operators' Entra group (object ID), from the GitHub environment variable of the same name.
param operatorPrincipalId = readEnvironmentVariable('SMARTBY_OPERATOR_PRINCIPAL_ID', '')
