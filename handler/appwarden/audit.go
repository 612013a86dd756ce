package appwarden

import (
	"context"
	"encoding/json"
	"time"
)

// Audit log categories the pull reads (Graph directoryAudit.category).
const (
	CategoryApplicationManagement = "ApplicationManagement"
	CategoryRoleManagement        = "RoleManagement"
)

// AuditSource reads the Entra audit log from Graph
// (/auditLogs/directoryAudits), the pull that closes the Event Hub stream's
// gaps and, without a stream, is the only way owner, grant, credential and
// role changes are seen.
type AuditSource interface {
	// DirectoryAudits calls fn with each page of the records whose
	// activityDateTime is at or after since, in the categories given, as
	// Graph's JSON objects. An error from fn stops the read and is returned.
	DirectoryAudits(ctx context.Context, since time.Time, categories []string, fn func(records []json.RawMessage) error) error
}
