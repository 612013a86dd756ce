// Event Grid topics. Their event subscriptions point at the deployed
// function, so they are created later, by infra/eventsubscriptions.bicep
// (phase 3; the function must exist first, Azure/bicep#11656).
//
// - The Azure-subscription system topic (Microsoft.Resources.Subscriptions,
//   location global) emits ResourceActionSuccess for ARM POSTs such as
//   Microsoft.AAD/register/action. Only one system topic may exist per
//   source: if the subscription already has one, set createSystemTopic false
//   and name it (existingSystemTopicName, existingSystemTopicResourceGroup);
//   it is referenced as `existing` in its own resource group, never changed,
//   and its name and resource group are passed on to eventsubscriptions.bicep.
// - The optional custom topic takes Entra audit records republished by any
//   producer (CloudEvents 1.0), authenticated with Entra only.
// Both carry the Event Grid identity, used to write dead letters.

@description('Azure region for the custom topic.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Create the Azure-subscription system topic.')
param createSystemTopic bool

@description('System topic name.')
param systemTopicName string

@description('With createSystemTopic false: name of the existing Azure-subscription system topic (empty: none).')
param existingSystemTopicName string

@description('With createSystemTopic false: resource group of the existing system topic.')
param existingSystemTopicResourceGroup string

@description('Create the custom topic for republished audit records.')
param createCustomTopic bool

@description('Custom topic name.')
param customTopicName string

@description('Object ids allowed to publish to the custom topic (EventGrid Data Sender).')
param customTopicPublisherPrincipalIds array

@description('Resource id of the Event Grid identity.')
param eventGridIdentityId string

var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7'

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = if (createSystemTopic) {
  name: systemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${eventGridIdentityId}': {}
    }
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

// The subscription's existing system topic, read only. Phase 3 needs the
// Event Grid identity attached to it for dead-lettering (infra/README.md).
var useExistingSystemTopic = !createSystemTopic && !empty(existingSystemTopicName)

resource existingSystemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = if (useExistingSystemTopic) {
  name: existingSystemTopicName
  scope: resourceGroup(existingSystemTopicResourceGroup)
}

resource customTopic 'Microsoft.EventGrid/topics@2025-02-15' = if (createCustomTopic) {
  name: customTopicName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${eventGridIdentityId}': {}
    }
  }
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource publishers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in (createCustomTopic ? customTopicPublisherPrincipalIds : []): {
  name: guid(resourceGroup().id, customTopicName, principalId, eventGridDataSender)
  scope: customTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: principalId
  }
}]

@description('System topic the event subscription goes on: the one created here, the existing one, or empty.')
output systemTopicName string = createSystemTopic ? systemTopic.name : (useExistingSystemTopic ? existingSystemTopic.name : '')

@description('Resource group of that system topic.')
output systemTopicResourceGroup string = useExistingSystemTopic ? existingSystemTopicResourceGroup : resourceGroup().name

@description('Custom topic name (empty when not created).')
output customTopicName string = createCustomTopic ? customTopic.name : ''

@description('Custom topic endpoint producers publish to (empty when not created).')
output customTopicEndpoint string = createCustomTopic ? customTopic.properties.endpoint : ''
