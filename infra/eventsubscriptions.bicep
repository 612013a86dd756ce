// AppWarden, phase 3 of 3: the Event Grid subscriptions that deliver to the
// OnEventGridEvent function. Run it after the code package is deployed:
// Event Grid checks the function endpoint when the subscription is created,
// and the function only exists once the package is there
// (Azure/bicep#11656).
//
//   az deployment group create -g <rg> -f infra/eventsubscriptions.bicep \
//     -p functionAppName=... systemTopicName=... systemTopicResourceGroup=... \
//        storageAccountName=... eventGridIdentityId=...
//
// infra/deploy.sh passes the names from phase 1's outputs. The system topic
// may be one AppWarden created or the subscription's existing one (an Azure
// subscription has at most one Microsoft.Resources.Subscriptions system
// topic), possibly in another resource group: the subscription module is
// deployed in the topic's resource group and references it there as
// `existing`.

targetScope = 'resourceGroup'

@description('Function app deployed by main.bicep (output functionAppName).')
param functionAppName string

@description('Azure-subscription system topic (phase 1 output systemTopicName: created, or existingSystemTopicName). Empty skips its subscription.')
param systemTopicName string

@description('Resource group of the system topic (phase 1 output systemTopicResourceGroup); differs from this one for an existing topic elsewhere.')
param systemTopicResourceGroup string = resourceGroup().name

@description('Custom topic (output customTopicName). Empty skips its subscription.')
param customTopicName string = ''

@description('Storage account holding the dead-letter container (output storageAccountName).')
param storageAccountName string

@description('Dead-letter container (output deadLetterContainerName).')
param deadLetterContainerName string = 'eventgrid-deadletter'

@description('Resource id of the Event Grid identity attached to the topics (output eventGridIdentityId).')
param eventGridIdentityId string

@description('Also deliver every other resource provider registration (data.operationName ending in /register/action), not only Microsoft.AAD/register/action.')
param matchAllRegisterActions bool = false

@description('Delivery attempts before an event is dead-lettered (Event Grid allows 1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying an event (1-1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

// The function that receives Event Grid events (function-app/OnEventGridEvent).
var functionEndpointId = '${functionApp.id}/functions/OnEventGridEvent'

// Advanced-filter string comparisons are case-insensitive. StringEndsWith
// '/register/action' also covers Microsoft.AAD/register/action.
var registerFilter = matchAllRegisterActions
  ? {
      operatorType: 'StringEndsWith'
      key: 'data.operationName'
      values: [
        '/register/action'
      ]
    }
  : {
      operatorType: 'StringIn'
      key: 'data.operationName'
      values: [
        'Microsoft.AAD/register/action'
      ]
    }

module systemTopicSubscription 'modules/eventsubscription.bicep' = if (!empty(systemTopicName)) {
  name: 'appwarden-es-register-action'
  scope: resourceGroup(systemTopicResourceGroup)
  params: {
    topicKind: 'system'
    topicName: systemTopicName
    subscriptionName: 'appwarden-register-action'
    functionEndpointId: functionEndpointId
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceActionSuccess'
      ]
      advancedFilters: [
        registerFilter
      ]
    }
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    deadLetterStorageAccountId: storage.id
    deadLetterContainerName: deadLetterContainerName
    eventGridIdentityId: eventGridIdentityId
  }
}

module customTopicSubscription 'modules/eventsubscription.bicep' = if (!empty(customTopicName)) {
  name: 'appwarden-es-audit-records'
  params: {
    topicKind: 'custom'
    topicName: customTopicName
    subscriptionName: 'appwarden-audit-records'
    functionEndpointId: functionEndpointId
    eventDeliverySchema: 'CloudEventSchemaV1_0'
    filter: {}
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    deadLetterStorageAccountId: storage.id
    deadLetterContainerName: deadLetterContainerName
    eventGridIdentityId: eventGridIdentityId
  }
}

@description('Function endpoint the subscriptions deliver to.')
output functionEndpointId string = functionEndpointId
