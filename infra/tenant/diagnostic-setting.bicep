// The Entra (Microsoft Entra ID) diagnostic setting that streams AuditLogs to
// AppWarden's event hub. Tenant scope: it needs Global Administrator or
// Security Administrator in Entra, plus the right to use the Event Hubs
// authorization rule (Microsoft.EventHub/namespaces/authorizationRules/
// listKeys/action, e.g. Owner or Contributor on the namespace's resource
// group).
//
//   az deployment tenant create -l <region> \
//     -f infra/tenant/diagnostic-setting.bicep \
//     -p eventHubAuthorizationRuleId=<main output diagnosticsAuthorizationRuleId> \
//        eventHubName=<main output auditEventHubName>
//
// Only AuditLogs: AppWarden reads application management activity; sign-in
// logs would add volume and personal data for nothing.

targetScope = 'tenant'

@description('Diagnostic setting name (one per destination; a tenant has at most a few).')
param settingName string = 'appwarden-auditlogs'

@description('Resource id of the namespace authorization rule (main.bicep output diagnosticsAuthorizationRuleId). An id, not a key.')
param eventHubAuthorizationRuleId string

@description('Event hub the records go to (main.bicep output auditEventHubName).')
param eventHubName string

resource auditLogs 'microsoft.aadiam/diagnosticSettings@2017-04-01' = {
  name: settingName
  properties: {
    eventHubAuthorizationRuleId: eventHubAuthorizationRuleId
    eventHubName: eventHubName
    logs: [
      {
        category: 'AuditLogs'
        enabled: true
      }
    ]
  }
}

@description('Diagnostic setting name.')
output settingName string = auditLogs.name
