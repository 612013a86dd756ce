// The two user-assigned managed identities AppWarden uses.
//
// - The function identity runs the handler: host storage, state tables, the
//   audit Event Hub, Key Vault references, Application Insights ingestion and
//   (granted separately, see graph-permissions.bicep) Microsoft Graph.
// - The Event Grid identity is attached to the system topic and the optional
//   custom topic. It can only write dead-lettered events into one blob
//   container, so a compromise of Event Grid's delivery path cannot reach the
//   handler's state or its Graph permissions.

@description('Azure region for the identities.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Name of the identity the function app runs as.')
param functionIdentityName string

@description('Name of the identity Event Grid uses to dead-letter events.')
param eventGridIdentityName string

resource functionIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: functionIdentityName
  location: location
  tags: tags
}

resource eventGridIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: eventGridIdentityName
  location: location
  tags: tags
}

@description('Resource id of the function identity.')
output functionIdentityId string = functionIdentity.id

@description('Name of the function identity.')
output functionIdentityName string = functionIdentity.name

@description('Client (application) id of the function identity: AZURE_CLIENT_ID and the __clientId settings.')
output functionClientId string = functionIdentity.properties.clientId

@description('Object id of the function identity\'s service principal: the principal of every role assignment and Graph app role.')
output functionPrincipalId string = functionIdentity.properties.principalId

@description('Resource id of the Event Grid identity.')
output eventGridIdentityId string = eventGridIdentity.id

@description('Name of the Event Grid identity.')
output eventGridIdentityName string = eventGridIdentity.name

@description('Object id of the Event Grid identity\'s service principal.')
output eventGridPrincipalId string = eventGridIdentity.properties.principalId
