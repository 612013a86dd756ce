// Key Vault (RBAC mode) for the Teams webhook URLs. A Workflows webhook URL
// carries its own signature (sig=...), so it is a secret: it is written here
// from a @secure() parameter and reaches the function only through a Key
// Vault reference resolved with the function identity. No output carries a
// secret value; the secret URIs are pointers, not secrets.

@description('Azure region for the vault.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Key Vault name (3-24 characters, globally unique).')
@minLength(3)
@maxLength(24)
param keyVaultName string

@description('Object id of the function identity (Key Vault Secrets User).')
param functionPrincipalId string

@description('Teams Workflows webhook URL for general notices. Empty leaves the secret as it is (or absent).')
@secure()
param teamsWebhookUrl string

@description('Teams Workflows webhook URL for the security channel. Empty leaves the secret as it is (or absent).')
@secure()
param securityWebhookUrl string

@description('Secret name holding the general Teams webhook URL.')
param teamsWebhookSecretName string

@description('Secret name holding the security Teams webhook URL.')
param securityWebhookSecretName string

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource teamsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(teamsWebhookUrl)) {
  parent: vault
  name: teamsWebhookSecretName
  tags: tags
  properties: {
    value: teamsWebhookUrl
    contentType: 'Teams Workflows webhook URL'
  }
}

resource securitySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(securityWebhookUrl)) {
  parent: vault
  name: securityWebhookSecretName
  tags: tags
  properties: {
    value: securityWebhookUrl
    contentType: 'Teams Workflows webhook URL'
  }
}

// Vault scope: the vault holds AppWarden's secrets and nothing else.
resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, functionPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('Key Vault name.')
output keyVaultName string = vault.name

@description('Vault URI, e.g. https://<name>.vault.azure.net/.')
output vaultUri string = vault.properties.vaultUri
