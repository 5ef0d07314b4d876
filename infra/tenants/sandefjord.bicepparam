// Smartby tenant sandefjord: Sandefjord kommune (kommunenummer 3907).
// Written by `smartby onboard`; running it again with the same options changes nothing.
// Deploy into the region's resource group:
//   az deployment group create --resource-group <region resource group> \
//     --parameters infra/tenants/sandefjord.bicepparam
using '../tenant.bicep'

param tenantId = 'sandefjord'
param tenantName = 'Sandefjord kommune'
param kommunenummer = '3907'
param locale = 'nb-NO'
param timezone = 'Europe/Oslo'
param budgetAmount = 5000
param contactEmails = [
  'iot@sandefjord.kommune.example'
]
param budgetStartDate = '2026-11-01T00:00:00Z'
