// One Event Grid subscription delivering to the OnEventGridEvent function,
// on either the Azure-subscription system topic or the custom topic. It is
// deployed in the topic's resource group (a child must sit with its parent).
//
// Delivery: one event per invocation (maxEventsPerBatch 1: a failed
// invocation makes Event Grid redeliver the whole batch), retried with
// backoff, then dead-lettered to blob storage with the topic's user-assigned
// identity (deadLetterWithResourceIdentity; no storage key involved).

@description('Which topic the subscription hangs off: system or custom.')
@allowed([
  'system'
  'custom'
])
param topicKind string

@description('Name of the topic (in this deployment\'s resource group).')
param topicName string

@description('Event subscription name.')
param subscriptionName string

@description('Resource id of the function endpoint: <site id>/functions/<function name>.')
param functionEndpointId string

@description('Delivery schema: EventGridSchema or CloudEventSchemaV1_0.')
@allowed([
  'EventGridSchema'
  'CloudEventSchemaV1_0'
])
param eventDeliverySchema string

@description('The subscription filter (includedEventTypes, advancedFilters); empty delivers everything.')
param filter object

@description('Delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int

@description('Minutes Event Grid keeps retrying an event.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int

@description('Resource id of the storage account holding the dead-letter container.')
param deadLetterStorageAccountId string

@description('Dead-letter blob container.')
param deadLetterContainerName string

@description('Resource id of the user-assigned identity attached to the topic, used to write dead letters.')
param eventGridIdentityId string

var properties = {
  destination: {
    endpointType: 'AzureFunction'
    properties: {
      resourceId: functionEndpointId
      maxEventsPerBatch: 1
      preferredBatchSizeInKilobytes: 64
    }
  }
  eventDeliverySchema: eventDeliverySchema
  filter: filter
  retryPolicy: {
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
  }
  deadLetterWithResourceIdentity: {
    identity: {
      type: 'UserAssigned'
      userAssignedIdentity: eventGridIdentityId
    }
    deadLetterDestination: {
      endpointType: 'StorageBlob'
      properties: {
        resourceId: deadLetterStorageAccountId
        blobContainerName: deadLetterContainerName
      }
    }
  }
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = if (topicKind == 'system') {
  name: topicName
}

resource customTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = if (topicKind == 'custom') {
  name: topicName
}

resource onSystemTopic 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (topicKind == 'system') {
  parent: systemTopic
  name: subscriptionName
  properties: properties
}

resource onCustomTopic 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = if (topicKind == 'custom') {
  parent: customTopic
  name: subscriptionName
  properties: properties
}

@description('Event subscription name.')
output subscriptionName string = subscriptionName
