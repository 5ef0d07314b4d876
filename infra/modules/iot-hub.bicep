metadata name = 'Smartby IoT Hub'
metadata description = 'The IoT Hub that IP devices send to (LoRaWAN network servers use the HTTP ingest routes). Every device message is routed, with the enrichment `tenant` = the device twin tag `tenant`, to an event hub in our own namespace through an identity-based endpoint.'

targetScope = 'resourceGroup'

// Why not the built-in `events` endpoint: IoT Hub's built-in Event Hub-compatible endpoint accepts
// only shared access keys (the IoT Hub docs: "To access the built-in Event Hubs compatible
// endpoint, use the connection string (shared access key) method"; Microsoft Entra ID works only
// through routing to a custom Event Hubs endpoint). The Functions Event Hubs trigger could read it
// only with a key in its settings. So the hub routes to `iothub-telemetry` in our own namespace,
// authenticating with its user-assigned identity (Azure Event Hubs Data Sender on that hub), and
// the ingest function reads that hub with its own managed identity (Data Receiver), through the
// `IOTHUB` connection.

// Definitions

@description('F1 (free, one per subscription) or a Standard tier: device twins, which the tenant enrichment reads, do not exist on the Basic tiers.')
type skuType = 'F1' | 'S1' | 'S2' | 'S3'

// Parameters

@description('Required. Name of the IoT Hub (3-50 characters, globally unique).')
@minLength(3)
@maxLength(50)
param name string

@description('Required. Resource ID of the user-assigned identity the routing endpoint authenticates with. It must already hold Azure Event Hubs Data Sender on the target hub.')
param routingIdentityResourceId string

@description('Required. Host name of the Event Hubs namespace (<namespace>.servicebus.windows.net).')
param eventHubNamespaceHostName string

@description('Required. Name of the event hub that receives device telemetry.')
param telemetryEventHubName string

@description('Required. Resource ID of the Log Analytics workspace for diagnostic settings.')
param logAnalyticsWorkspaceId string

@description('Optional. Location of the hub.')
param location string = resourceGroup().location

@description('Optional. Pricing tier.')
param sku skuType = 'S1'

@description('Optional. Units of the tier (ignored for F1).')
@minValue(1)
@maxValue(200)
param capacity int = 1

@description('Optional. Partitions of the built-in endpoint (fixed after creation). Nothing reads it; 2 is the minimum.')
@minValue(2)
@maxValue(32)
param builtInPartitionCount int = 2

@description('Optional. Deny IoT Hub-level shared access policies (service SAS), so back-end access needs Microsoft Entra ID. Devices keep their own symmetric keys or X.509 certificates. Set false only for a back-end integration that needs an IoT Hub connection string.')
param disableLocalAuth bool = true

@description('Optional. Role assignments on the hub: objects `{ roleDefinitionId: <built-in role GUID>, principalId: string, principalType: \'ServicePrincipal\' | \'Group\' | \'User\' }`.')
param roleAssignments array = []

@description('Optional. Tags of the hub.')
param tags object = {}

// Variables

var telemetryEndpointName = 'telemetry'

// Resources

resource iotHub 'Microsoft.Devices/IotHubs@2023-06-30' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
    capacity: capacity
  }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${routingIdentityResourceId}': {}
    }
  }
  properties: {
    minTlsVersion: '1.2'
    // Public: cellular and other IP devices connect over the internet, each with
    // its own key or certificate; IP filters cannot list devices behind mobile networks.
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: disableLocalAuth
    disableDeviceSAS: false
    disableModuleSAS: true
    eventHubEndpoints: {
      events: {
        partitionCount: builtInPartitionCount
        retentionTimeInDays: 1
      }
    }
    routing: {
      endpoints: {
        eventHubs: [
          {
            name: telemetryEndpointName
            authenticationType: 'identityBased'
            identity: {
              userAssignedIdentity: routingIdentityResourceId
            }
            endpointUri: 'sb://${eventHubNamespaceHostName}'
            entityPath: telemetryEventHubName
            subscriptionId: subscription().subscriptionId
            resourceGroup: resourceGroup().name
          }
        ]
      }
      routes: [
        {
          // Every device message, tagged or not: an untagged device's message is quarantined by
          // ingest (never silently dropped), so there is no condition here.
          name: 'device-telemetry'
          source: 'DeviceMessages'
          condition: 'true'
          endpointNames: [
            telemetryEndpointName
          ]
          isEnabled: true
        }
      ]
      enrichments: [
        {
          // Application property `tenant` = device twin tag `tenant` (the tenant id). A device
          // without the tag arrives with the literal text `$twin.tags.tenant`, which ingest rejects.
          key: 'tenant'
          value: '$twin.tags.tenant'
          endpointNames: [
            telemetryEndpointName
          ]
        }
      ]
      // Off: the route above matches every device message, and nothing reads the built-in endpoint.
      fallbackRoute: {
        name: '$fallback'
        source: 'DeviceMessages'
        condition: 'true'
        endpointNames: [
          'events'
        ]
        isEnabled: false
      }
    }
  }
}

resource hubDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'send-to-log-analytics'
  scope: iotHub
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

resource hubRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for assignment in roleAssignments: {
  name: guid(iotHub.id, assignment.principalId, assignment.roleDefinitionId)
  scope: iotHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', assignment.roleDefinitionId)
    principalId: assignment.principalId
    principalType: assignment.principalType
  }
}]

// Outputs

@description('The name of the IoT Hub.')
output name string = iotHub.name

@description('The resource ID of the IoT Hub.')
output resourceId string = iotHub.id

@description('The IoT Hub host name that devices connect to.')
output hostName string = iotHub.properties.hostName

@description('The name of the routing endpoint that carries device telemetry.')
output telemetryEndpointName string = telemetryEndpointName
