package appwarden

import "time"

// SignalKind says what an input hints at. It is only a hint: the truth is
// always read back from Microsoft Graph before anything is decided.
type SignalKind string

// The kinds of signal the decoders produce.
const (
	AppCreated              SignalKind = "AppCreated"
	ServicePrincipalCreated SignalKind = "ServicePrincipalCreated"
	CredentialAdded         SignalKind = "CredentialAdded"
	OwnerAdded              SignalKind = "OwnerAdded"
	ConsentGranted          SignalKind = "ConsentGranted"
	AppRoleGranted          SignalKind = "AppRoleGranted"
	// AppUpdated covers "Update application" and "Update service principal":
	// a benign app can become risky by a later change (a new permission, a
	// redirect URI), so updates are judged like creations.
	AppUpdated SignalKind = "AppUpdated"
	// DirectoryRoleGranted is "Add member to role" with a service principal
	// as the member: the app now holds a directory role (Global
	// Administrator, Privileged Role Administrator...), which can outweigh any
	// permission it asked for.
	DirectoryRoleGranted SignalKind = "DirectoryRoleGranted"
	ProviderRegistered   SignalKind = "ProviderRegistered"
	SweepRequested       SignalKind = "SweepRequested"
)

// SignalKinds lists every kind, in a stable order.
var SignalKinds = []SignalKind{
	AppCreated, ServicePrincipalCreated, CredentialAdded, OwnerAdded,
	ConsentGranted, AppRoleGranted, AppUpdated, DirectoryRoleGranted, ProviderRegistered, SweepRequested,
}

// Sweeps reports whether the signal asks for a delta sweep rather than naming
// one app.
func (k SignalKind) Sweeps() bool { return k == ProviderRegistered || k == SweepRequested }

// Source names the entry point a signal came through.
type Source string

// The entry points.
const (
	SourceEventGrid Source = "eventgrid"
	SourceEventHub  Source = "eventhub"
	SourceTimer     Source = "timer"
	SourceCLI       Source = "cli"
	SourceSweep     Source = "sweep"
	// SourceAuditPull is the timer's read of /auditLogs/directoryAudits.
	SourceAuditPull Source = "auditpull"
)

// Object types named by audit records' targetResources[].type.
const (
	ObjectApplication      = "Application"
	ObjectServicePrincipal = "ServicePrincipal"
)

// Initiator is who caused the change: a user, or an app acting as itself.
type Initiator struct {
	UserID             string `json:"userId,omitempty"`
	UPN                string `json:"upn,omitempty"`
	DisplayName        string `json:"displayName,omitempty"`
	AppID              string `json:"appId,omitempty"`
	ServicePrincipalID string `json:"servicePrincipalId,omitempty"`
}

// IsZero reports whether nothing is known about the initiator.
func (i Initiator) IsZero() bool { return i == Initiator{} }

// String names the initiator for people: the UPN, else a display name, else an id.
func (i Initiator) String() string {
	for _, s := range []string{i.UPN, i.DisplayName, i.UserID, i.AppID, i.ServicePrincipalID} {
		if s != "" {
			return s
		}
	}
	return "unknown"
}

// Signal is one decoded hint that something about an app may have changed.
type Signal struct {
	Kind SignalKind `json:"kind"`
	// AppID is the application (client) id, where the input carries it.
	AppID string `json:"appId,omitempty"`
	// ObjectID is the directory object id of the target, where the input
	// carries it; ObjectType says whether it is an Application or a
	// ServicePrincipal.
	ObjectID   string `json:"objectId,omitempty"`
	ObjectType string `json:"objectType,omitempty"`
	// DisplayName is what the input called the target; informational only.
	DisplayName string    `json:"displayName,omitempty"`
	Initiator   Initiator `json:"initiator"`
	Time        time.Time `json:"time"`
	Source      Source    `json:"source"`
	// Activity is the raw activity: the audit activityDisplayName, or the ARM
	// operationName.
	Activity string `json:"activity"`
	// DedupeKey is stable across redeliveries of the same input: the event id
	// or the audit record id.
	DedupeKey string `json:"dedupeKey"`
	// Details carries extra facts from the input (ServicePrincipalProvisioningType,
	// AppOwnerOrganizationId, subscriptionId...).
	Details map[string]string `json:"details,omitempty"`
	// Added is what the input says it added (the keyId of a new secret, the
	// new owner, the role), where it says so. It is a hint like the rest:
	// what counts is what Graph shows, but for an app whose facts AppWarden
	// never recorded, it tells the new from what was always there.
	Added []Fact `json:"added,omitempty"`
}

// Batch is what a decoder makes of one input: the signals, a reason for each
// part it ignored as irrelevant, and an error for each part it could not
// decode (poison, to be recorded, never silently dropped).
type Batch struct {
	Signals []Signal
	Ignored []string
	Poison  []error
}

// Add appends another batch's contents.
func (b *Batch) Add(o Batch) {
	b.Signals = append(b.Signals, o.Signals...)
	b.Ignored = append(b.Ignored, o.Ignored...)
	b.Poison = append(b.Poison, o.Poison...)
}

// Poison is input that could not be decoded, kept with its errors so that
// nothing is silently dropped (`appwarden history --app _poison` shows it).
type Poison struct {
	Function     string    `json:"function"`
	InvocationID string    `json:"invocationId"`
	Errors       []string  `json:"errors"`
	Body         string    `json:"body"`
	Truncated    bool      `json:"truncated,omitempty"`
	At           time.Time `json:"at"`
}
