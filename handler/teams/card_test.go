package teams_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/appwarden/appwarden/handler/appwarden"
	"github.com/appwarden/appwarden/handler/notify/notifytest"
	"github.com/appwarden/appwarden/handler/teams"
)

// node is a card decoded from its JSON, as Teams would see it.
type node = map[string]any

func decode(t *testing.T, v any) node {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var n node
	if err := json.Unmarshal(b, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// walk visits every object in a decoded card.
func walk(v any, fn func(node)) {
	switch x := v.(type) {
	case map[string]any:
		fn(x)
		for _, c := range x {
			walk(c, fn)
		}
	case []any:
		for _, c := range x {
			walk(c, fn)
		}
	}
}

// texts collects what a card says: TextBlock texts (markdown-capable),
// TextRun texts (plain), and FactSet facts.
type texts struct{ blocks, runs, facts []string }

func (t texts) all() string {
	return strings.Join(t.blocks, "\n") + "\n" + strings.Join(t.runs, "\n") + "\n" + strings.Join(t.facts, "\n")
}

func textsOf(card node) texts {
	var out texts
	walk(card["body"], func(n node) {
		switch n["type"] {
		case "TextBlock":
			out.blocks = append(out.blocks, n["text"].(string))
		case "TextRun":
			out.runs = append(out.runs, n["text"].(string))
		case "FactSet":
			for _, f := range n["facts"].([]any) {
				fm := f.(map[string]any)
				out.facts = append(out.facts, fm["title"].(string)+": "+fm["value"].(string))
			}
		}
	})
	return out
}

var atRE = regexp.MustCompile(`<at>(.*?)</at>`)

func TestCardShape(t *testing.T) {
	for _, s := range notifytest.All() {
		t.Run(s.Name, func(t *testing.T) {
			msg := decode(t, teams.Message(teams.Card(s.App, s.Decision, s.Outcome)))
			if msg["type"] != "message" {
				t.Fatalf("message type %v", msg["type"])
			}
			atts := msg["attachments"].([]any)
			if len(atts) != 1 {
				t.Fatalf("%d attachments", len(atts))
			}
			att := atts[0].(map[string]any)
			if att["contentType"] != "application/vnd.microsoft.card.adaptive" {
				t.Errorf("contentType %v", att["contentType"])
			}
			card := att["content"].(map[string]any)
			if card["type"] != "AdaptiveCard" || card["version"] != "1.5" || card["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json" {
				t.Errorf("card header: type %v version %v $schema %v", card["type"], card["version"], card["$schema"])
			}
			walk(card, func(n node) {
				if n["type"] == "Action.Submit" || n["type"] == "Action.Execute" {
					t.Errorf("%v does not work in Workflows", n["type"])
				}
			})
			b, _ := json.Marshal(msg)
			if len(b) > teams.MaxMessageBytes || len(b) >= 28*1024 {
				t.Errorf("message is %d bytes, over the limit", len(b))
			}
			// The links open the registration and the enterprise app.
			var urls []string
			for _, a := range card["actions"].([]any) {
				am := a.(map[string]any)
				if am["type"] != "Action.OpenUrl" {
					t.Errorf("action %v", am["type"])
				}
				urls = append(urls, am["url"].(string))
			}
			want := []string{
				"https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Overview/appId/" + notifytest.AppID,
				"https://entra.microsoft.com/#view/Microsoft_AAD_IAM/ManagedAppMenuBlade/~/Overview/objectId/" + notifytest.SPObject + "/appId/" + notifytest.AppID,
			}
			if !slices.Equal(urls, want) {
				t.Errorf("urls = %v\nwant %v", urls, want)
			}
		})
	}
}

// TestMentions: every owner (user) and the creator is mentioned once; the
// <at> texts in the card and the msteams entities agree exactly; the
// mentioned ids are UPNs, or object ids when there is no UPN.
func TestMentions(t *testing.T) {
	for _, s := range notifytest.All() {
		t.Run(s.Name, func(t *testing.T) {
			card := decode(t, teams.Card(s.App, s.Decision, s.Outcome))
			tx := textsOf(card)
			var inText []string
			for _, b := range tx.blocks {
				inText = append(inText, atRE.FindAllString(b, -1)...)
			}
			for _, r := range tx.runs {
				if strings.Contains(r, "<at>") && !strings.Contains(s.Name, "hostile") {
					t.Errorf("a TextRun holds a mention, which Teams would not resolve: %q", r)
				}
			}
			ents, _ := card["msteams"].(map[string]any)["entities"].([]any)
			var entTexts, ids []string
			byID := map[string]string{}
			for _, e := range ents {
				em := e.(map[string]any)
				if em["type"] != "mention" {
					t.Errorf("entity type %v", em["type"])
				}
				m := em["mentioned"].(map[string]any)
				id, name := m["id"].(string), m["name"].(string)
				if em["text"] != "<at>"+name+"</at>" {
					t.Errorf("entity text %q does not match name %q", em["text"], name)
				}
				entTexts = append(entTexts, em["text"].(string))
				ids = append(ids, id)
				byID[id] = name
			}
			sort.Strings(inText)
			sort.Strings(entTexts)
			if !slices.Equal(inText, entTexts) {
				t.Errorf("<at> in text %v\nentities       %v", inText, entTexts)
			}
			// Expected: user owners by UPN (else id), and the creator.
			want := map[string]bool{}
			for _, o := range s.App.Owners {
				if o.Type == "" || o.Type == "user" {
					want[firstOf(o.UPN, o.ID)] = true
				}
			}
			if c := s.App.Creator; c.UPN != "" || c.UserID != "" {
				want[firstOf(c.UPN, c.UserID)] = true
			}
			var wantIDs []string
			for id := range want {
				wantIDs = append(wantIDs, id)
			}
			sort.Strings(wantIDs)
			sort.Strings(ids)
			if !slices.Equal(ids, wantIDs) {
				t.Errorf("mentioned ids %v, want %v", ids, wantIDs)
			}
			for _, o := range s.App.Owners {
				name := byID[firstOf(o.UPN, o.ID)]
				if s.Name != "hostile" && name != o.DisplayName {
					t.Errorf("owner %s mentioned as %q, want %q", o.ID, name, o.DisplayName)
				}
			}
		})
	}
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// TestCardSaysWhatHappened: the app's name, ids, creation time and
// creator; every finding with its evidence; steps to fix each one.
func TestCardSaysWhatHappened(t *testing.T) {
	for _, s := range []notifytest.Sample{notifytest.Enforced(), notifytest.Audited(), notifytest.FindingsOnly(), notifytest.Ownerless()} {
		t.Run(s.Name, func(t *testing.T) {
			all := textsOf(decode(t, teams.Card(s.App, s.Decision, s.Outcome))).all()
			for _, want := range []string{s.App.DisplayName, s.App.AppID, s.App.Application.ID, s.App.ServicePrincipals[0].ID,
				s.App.Application.CreatedDateTime.Format("2006-01-02 15:04 UTC"), firstOf(s.App.Creator.DisplayName, s.App.Creator.UPN)} {
				if !strings.Contains(all, want) {
					t.Errorf("card does not say %q", want)
				}
			}
			for _, f := range s.Decision.Findings {
				if f.Severity < appwarden.SeverityMedium {
					continue
				}
				if !strings.Contains(all, f.Title) {
					t.Errorf("finding %s: title missing", f.RuleID)
				}
				for _, e := range f.Evidence {
					for _, part := range []string{e.Name, e.ID, strings.TrimPrefix(e.Detail, "client secret, ")} {
						if part != "" && !strings.Contains(all, part) {
							t.Errorf("finding %s: evidence %q missing", f.RuleID, part)
						}
					}
				}
			}
			if !strings.Contains(all, "How to fix it") || !strings.Contains(all, "How to get it back") {
				t.Error("no fix or get-back section")
			}
		})
	}
	// Concrete steps, naming the evidence.
	all := textsOf(decode(t, teams.Card(notifytest.Enforced().App, notifytest.Enforced().Decision, notifytest.Enforced().Outcome))).all()
	for _, want := range []string{
		"Remove RoleManagement.ReadWrite.Directory from the app registration's API permissions",
		"revoke the admin consent",
		`Replace the client secret "ci-deploy" (key id ` + notifytest.SecretKey + `) with a certificate`,
		"appwarden release --app " + notifytest.AppID + " --reason",
		"the security team",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("enforce card does not say %q", want)
		}
	}
	if strings.Count(all, "Remove RoleManagement.ReadWrite.Directory") != 1 {
		t.Error("a step shared by two findings is repeated")
	}
}

// TestAuditWordingDiffers: an audit card says what would have been done,
// never what was done, and the enforce card the opposite.
func TestAuditWordingDiffers(t *testing.T) {
	enf, aud := notifytest.Enforced(), notifytest.Audited()
	e := textsOf(decode(t, teams.Card(enf.App, enf.Decision, enf.Outcome))).all()
	a := textsOf(decode(t, teams.Card(aud.App, aud.Decision, aud.Outcome))).all()
	for _, want := range []string{"AppWarden contained your app", "What AppWarden did", "Disabled the enterprise app", "These changes are in effect now", "appwarden release --app"} {
		if !strings.Contains(e, want) {
			t.Errorf("enforce card lacks %q", want)
		}
		if strings.Contains(a, want) {
			t.Errorf("audit card says %q", want)
		}
	}
	for _, want := range []string{"would have contained your app (audit mode)", "What AppWarden would have done", "Would have disabled the enterprise app", "nothing below was done", "Nothing was changed"} {
		if !strings.Contains(a, want) {
			t.Errorf("audit card lacks %q", want)
		}
		if strings.Contains(e, want) {
			t.Errorf("enforce card says %q", want)
		}
	}
	if strings.Contains(strings.ToLower(a), "disabled the enterprise app (") && !strings.Contains(a, "Would have disabled") {
		t.Error("audit card claims the app was disabled")
	}
	// Outcome.Mode audit alone (DryRun unset) also reads as audit.
	aud2 := notifytest.Enforced()
	aud2.Outcome.Mode = appwarden.ModeAudit
	a2 := textsOf(decode(t, teams.Card(aud2.App, aud2.Decision, aud2.Outcome))).all()
	if !strings.Contains(a2, "Would have disabled") || strings.Contains(a2, "These changes are in effect now") {
		t.Error("Outcome.Mode audit is not worded as audit")
	}
}

// TestCardFitsTeams: a decision far too big for one message is cut, and
// the card says how much was left out.
func TestCardFitsTeams(t *testing.T) {
	s := notifytest.Huge()
	card := teams.Card(s.App, s.Decision, s.Outcome)
	b, _ := json.Marshal(teams.Message(card))
	if len(b) > teams.MaxMessageBytes {
		t.Fatalf("%d bytes", len(b))
	}
	all := textsOf(decode(t, card)).all()
	if !regexp.MustCompile(`…and \d+ more findings`).MatchString(all) {
		t.Error("no \"and N more findings\"")
	}
	if !strings.Contains(all, "appwarden history --app "+notifytest.AppID) {
		t.Error("no pointer to the whole decision")
	}
	// The most severe findings are the ones kept.
	if !strings.Contains(all, "Requests or holds a critical application permission") {
		t.Error("a critical finding was cut before lower ones")
	}
	t.Logf("huge decision: %d findings, card %d bytes", len(s.Decision.Findings), len(b))
}

// TestHostileNames: names come from app registrations anyone can create;
// they must not become links, markdown or extra mentions.
func TestHostileNames(t *testing.T) {
	s := notifytest.Hostile()
	card := decode(t, teams.Card(s.App, s.Decision, s.Outcome))
	tx := textsOf(card)
	for _, b := range tx.blocks {
		if strings.Contains(b, "://") || strings.Contains(b, "](") || strings.Contains(b, "**") {
			t.Errorf("untrusted text in a markdown TextBlock: %q", b)
		}
		if strings.Contains(b, "<at>Eve</at>") || strings.Contains(b, "<at>CEO</at>") {
			t.Errorf("injected mention in %q", b)
		}
	}
	found := false
	for _, r := range tx.runs {
		if r == s.App.DisplayName {
			found = true
		}
	}
	if !found {
		t.Error("the app's name is not shown verbatim in a (plain) TextRun")
	}
	for _, e := range card["msteams"].(map[string]any)["entities"].([]any) {
		name := e.(map[string]any)["mentioned"].(map[string]any)["name"].(string)
		if strings.ContainsAny(name, "<>[]()") {
			t.Errorf("mention name %q not sanitized", name)
		}
	}
}

// An escalation's card names what the change added, who made it and when,
// says what AppWarden removed and how to undo it, and leaves out the
// posture the app held before.
func TestEscalationCardNamesTheChange(t *testing.T) {
	s := notifytest.Escalation()
	card := decode(t, teams.Card(s.App, s.Decision, s.Outcome))
	all := textsOf(card).all()
	for _, want := range []string{
		"What changed", "Add service principal credentials", "eve@contoso.example", "2026-11-30 22:14 UTC",
		notifytest.AddedKey, "backup", "Removed the credential " + notifytest.AddedKey, "appwarden release --app " + notifytest.AppID,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("card does not say %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "Application.ReadWrite.All") {
		t.Error("card shows the posture the app held before the change (a baseline finding)")
	}
}
