package appwarden

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Expiring is one credential that expires within a warning threshold (or
// has expired and is still present), as the daily expiry pass reports it
// to the people who can renew it.
type Expiring struct {
	AppID       string `json:"appId"`
	DisplayName string `json:"displayName"`
	// ObjectID is the application object's id (or the service principal's,
	// for a credential on it): the Entra admin center's page of the app.
	ObjectID string `json:"objectId,omitempty"`
	// Credential is the secret or certificate: its keyId, display name,
	// type and expiry.
	Credential Credential `json:"credential"`
	// Kind is CredentialPassword or CredentialCertificate; On is
	// OnApplication or OnServicePrincipal.
	Kind string `json:"kind"`
	On   string `json:"on"`
	// Threshold is the warning threshold reached (30 days, 7 days...); zero
	// when the credential has already expired.
	Threshold time.Duration `json:"threshold"`
	Expired   bool          `json:"expired,omitempty"`
	// Owners are the app's owners; none sends the warning to the security
	// channel.
	Owners []Principal `json:"owners,omitempty"`
}

// ExpiryNotifier tells owners (and, for an ownerless app, the security
// channel) about credentials that expire soon: one card per app, one digest
// per owner with many apps.
type ExpiryNotifier interface {
	NotifyExpiring(ctx context.Context, log *slog.Logger, due []Expiring) error
}

// ThresholdLabel names a warning threshold (Expiring.Threshold, or a scan's
// window) for people: "30 days", "1 day"; "expired" for zero; any other
// duration as Go writes it ("12h0m0s").
func ThresholdLabel(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == 0:
		return "expired"
	case d == day:
		return "1 day"
	case d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}
