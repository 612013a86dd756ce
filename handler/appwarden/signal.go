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
	ProviderRegistered      SignalKind = "ProviderRegistered"
	SweepRequested          SignalKind = "SweepRequested"
)

// SignalKinds lists every kind, in a stable order.
var SignalKinds = []SignalKind{
	AppCreated, ServicePrincipalCreated, CredentialAdded, OwnerAdded,
	ConsentGranted, AppRoleGranted, ProviderRegistered, SweepRequested,
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
}
