// AppWarden, phase 1 of 3: everything except the Event Grid subscriptions.
//
//   az group create -n <rg> -l <region>
//   az deployment group create -g <rg> -f infra/main.bicep -p ...
//
// Then phase 2 deploys the code package (make package; az functionapp
// deployment source config-zip) and phase 3 the event subscriptions
// (infra/eventsubscriptions.bicep), which need the deployed function
// (Azure/bicep#11656). Graph permissions (infra/graph-permissions.bicep) and
// the Entra diagnostic setting (infra/tenant/diagnostic-setting.bicep) need
// directory roles and are separate steps. infra/deploy.sh runs it all;
// infra/README.md explains each step and the role it needs.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------- naming

@description('Azure region for every regional resource (the subscription system topic is always global). Must offer Flex Consumption.')
param location string = resourceGroup().location

@description('Short prefix for resource names: lowercase letters, digits and hyphens.')
@minLength(2)
@maxLength(12)
param namePrefix string = 'appwarden'

@description('Tags applied to every resource that takes tags (merged over {application: AppWarden}).')
param tags object = {}

@description('Function app name; it is also the default host name, so it must be globally unique.')
@minLength(2)
@maxLength(60)
param functionAppName string = 'func-${namePrefix}-${uniqueString(resourceGroup().id)}'

// ---------------------------------------------------------------- hosting

