// The audit stream: Entra's diagnostic setting (infra/tenant/
// diagnostic-setting.bicep) sends AuditLogs here; OnAuditLogBatch reads them
// with the function identity (Azure Event Hubs Data Receiver on this hub
// only).
//
// The Entra diagnostic setting authenticates to Event Hubs through a
// namespace-level authorization rule with Manage, Send and Listen (what the
// Azure Monitor diagnostic-settings docs require). That rule's keys are never
// read or stored by AppWarden, whose own consumer connects with its managed
// identity. Local (SAS) auth therefore stays enabled by default: with
// disableLocalAuth true no SAS key works at all, and no source shows the
// diagnostic setting delivering then (MicrosoftDocs/azure-docs#119932). See
// infra/README.md ("Audit stream and local auth").

@description('Azure region for the namespace.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Event Hubs namespace name (6-50 characters, globally unique).')
@minLength(6)
@maxLength(50)
param namespaceName string

@description('Event hub that receives the Entra audit log records.')
param eventHubName string

@description('Consumer group the function reads with.')
param consumerGroupName string

@description('Days the hub keeps events (1-7 on Standard).')
@minValue(1)
@maxValue(7)
param messageRetentionInDays int

@description('Partitions of the hub.')
@minValue(1)
@maxValue(32)
param partitionCount int

@description('Disable SAS (local) authentication on the namespace.')
param disableLocalAuth bool

@description('Name of the namespace authorization rule the Entra diagnostic setting uses.')
param diagnosticsRuleName string

@description('Object id of the function identity.')
param functionPrincipalId string

var eventHubsDataReceiver = 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: 1
  }
  properties: {
    disableLocalAuth: disableLocalAuth
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    isAutoInflateEnabled: false
  }
}

resource hub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: eventHubName
  properties: {
    messageRetentionInDays: messageRetentionInDays
    partitionCount: partitionCount
  }
}

resource consumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: hub
  name: consumerGroupName
  properties: {
    userMetadata: 'AppWarden OnAuditLogBatch'
  }
}

// Namespace-level rule for the Entra diagnostic setting (Manage, Send and
// Listen are what diagnostic settings require).
resource diagnosticsRule 'Microsoft.EventHub/namespaces/authorizationRules@2024-01-01' = {
  parent: namespace
  name: diagnosticsRuleName
  properties: {
    rights: [
      'Manage'
      'Send'
      'Listen'
    ]
  }
}

resource receiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hub.id, functionPrincipalId, eventHubsDataReceiver)
  scope: hub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventHubsDataReceiver)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('Event Hubs namespace name.')
output namespaceName string = namespace.name

@description('Namespace host name for the identity-based connection, e.g. <ns>.servicebus.windows.net.')
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]

@description('Event hub name.')
output eventHubName string = hub.name

@description('Consumer group name.')
output consumerGroupName string = consumerGroup.name

@description('Resource id of the authorization rule for the tenant diagnostic setting (an id, not a key).')
output diagnosticsAuthorizationRuleId string = diagnosticsRule.id
