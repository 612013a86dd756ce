// Microsoft Graph application permissions (app roles) for AppWarden's
// managed identity, through the Microsoft Graph Bicep extension
// (bicepconfig.json: microsoftGraphV1). A separate step, because granting
// Graph app roles needs a directory role (Privileged Role Administrator or
// Global Administrator), not an Azure role:
//
//   az deployment group create -g <rg> -f infra/graph-permissions.bicep \
//     -p principalId=<functionIdentityPrincipalId> enableMail=false
//
// The identity becomes a Tier-0 asset: Application.ReadWrite.All lets it add
// credentials to any app, including apps that hold more privilege. Read
// infra/README.md ("Protecting AppWarden's identity") before running this.

extension microsoftGraphV1

@description('Object id of the function identity\'s service principal (main.bicep output functionIdentityPrincipalId).')
@minLength(36)
@maxLength(36)
param principalId string

@description('readWrite: contain apps (Application.ReadWrite.All). readOnly: report only (Application.Read.All), enough for audit mode and handler scan dry runs.')
@allowed([
  'readWrite'
  'readOnly'
])
param graphAccess string = 'readWrite'

@description('Grant Directory.Read.All: reading an app\'s delegated permission grants (oauth2PermissionGrants) has no narrower application permission. Without it every resolution fails with 403, loudly, rather than judging apps without their consents.')
param readGrants bool = true

@description('Grant AuditLog.Read.All: the timer pulls the Entra audit log (/auditLogs/directoryAudits) in both audit log modes (main.bicep auditLogMode), and in pull mode it is the only way owner, grant, credential and role changes are seen. Microsoft\'s current permissions table for that API lists Directory.Read.All beside it (granted by readGrants).')
param readAuditLog bool = true

@description('Grant Mail.Send (only when APPWARDEN_MAIL_SENDER is set; scope it with Exchange RBAC for Applications).')
param enableMail bool = false

// Microsoft Graph's application id, the same in every tenant.
var graphAppId = '00000003-0000-0000-c000-000000000000'

// Graph application permission (app role) ids, copied from
// microsoftgraph/microsoft-graph-devx-content (permissions snapshot, MIT).
var appRoles = {
  applicationReadWriteAll: '1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9' // Application.ReadWrite.All
  applicationReadAll: '9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30' // Application.Read.All
  userReadBasicAll: '97235f07-e226-4f63-ace3-39588e11d3a1' // User.ReadBasic.All
  directoryReadAll: '7ab1d382-f21e-4acd-a863-ba3e13f7da61' // Directory.Read.All
  auditLogReadAll: 'b0afded3-3588-46d8-8b3d-9842eff778da' // AuditLog.Read.All
  mailSend: 'b633e1c5-b582-4048-a93e-9f11b44c7e96' // Mail.Send
}

var granted = concat(
  [
    graphAccess == 'readWrite' ? appRoles.applicationReadWriteAll : appRoles.applicationReadAll
    appRoles.userReadBasicAll
  ],
  readGrants ? [appRoles.directoryReadAll] : [],
  readAuditLog ? [appRoles.auditLogReadAll] : [],
  enableMail ? [appRoles.mailSend] : []
)

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for appRoleId in granted: {
  principalId: principalId
  resourceId: graph.id
  appRoleId: appRoleId
}]

@description('App role ids granted to the identity on Microsoft Graph.')
output grantedAppRoleIds array = granted