@description('Largest number of Flex Consumption instances. AppWarden needs few; the action budget, not scale, limits it.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Days Log Analytics keeps AppWarden\'s logs.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 90

// ---------------------------------------------------------------- handler settings

@description('APPWARDEN_MODE: audit only reports; enforce also contains risky apps.')
@allowed([
  'audit'
  'enforce'
])
param mode string = 'audit'

@description('APPWARDEN_GRAPH_ENDPOINT: Microsoft Graph service root without a path (sovereign clouds differ).')
param graphEndpoint string = 'https://graph.microsoft.com'

@description('APPWARDEN_POLICY_FILE: policy file inside the package, relative to the app root (make package POLICY=...); empty uses the embedded default policy.')
param policyFile string = ''

@description('Teams Workflows webhook URL for notices. Stored in Key Vault, never in app settings or outputs. Empty keeps the existing secret if teamsWebhookSecretExists is true.')
@secure()
param teamsWebhookUrl string = ''

@description('Teams Workflows webhook URL for the security channel. Stored in Key Vault only. Empty keeps the existing secret if securityWebhookSecretExists is true.')
@secure()
param securityWebhookUrl string = ''

@description('The Teams webhook secret already exists in the vault (set on redeployments that do not pass the URL again).')
param teamsWebhookSecretExists bool = false

@description('The security webhook secret already exists in the vault.')
param securityWebhookSecretExists bool = false

@description('APPWARDEN_MAIL_SENDER: mailbox notices are sent from (needs Mail.Send, see enableMail in graph-permissions.bicep). Empty disables mail.')
param mailSender string = ''

@description('APPWARDEN_NOTIFY_MIN_SEVERITY: lowest severity that is notified.')
@allowed([
  'info'
  'low'
  'medium'
  'high'
  'critical'
])
param notifyMinSeverity string = 'medium'

@description('APPWARDEN_MAX_ACTIONS_PER_HOUR: containment actions allowed per hour (0 disables actions even in enforce mode).')
@minValue(0)
@maxValue(100000)
param maxActionsPerHour int = 20

@description('APPWARDEN_SWEEP_LOOKBACK: how far back the sweep looks on its first run (Go duration, e.g. 1h, 30m).')
param sweepLookback string = '1h'

@description('APPWARDEN_SWEEP_JUDGE_ALL: the sweep judges every app, not only changed ones.')
param sweepJudgeAll bool = false

@description('APPWARDEN_ACT_ON_MICROSOFT_APPS: let policy write to Microsoft first-party apps (off: reported, never written).')
param actOnMicrosoftApps bool = false

@description('APPWARDEN_ACT_ON_MANAGED_IDENTITIES: let policy write to managed identities (off: reported, never written).')
param actOnManagedIdentities bool = false

@description('APPWARDEN_BREAK_GLASS_APP_IDS: application (client) ids AppWarden never acts on.')
param breakGlassAppIds array = []

@description('APPWARDEN_LOG_LEVEL.')
@allowed([
  'debug'
  'info'
  'warn'
  'error'
])
param logLevel string = 'info'

@description('APPWARDEN_SWEEP_SCHEDULE: six-field NCRONTAB schedule of SweepTimer (default every 30 seconds).')
param sweepSchedule string = '*/30 * * * * *'

// ---------------------------------------------------------------- audit log

@description('How AppWarden reads the Entra audit log. pull: the timer reads /auditLogs/directoryAudits from Graph (AuditLog.Read.All), no Event Hub, no tenant diagnostic setting, OnAuditLogBatch disabled. streamAndPull: the Entra diagnostic setting also streams AuditLogs to an Event Hub (needs a Security or Global Administrator once, and Event Hubs costs money), and the pull closes its gaps. The default keeps the stream so that redeploying an existing installation never turns it off; see README.md, "Audit log: pull, or stream + pull".')
@allowed([
  'pull'
  'streamAndPull'
])
param auditLogMode string = 'streamAndPull'

@description('APPWARDEN_AUDIT_PULL_INTERVAL: how often the timer pulls the audit log (Go duration from 10s to 1h; the timer ticks every 30 s).')
param auditPullInterval string = '1m'

@description('APPWARDEN_EXPIRY_THRESHOLDS: credential-expiry warning thresholds, comma-separated days or durations; empty turns the warnings off.')
param expiryThresholds string = '30d,14d,7d,1d'

@description('APPWARDEN_EXPIRY_TIME: time of day, UTC (HH:MM), from which the daily expiry pass runs.')
param expiryTime string = '08:00'

@description('Event hub the Entra diagnostic setting streams AuditLogs to (APPWARDEN_AUDIT_EVENTHUB_NAME).')
param auditEventHubName string = 'entra-auditlogs'

@description('Consumer group OnAuditLogBatch reads with (APPWARDEN_AUDIT_EVENTHUB_CONSUMER_GROUP).')
param auditConsumerGroupName string = 'appwarden'

@description('Days the audit hub keeps events.')
@minValue(1)
@maxValue(7)
param auditRetentionInDays int = 1

@description('Partitions of the audit hub.')
@minValue(1)
@maxValue(32)
param auditPartitionCount int = 2

@description('Disable SAS (local) auth on the Event Hubs namespace. Keep false: the Entra diagnostic setting writes through a SAS authorization rule (MicrosoftDocs/azure-docs#119932). AppWarden itself reads with its managed identity either way. See infra/README.md, "Audit stream and local auth".')
param eventHubDisableLocalAuth bool = false

@description('Namespace authorization rule the Entra diagnostic setting sends with.')
param diagnosticsRuleName string = 'entra-diagnostic-setting'

// ---------------------------------------------------------------- Event Grid

@description('Create the Azure-subscription system topic. An Azure subscription can have only one Microsoft.Resources.Subscriptions system topic: if it already has one, set false and name it in existingSystemTopicName and existingSystemTopicResourceGroup.')
param createSystemTopic bool = true

@description('With createSystemTopic false: name of the subscription\'s existing Microsoft.Resources.Subscriptions system topic, which phase 3 subscribes to. Empty: no system-topic subscription (new apps then reach AppWarden only through the audit stream and the sweep).')
param existingSystemTopicName string = ''

@description('With createSystemTopic false: resource group of the existing system topic (default: this resource group).')
param existingSystemTopicResourceGroup string = resourceGroup().name

@description('Create an Event Grid custom topic for producers that republish Entra audit records (CloudEvents 1.0).')
param createCustomTopic bool = false

@description('Object ids allowed to publish to the custom topic (EventGrid Data Sender).')
param customTopicPublisherPrincipalIds array = []

@description('Blob container for events Event Grid could not deliver.')
param deadLetterContainerName string = 'eventgrid-deadletter'

// ---------------------------------------------------------------- names

var token = uniqueString(resourceGroup().id)
var compactPrefix = toLower(replace(namePrefix, '-', ''))
var names = {
  functionIdentity: 'id-${namePrefix}-${token}'
  eventGridIdentity: 'id-${namePrefix}-eg-${token}'
  storage: 'st${take(compactPrefix, 9)}${token}'
  logAnalytics: 'log-${namePrefix}-${token}'
  appInsights: 'appi-${namePrefix}-${token}'
  keyVault: 'kv-${take(compactPrefix, 7)}-${token}'
  eventHubNamespace: 'evhns-${namePrefix}-${token}'
  plan: 'plan-${namePrefix}-${token}'
  systemTopic: 'egst-${namePrefix}-${token}'
  customTopic: 'egt-${namePrefix}-${token}'
  deploymentContainer: 'app-package'
}
var teamsWebhookSecretName = 'appwarden-teams-webhook-url'
var securityWebhookSecretName = 'appwarden-security-webhook-url'
var allTags = union({ application: 'AppWarden' }, tags)
// The Event Hub and the diagnostic setting exist only with the stream.
var auditStream = auditLogMode == 'streamAndPull'

// ---------------------------------------------------------------- modules

module identity 'modules/identity.bicep' = {
  name: 'appwarden-identity'
  params: {
    location: location
    tags: allTags
    functionIdentityName: names.functionIdentity
    eventGridIdentityName: names.eventGridIdentity
  }
}

module storage 'modules/storage.bicep' = {
  name: 'appwarden-storage'
  params: {
    location: location
    tags: allTags
    storageAccountName: names.storage
    deploymentContainerName: names.deploymentContainer
    deadLetterContainerName: deadLetterContainerName
    stateTableName: 'appwarden'
    functionPrincipalId: identity.outputs.functionPrincipalId
    eventGridPrincipalId: identity.outputs.eventGridPrincipalId
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'appwarden-monitoring'
  params: {
    location: location
    tags: allTags
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
    retentionInDays: logRetentionInDays
    functionPrincipalId: identity.outputs.functionPrincipalId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'appwarden-keyvault'
  params: {
    location: location
    tags: allTags
    keyVaultName: names.keyVault
    functionPrincipalId: identity.outputs.functionPrincipalId
    teamsWebhookUrl: teamsWebhookUrl
    securityWebhookUrl: securityWebhookUrl
    teamsWebhookSecretName: teamsWebhookSecretName
    securityWebhookSecretName: securityWebhookSecretName
  }
}

module eventHub 'modules/eventhub.bicep' = if (auditStream) {
  name: 'appwarden-eventhub'
  params: {
    location: location
    tags: allTags
    namespaceName: names.eventHubNamespace
    eventHubName: auditEventHubName
    consumerGroupName: auditConsumerGroupName
    messageRetentionInDays: auditRetentionInDays
    partitionCount: auditPartitionCount
    disableLocalAuth: eventHubDisableLocalAuth
    diagnosticsRuleName: diagnosticsRuleName
    functionPrincipalId: identity.outputs.functionPrincipalId
  }
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'appwarden-eventgrid'
  params: {
    location: location
    tags: allTags
    createSystemTopic: createSystemTopic
    systemTopicName: names.systemTopic
    existingSystemTopicName: existingSystemTopicName
    existingSystemTopicResourceGroup: existingSystemTopicResourceGroup
    createCustomTopic: createCustomTopic
    customTopicName: names.customTopic
    customTopicPublisherPrincipalIds: customTopicPublisherPrincipalIds
    eventGridIdentityId: identity.outputs.eventGridIdentityId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'appwarden-functionapp'
  params: {
    location: location
    tags: allTags
    planName: names.plan
    functionAppName: functionAppName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    identityId: identity.outputs.functionIdentityId
    identityClientId: identity.outputs.functionClientId
    storageAccountName: storage.outputs.storageAccountName
    blobEndpoint: storage.outputs.blobEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    vaultUri: keyVault.outputs.vaultUri
    teamsWebhookConfigured: !empty(teamsWebhookUrl) || teamsWebhookSecretExists
    securityWebhookConfigured: !empty(securityWebhookUrl) || securityWebhookSecretExists
    teamsWebhookSecretName: teamsWebhookSecretName
    securityWebhookSecretName: securityWebhookSecretName
    // Without the stream the binding's settings still name a hub (the host
    // resolves them when it indexes OnAuditLogBatch), but no namespace, and
    // the function is disabled.
    eventHubFullyQualifiedNamespace: auditStream ? eventHub.outputs.fullyQualifiedNamespace : ''
    eventHubName: auditStream ? eventHub.outputs.eventHubName : auditEventHubName
    eventHubConsumerGroup: auditStream ? eventHub.outputs.consumerGroupName : auditConsumerGroupName
    handler: {
      mode: mode
      graphEndpoint: graphEndpoint
      policyFile: policyFile
      mailSender: mailSender
      notifyMinSeverity: notifyMinSeverity
      maxActionsPerHour: maxActionsPerHour
      sweepLookback: sweepLookback
      sweepJudgeAll: sweepJudgeAll
      actOnMicrosoftApps: actOnMicrosoftApps
      actOnManagedIdentities: actOnManagedIdentities
      breakGlassAppIds: breakGlassAppIds
      logLevel: logLevel
      sweepSchedule: sweepSchedule
      auditStream: auditStream
      auditPullInterval: auditPullInterval
      expiryThresholds: expiryThresholds
      expiryTime: expiryTime
    }
  }
}

// ---------------------------------------------------------------- outputs
// Names and ids only: the deploy script and the later phases read these. No
// secret value is ever an output.

@description('Resource group everything was deployed to.')
output resourceGroupName string = resourceGroup().name

@description('Function app name (phase 2 deploys the package to it).')
output functionAppName string = functionApp.outputs.functionAppName

@description('Function app resource id.')
output functionAppId string = functionApp.outputs.functionAppId

@description('Name of the function identity.')
output functionIdentityName string = identity.outputs.functionIdentityName

@description('Client id of the function identity (AZURE_CLIENT_ID).')
output functionIdentityClientId string = identity.outputs.functionClientId

@description('Object id of the function identity: the principal the Graph app roles are granted to.')
output functionIdentityPrincipalId string = identity.outputs.functionPrincipalId

@description('Resource id of the Event Grid identity (dead-lettering).')
output eventGridIdentityId string = identity.outputs.eventGridIdentityId

@description('Azure-subscription system topic phase 3 subscribes to: the one created here, or existingSystemTopicName (empty if neither).')
output systemTopicName string = eventGrid.outputs.systemTopicName

@description('Resource group of that system topic (phase 3 deploys the subscription there).')
output systemTopicResourceGroup string = eventGrid.outputs.systemTopicResourceGroup

@description('Custom topic name (empty if not created).')
output customTopicName string = eventGrid.outputs.customTopicName

@description('Custom topic endpoint producers publish to (empty if not created).')
output customTopicEndpoint string = eventGrid.outputs.customTopicEndpoint

@description('Storage account name.')
output storageAccountName string = storage.outputs.storageAccountName

@description('Dead-letter container name.')
output deadLetterContainerName string = storage.outputs.deadLetterContainerName

@description('How the audit log is read: pull or streamAndPull (deploy.sh reads it for the diagnostics phase).')
output auditLogMode string = auditLogMode

@description('Event Hubs namespace name (empty in pull mode).')
output eventHubNamespaceName string = auditStream ? eventHub.outputs.namespaceName : ''

@description('Event hub the Entra diagnostic setting must stream to (empty in pull mode).')
output auditEventHubName string = auditStream ? eventHub.outputs.eventHubName : ''

@description('Authorization rule id for infra/tenant/diagnostic-setting.bicep, an id, not a key (empty in pull mode).')
output diagnosticsAuthorizationRuleId string = auditStream ? eventHub.outputs.diagnosticsAuthorizationRuleId : ''

@description('Key Vault name (holds the webhook URLs).')
output keyVaultName string = keyVault.outputs.keyVaultName

@description('Application Insights component name.')
output appInsightsName string = monitoring.outputs.appInsightsName
