// The Flex Consumption plan and the function app running the custom handler
// (runtime custom 1.0; FUNCTIONS_WORKER_RUNTIME is not set on Flex). Every
// setting the handler and the host read is an app setting here, except the
// ones the platform sets itself (FUNCTIONS_CUSTOMHANDLER_PORT,
// IDENTITY_ENDPOINT, IDENTITY_HEADER); infra/README.md lists them all.

@description('Azure region for the plan and the app.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Flex Consumption plan name.')
param planName string

@description('Function app name (globally unique host name).')
param functionAppName string

@description('Largest number of instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Resource id of the function identity.')
param identityId string

@description('Client id of the function identity.')
param identityClientId string

@description('Storage account for AzureWebJobsStorage and the state tables.')
param storageAccountName string

@description('Blob endpoint of the storage account (ends with /).')
param blobEndpoint string

@description('Table endpoint of the storage account (ends with /).')
param tableEndpoint string

@description('Container holding the deployment package.')
param deploymentContainerName string

@description('Application Insights component name.')
param appInsightsName string

@description('Vault URI (ends with /) for the Key Vault references.')
param vaultUri string

@description('Reference the Teams webhook secret from the app settings.')
param teamsWebhookConfigured bool

@description('Reference the security webhook secret from the app settings.')
param securityWebhookConfigured bool

@description('Secret name holding the general Teams webhook URL.')
param teamsWebhookSecretName string

@description('Secret name holding the security Teams webhook URL.')
param securityWebhookSecretName string

@description('Event Hubs namespace host name, e.g. <ns>.servicebus.windows.net.')
param eventHubFullyQualifiedNamespace string

@description('Event hub carrying the Entra audit records.')
param eventHubName string

@description('Consumer group the function reads with.')
param eventHubConsumerGroup string

@description('Handler settings: mode, graphEndpoint, policyFile, mailSender, notifyMinSeverity, maxActionsPerHour, sweepLookback, sweepJudgeAll, actOnMicrosoftApps, actOnManagedIdentities, breakGlassAppIds, logLevel, sweepSchedule, auditStream (OnAuditLogBatch runs), auditPullInterval, expiryThresholds, expiryTime.')
param handler object

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Versionless secret URIs: the platform picks up a rotated secret within a day
// (or at the next restart).
var teamsWebhookReference = '@Microsoft.KeyVault(SecretUri=${vaultUri}secrets/${teamsWebhookSecretName}/)'
var securityWebhookReference = '@Microsoft.KeyVault(SecretUri=${vaultUri}secrets/${securityWebhookSecretName}/)'

var appSettings = {
  // Host storage and state tables, by identity (shared keys are disabled).
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__tableServiceUri: tableEndpoint

  // Application Insights with Entra-authenticated ingestion.
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'

  // Microsoft Graph through the same identity (azidentity reads AZURE_CLIENT_ID).
  AZURE_CLIENT_ID: identityClientId
  APPWARDEN_GRAPH_ENDPOINT: handler.graphEndpoint

  APPWARDEN_MODE: handler.mode
  APPWARDEN_POLICY_FILE: handler.policyFile
  APPWARDEN_TEAMS_WEBHOOK_URL: teamsWebhookConfigured ? teamsWebhookReference : ''
  APPWARDEN_SECURITY_WEBHOOK_URL: securityWebhookConfigured ? securityWebhookReference : ''
  APPWARDEN_MAIL_SENDER: handler.mailSender
  APPWARDEN_NOTIFY_MIN_SEVERITY: handler.notifyMinSeverity
  APPWARDEN_MAX_ACTIONS_PER_HOUR: string(handler.maxActionsPerHour)
  APPWARDEN_SWEEP_LOOKBACK: handler.sweepLookback
  APPWARDEN_SWEEP_JUDGE_ALL: handler.sweepJudgeAll ? 'true' : 'false'
  APPWARDEN_ACT_ON_MICROSOFT_APPS: handler.actOnMicrosoftApps ? 'true' : 'false'
  APPWARDEN_ACT_ON_MANAGED_IDENTITIES: handler.actOnManagedIdentities ? 'true' : 'false'
  APPWARDEN_BREAK_GLASS_APP_IDS: join(handler.breakGlassAppIds, ',')
  APPWARDEN_LOG_LEVEL: handler.logLevel
  // Both audit log modes pull: alone, or closing the stream's gaps.
  APPWARDEN_AUDIT_PULL: 'true'
  APPWARDEN_AUDIT_PULL_INTERVAL: handler.auditPullInterval
  // The daily credential-expiry pass; empty thresholds turn it off.
  APPWARDEN_EXPIRY_THRESHOLDS: handler.expiryThresholds
  APPWARDEN_EXPIRY_TIME: handler.expiryTime

  // Read by the host for the bindings (function.json %...% and connection).
  APPWARDEN_SWEEP_SCHEDULE: handler.sweepSchedule
  APPWARDEN_AUDIT_EVENTHUB_NAME: eventHubName
  APPWARDEN_AUDIT_EVENTHUB_CONSUMER_GROUP: eventHubConsumerGroup
  APPWARDEN_AUDIT_EVENTHUB__fullyQualifiedNamespace: eventHubFullyQualifiedNamespace
  APPWARDEN_AUDIT_EVENTHUB__credential: 'managedidentity'
  APPWARDEN_AUDIT_EVENTHUB__clientId: identityClientId
  // Pull mode has no Event Hub: the host starts no listener for a disabled
  // function (learn.microsoft.com/azure/azure-functions/disable-function).
  'AzureWebJobs.OnAuditLogBatch.Disabled': handler.auditStream ? 'false' : 'true'
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: appSettings
}

// Deployments authenticate with Entra ID only: no FTP or SCM basic-auth
// publishing credentials.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

@description('Function app name.')
output functionAppName string = functionApp.name

@description('Function app resource id.')
output functionAppId string = functionApp.id

@description('Default host name of the function app.')
output defaultHostName string = functionApp.properties.defaultHostName
