package appwarden

import "strings"

// Guard names the apps AppWarden must never act on, whatever a policy says.
// Policy consults it to mark a Decision protected, and remediation consults
// it again before every write, so that no single bug can touch these apps.
type Guard struct {
	// SelfAppID is AppWarden's own appId (AZURE_CLIENT_ID).
	SelfAppID string
	// BreakGlass lists appIds that are never acted on.
	BreakGlass []string
	// ActOnMicrosoftApps and ActOnManagedIdentities are an operator's
	// opt-in (APPWARDEN_ACT_ON_MICROSOFT_APPS, _MANAGED_IDENTITIES) to let
	// policy act on Microsoft first-party apps or managed identities, say to
	// remove a credential someone added to one. Off, they are reported and
	// never written to, whatever the policy says.
	ActOnMicrosoftApps     bool
	ActOnManagedIdentities bool
}

// Protected returns why the app must never be acted on, or "" when it may be.
func (g Guard) Protected(app *App) string {
	switch {
	case app == nil:
		return "no app"
	case g.SelfAppID != "" && strings.EqualFold(app.AppID, g.SelfAppID):
		return "AppWarden's own app"
	case app.IsMicrosoftFirstParty() && !g.ActOnMicrosoftApps:
		return "Microsoft first-party app"
	case app.IsManagedIdentity() && !g.ActOnManagedIdentities:
		return "managed identity"
	}
	for _, id := range g.BreakGlass {
		if strings.EqualFold(strings.TrimSpace(id), app.AppID) {
			return "on the break-glass list"
		}
	}
	return ""
}
