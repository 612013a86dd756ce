// Storage for the Functions host (AzureWebJobsStorage: leases, timer
// schedule monitor, Event Hub checkpoints), AppWarden's state tables, the
// Flex Consumption deployment package and Event Grid's dead letters.
// Identity-based access only: shared keys are disabled, so no connection
// string with a key exists anywhere.

@description('Azure region for the storage account.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Storage account name (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Blob container holding the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Blob container Event Grid writes undeliverable events to.')
param deadLetterContainerName string

@description('Table holding AppWarden\'s state (the handler\'s store.TableName).')
param stateTableName string

@description('Object id of the function identity.')
param functionPrincipalId string

@description('Object id of the Event Grid identity (dead-lettering).')
param eventGridPrincipalId string

// Built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// AppWarden's state table (handler/store: TableName). The handler creates it
// if absent; creating it here makes it visible and lets the deployment own it.
resource stateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: stateTableName
}

// The Functions host needs Storage Blob Data Owner on AzureWebJobsStorage
// (blob leases for the timer singleton, Event Hub checkpoints); it also
// covers reading the deployment package. No queue role: no function uses
// queues or blob triggers.
resource functionBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionPrincipalId, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The state table (trail, markers, cursors) and the host's diagnostic-event
// tables, which are created per month, hence account scope.
resource functionTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionPrincipalId, storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Event Grid writes dead letters with its own identity, into this one
// container only.
resource eventGridDeadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, eventGridPrincipalId, storageBlobDataContributor)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: eventGridPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('Storage account name.')
output storageAccountName string = storage.name

@description('Storage account resource id.')
output storageAccountId string = storage.id

@description('Blob endpoint, e.g. https://<account>.blob.core.windows.net/.')
output blobEndpoint string = storage.properties.primaryEndpoints.blob

@description('Table endpoint, e.g. https://<account>.table.core.windows.net/.')
output tableEndpoint string = storage.properties.primaryEndpoints.table

@description('Deployment package container name.')
output deploymentContainerName string = deploymentContainer.name

@description('Dead-letter container name.')
output deadLetterContainerName string = deadLetterContainer.name
