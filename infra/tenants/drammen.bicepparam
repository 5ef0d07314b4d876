// Smartby tenant drammen: Drammen kommune (kommunenummer 3301).
// Written by `smartby onboard`; running it again with the same options changes nothing.
// Deploy into the region's resource group:
//   az deployment group create --resource-group <region resource group> \
//     --parameters infra/tenants/drammen.bicepparam
using '../tenant.bicep'

param tenantId = 'drammen'
param tenantName = 'Drammen kommune'
param kommunenummer = '3301'
param locale = 'nb-NO'
param timezone = 'Europe/Oslo'
param budgetAmount = 8000
param contactEmails = [
  'iot@drammen.kommune.example'
  'okonomi@drammen.kommune.example'
]
param budgetStartDate = '2026-11-01T00:00:00Z'
