// The production region. Deployed by .github/workflows/deploy.yml (environment `prod`, which
// needs an approval) into its own resource group.
using './main.bicep'

param environmentName = 'prod'

// Provisioned throughput shared by all containers, scaling between 10 % and 100 % of the maximum.
// The maximum is this base plus the tenants' reservations (`cosmosDedicatedMaxThroughput` in
// infra/tenants/*.bicepparam), summed by the deploy workflow into SMARTBY_COSMOS_TENANT_RESERVED_RU.
param cosmosCapacityMode = 'autoscale'
param cosmosAutoscaleMaxThroughput = 4000
param cosmosTenantReservedMaxThroughput = int(readEnvironmentVariable('SMARTBY_COSMOS_TENANT_RESERVED_RU', '0'))

param functionMaximumInstanceCount = 200
param functionInstanceMemoryMB = 2048
param storageSkuName = 'Standard_ZRS'
param eventHubsCapacity = 2
param eventHubsPartitionCount = 4
param eventHubsRetentionInDays = 3
param iotHubSku = 'S1'
param iotHubCapacity = 1
param notificationHubsSku = 'Standard'
param logAnalyticsRetentionInDays = 90
param keyVaultSoftDeleteRetentionInDays = 90

// The operators' Entra group (object ID), from the GitHub environment variable of the same name.
param operatorPrincipalId = readEnvironmentVariable('SMARTBY_OPERATOR_PRINCIPAL_ID', '')
