// Package fakegraph is a local stand-in for Microsoft Graph, in the spirit of
// controller-runtime's fake client: a real HTTP server (or http.Handler) that
// speaks Graph's wire format for the calls AppWarden makes, backed by a
// Tenant loaded from a JSON snapshot or built with AddApp and friends. Tests,
// benchmarks and `appwarden demo` point msgraph-sdk-go at it.
//
// Wire format. Every Graph object the stand-in stores or returns is the
// serialization of a msgraph-sdk-go model (models.Application,
// models.ServicePrincipal, models.User, ...) by kiota's JSON serialization
// writer; collection pages are models.BaseCollectionPaginationCountResponse
// and models.BaseDeltaFunctionResponse with their value, errors are
// odataerrors.ODataError. Request bodies are parsed through the same models
// with kiota's JSON parse node; gzip request bodies (msgraph-sdk-go's default)
// are inflated. Application.isDisabled, missing from the v1.89 model, lives in
// the model's AdditionalData["isDisabled"]. Objects are stored as their
// serialized bytes (about 1 KB each), so 100,000 apps take about 150 MB.
//
// Endpoints, all under /v1.0 (route names in Route* constants):
//
//	POST   /$batch                                   up to 20 requests, dependsOn honoured, 424 after a failed dependency
//	GET    /applications(appId='{appId}')            also /applications/{id}; $select is accepted and ignored
//	                                                 $expand=owners (also owners($select=..)): the first 20
//	                                                 owners, no nextLink (ExpandLimit); on a service
//	                                                 principal also $expand=appRoleAssignments; other
//	                                                 $expand, or two: 400
//	PATCH  /applications/{id}                        e.g. {"isDisabled":true}, tags, notes (also by appId)
//	POST   /applications/{id}/removePassword         {"keyId":...} -> 204
//	POST   /applications/{id}/addPassword            -> 200 passwordCredential with secretText
//	GET    /applications/{id}/owners                 both forms of both entity sets; paged (default 100, $top)
//	GET    /applications/delta                       and /servicePrincipals/delta: first round pages every object
//	                                                 ($skiptoken nextLinks, default 200 per page), then a
//	                                                 $deltatoken deltaLink; a deltaLink returns what changed since,
//	                                                 deleted objects as {"id":..,"@removed":{"reason":"changed"}};
//	                                                 $deltatoken=latest starts from now; expired tokens
//	                                                 (Tenant.ExpireDeltaTokens) answer 400 syncStateNotFound
//	GET    /servicePrincipals(appId='{appId}')       also /servicePrincipals/{id}
//	PATCH  /servicePrincipals/{id}                   e.g. {"accountEnabled":false}
//	GET    /servicePrincipals/{id}/appRoleAssignments        POST re-creates one (201)
//	DELETE /servicePrincipals/{id}/appRoleAssignments/{aid}  -> 204
//	GET    /servicePrincipals/{id}/oauth2PermissionGrants
//	GET    /oauth2PermissionGrants?$filter=clientId eq '{id}'  (clientId, resourceId, consentType, principalId; and)
//	POST   /oauth2PermissionGrants                   -> 201
//	DELETE /oauth2PermissionGrants/{id}              -> 204
//	POST   /users/{id | upn}/sendMail                -> 202, recorded (Server.Mails)
//	GET    /applications                             and /servicePrincipals: every live object in creation
//	                                                 order, paged (default 100, $top up to 999), for tools that
//	                                                 read a whole tenant (appwarden snapshot export)
//	GET    /organization                             [{"id": tenantId}]
//	GET    /directory/deletedItems/{id}              a deleted application or service principal, as it was,
//	                                                 with deletedDateTime (Tenant.DeleteApp moves objects there,
//	                                                 Tenant.Purge removes them)
//	GET    /directory/deletedItems/microsoft.graph.application   and ...microsoft.graph.servicePrincipal:
//	                                                 the deleted ones, $filter=appId eq '..' (or id), paged
//	GET    /applications/{id}/federatedIdentityCredentials        (both forms) paged; POST -> 201 with the new
//	                                                 object and id (name 3-120 characters and unique, issuer,
//	                                                 subject, one audience; at most 20), 400 otherwise
//	GET    /applications/{id}/federatedIdentityCredentials/{ficId}  DELETE -> 204; unknown -> 404
//	POST   /servicePrincipals/{id}/addPassword       and removePassword, as for applications
//	PATCH  /applications/{id}  {"keyCredentials":[..]}  and /servicePrincipals/{id}: replaces the collection;
//	                                                 every entry needs its "key" (400 otherwise); the key is
//	                                                 returned only by GET of that single object with
//	                                                 $select naming keyCredentials, never stored in the object,
//	                                                 never in lists or delta
//	GET    /servicePrincipals/{id}/memberOf          and /memberOf/microsoft.graph.directoryRole (also the
//	                                                 "graph." alias the SDK sends): the directory roles held
//	GET    /directoryRoles                           the activated roles
//	GET    /auditLogs/directoryAudits                $filter on activityDateTime (eq, ge, le; gt/lt answer
//	                                                 400 as they are not documented), category,
//	                                                 activityDisplayName, id, correlationId (eq), joined by
//	                                                 and/or with parentheses; $orderby activityDateTime
//	                                                 asc|desc (default newest first); $top; nextLink paging
//	                                                 pinned to what the first page saw; audit lag honoured
//
// Escalations. Tenant helpers change apps that already exist the way a
// person or an attacker would, each appending the audit record Entra writes
// (initiatedBy: the Actor given to SetActor, DefaultActor until then):
//
//	AddApplicationPassword(appKey, name) keyID         "Update application – Certificates and secrets management "
//	AddApplicationCertificate(appKey, name) keyID      same activity, KeyType=AsymmetricX509Cert
//	AddServicePrincipalPassword(appKey, name) keyID    "Add service principal credentials"
//	AddServicePrincipalCertificate(appKey, name) keyID "Add service principal credentials"
//	AddFederatedCredential(appKey, name, issuer, subject) id  "Update application" (FederatedIdentityCredentials)
//	AddOwner(key, Owner) ownerID                       "Add owner to application" / "... to service principal"
//	GrantAppRole(appKey, resourceAppID, value) id      "Add app role assignment to service principal"
//	ConsentDelegated(appKey, resourceAppID, scopes...) id  "Add delegated permission grant" + "Consent to application"
//	Grant(spKey, perms...)                             the grant records above, per permission
//	AssignDirectoryRole(appKey, roleTemplateID) roleID "Add member to role" (RoleManagement)
//	UpdateApplication / UpdateServicePrincipal         "Update application" / "Update service principal"
//	AddApp, AddServicePrincipal                        "Add application", "Add owner to ...", "Add service principal"
//
// appKey is an appId or object id. AddMicrosoftGraph writes nothing (Microsoft's
// own service principal predates any test). Records have Graph's
// directoryAudit shape through models.DirectoryAudit: ids
// Directory_{correlationId}_{5}_{n}, result success, loggedByService Core
// Directory, modifiedProperties values JSON-encoded strings, grants naming
// the resource first and the grantee in ServicePrincipal.ObjectID/AppId
// (checked against the real OTRF rows in testdata/real-records). Also:
// AddAuditRecord (a raw record, kept as given), SetAuditLag and
// SetAuditDelay (visibility), SetAuditClock, AuditLog, ClearAuditLog (after
// building a baseline). Requests to the stand-in write no audit records.
// FederatedCredentials, DirectoryRoles and AppState (SP credentials,
// federated credential ids, role template ids) read the state back.
// Federated credentials, roles and certificate keys are not in snapshots.
//
// Unknown ids answer 404 Request_ResourceNotFound; a key that is not a GUID
// (such as a service principal name taken for an appId) answers 400
// Request_BadRequest "Invalid object identifier", as Graph does, and is not
// counted as rejected. Anything else answers a
// Graph error (400 for an unknown segment or unsupported request, 405 for a
// wrong method, 401 without a valid token) and is recorded as rejected
// (Server.Rejected), so a test can assert no unexpected call was made.
//
// Authentication. TokenPath serves the App Service / Functions managed
// identity protocol azidentity uses when IDENTITY_ENDPOINT and IDENTITY_HEADER
// are set (GET ?api-version=2019-08-01&resource=..[&client_id=..] with header
// X-IDENTITY-HEADER; answers access_token, expires_on, resource, token_type,
// client_id). Graph requests must carry "Authorization: Bearer <token>" with
// a token issued there (or by IssueToken) unless WithoutAuth. Tokens are
// signed with a per-process key, because MSAL caches managed identity tokens
// process-wide: use a per-server scope (URL()+"/.default") in tests that count
// token requests.
//
// A test client:
//
//	t.Setenv("IDENTITY_ENDPOINT", srv.TokenURL())
//	t.Setenv("IDENTITY_HEADER", srv.IdentityHeader())
//	cred, _ := azidentity.NewManagedIdentityCredential(nil)
//	auth, _ := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(
//		cred, []string{srv.URL() + "/.default"}, []string{"127.0.0.1"})
//	adapter, _ := msgraphsdk.NewGraphRequestAdapter(auth)
//	adapter.SetBaseUrl(srv.GraphURL())
//	client := msgraphsdk.NewGraphServiceClient(adapter)
//
// Instrumentation: Stats (round trips, batch inner requests, token requests,
// per-route counts, rejected, faults, writes), Calls, Mark/CallsSince,
// Writes, Rejected, Mails, Reset. Faults, settable at any time: SetLatency,
// NotFoundReads (replication lag), ThrottleNext, SetRateLimit, FailNext,
// SetFailureRate, ResetConnections, ClearFaults; FaultOptions limit them to a
// route or to inside/outside batches. Everything is safe for concurrent use,
// and Close returns only after every handler has.
package fakegraph
