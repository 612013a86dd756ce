// Package render_test checks AppWarden's Teams cards with Microsoft's own
// Adaptive Cards library (npm `adaptivecards`): every sample card must
// parse and validate cleanly against schema 1.5 (validate.js), and render
// in headless Chromium to a real, non-blank picture. One of the pictures is
// the README's screenshot (docs/img/card-enforce.png; refresh it with
// `go test ./tests/render -run TestRender -update`).
package render_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/appwarden/appwarden/handler/notify/notifytest"
	"github.com/appwarden/appwarden/handler/teams"
	"github.com/appwarden/appwarden/tests/ci"
)

var update = flag.Bool("update", false, "rewrite docs/img/card-enforce.png from the enforce sample")

// root is the repository root (where go.mod is).
func root(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// need skips a test when a tool is missing, except under CI (CI=true),
// where a missing tool is a failure.
func need(t *testing.T, what string, err error) {
	t.Helper()
	ci.Missing(t, what, err)
}

func adaptiveCardsJS(t *testing.T) string {
	t.Helper()
	p := filepath.Join(root(t), "tests", "node_modules", "adaptivecards", "dist", "adaptivecards.min.js")
	_, err := os.Stat(p)
	need(t, "npm adaptivecards", err)
	return p
}

// writeCards writes every sample's Teams message to dir, one file each.
func writeCards(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, s := range notifytest.All() {
		msgs := map[string]any{s.Name: teams.Message(teams.Card(s.App, s.Decision, s.Outcome))}
		switch {
		case s.IsExpiryDigest():
			msgs = map[string]any{}
			for i, part := range teams.ExpiryDigest(s.ExpiryDigest()) {
				msgs[fmt.Sprintf("%s-%d", s.Name, i+1)] = part.Message
			}
		case len(s.Expiry) > 0:
			w := s.Warning()
			if s.Name == "expiry-ownerless" {
				w.Routing = "Sent to the security team because the app has no owners: nobody else will renew its credentials."
			}
			msgs = map[string]any{s.Name: teams.Message(teams.ExpiryCard(w))}
		case len(s.Digest) > 0:
			// A digest is one message or several: each is checked.
			msgs = map[string]any{}
			for i, part := range teams.Digest(s.Briefs(), "Sent to the security team.") {
				msgs[fmt.Sprintf("%s-%d", s.Name, i+1)] = part.Message
			}
		}
		for name, msg := range msgs {
			b, err := json.MarshalIndent(msg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, name+".json")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			files[name] = p
		}
	}
	alert, _ := json.Marshal(teams.Message(teams.AlertCard("AppWarden blast-radius limit reached: 21 enforce actions in the last hour (limit 20). Run `appwarden limit reset --by <upn>`.")))
	p := filepath.Join(dir, "alert.json")
	if err := os.WriteFile(p, alert, 0o644); err != nil {
		t.Fatal(err)
	}
	files["alert"] = p
	return files
}

type validation struct {
	File     string   `json:"file"`
	Card     int      `json:"card"`
	Problems []string `json:"problems"`
	Elements int      `json:"elements"`
	Version  string   `json:"version"`
}

func runValidate(t *testing.T, files ...string) ([]validation, error) {
	t.Helper()
	node, err := exec.LookPath("node")
	need(t, "node", err)
	adaptiveCardsJS(t)
	cmd := exec.Command(node, append([]string{filepath.Join(root(t), "tests", "render", "validate.js")}, files...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var res []validation
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("validate.js: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	return res, runErr
}

// TestCardsValidate parses and validates every sample card with the
// official Adaptive Cards library, targeting schema 1.5.
func TestCardsValidate(t *testing.T) {
	files := writeCards(t, t.TempDir())
	var list []string
	for _, f := range files {
		list = append(list, f)
	}
	res, err := runValidate(t, list...)
	if len(res) != len(files) {
		t.Fatalf("validate.js checked %d cards, want %d", len(res), len(files))
	}
	for _, r := range res {
		if len(r.Problems) > 0 {
			t.Errorf("%s: %d problems:\n  %s", filepath.Base(r.File), len(r.Problems), strings.Join(r.Problems, "\n  "))
		}
		if r.Version != "1.5" || r.Elements < 4 {
			t.Errorf("%s: version %q, %d elements: not a real card", filepath.Base(r.File), r.Version, r.Elements)
		}
	}
	if err != nil && !t.Failed() {
		t.Errorf("validate.js failed: %v", err)
	}
}

// TestValidatorCatchesMistakes makes sure the validator is not a rubber
// stamp: a card with typical mistakes must be refused, each one named.
func TestValidatorCatchesMistakes(t *testing.T) {
	bad := map[string]any{
		"type": "AdaptiveCard", "version": "1.5", "$schema": teams.CardSchema,
		"body": []any{
			map[string]any{"type": "TextBlock", "text": "x", "wrapp": true},
			map[string]any{"type": "TextBlock", "text": "y", "color": "purple"},
			map[string]any{"type": "RichTextBlock", "inlines": []any{map[string]any{"type": "TextRun", "text": "a", "fontTyp": "Monospace"}}},
			map[string]any{"type": "Fancy"},
		},
		"actions": []any{
			map[string]any{"type": "Action.OpenUrl", "title": "no url"},
			map[string]any{"type": "Action.Submit", "title": "s"},
		},
	}
	p := filepath.Join(t.TempDir(), "bad.json")
	b, _ := json.Marshal(bad)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := runValidate(t, p)
	if err == nil {
		t.Error("validate.js accepted a bad card")
	}
	all := ""
	for _, r := range res {
		all += strings.Join(r.Problems, "\n") + "\n"
	}
	for _, want := range []string{"wrapp", `"purple"`, "fontTyp", `"Fancy"`, `"url" must be set`, "Action.Submit"} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem reported about %s; got:\n%s", want, all)
		}
	}
}

// page is the HTML that renders one card with the official renderer.
var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8">
<style>
  html, body { margin: 0; background: #ffffff; }
  #frame { width: {{.Width}}px; margin: 16px; border: 1px solid #e0e0e0; border-radius: 6px; overflow: hidden; }
</style>
<script src="{{.Script}}"></script>
</head><body><div id="frame"></div>
<script>
  const card = {{.Card}};
  // Teams shows <at>Name</at> as a highlighted mention of that user; the
  // reference renderer knows nothing of mentions, so show them as @Name.
  (function strip(n) {
    if (Array.isArray(n)) return n.forEach(strip);
    if (n && typeof n === "object") {
      if (n.type === "TextBlock" && typeof n.text === "string") n.text = n.text.replace(/<at>(.*?)<\/at>/g, "@$1");
      Object.keys(n).forEach(k => strip(n[k]));
    }
  })(card.body);
  const ac = new AdaptiveCards.AdaptiveCard();
  // The library's default host config (its container styles give the
  // header band its color), with Teams-like tighter spacing.
  const hc = AdaptiveCards.defaultHostConfig;
  Object.assign(hc.spacing, { small: 4, default: 8, medium: 16, large: 20, extraLarge: 24, padding: 16 });
  hc.fontTypes.default.fontFamily = "'Segoe UI', 'Liberation Sans', 'DejaVu Sans', sans-serif";
  ac.hostConfig = hc;
  ac.parse(card);
  const el = ac.render();
  document.getElementById("frame").appendChild(el);
  document.title = "rendered " + document.getElementById("frame").offsetHeight;
</script>
</body></html>
`))

func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	need(t, "chromium", fmt.Errorf("no chromium, chromium-browser or google-chrome on PATH"))
	return ""
}

// screenshot renders a card in headless Chromium and returns the PNG,
// cropped to the card.
func screenshot(t *testing.T, bin, script string, card any, dir, name string) image.Image {
	t.Helper()
	raw, err := json.Marshal(card)
	if err != nil {
		t.Fatal(err)
	}
	htmlPath := filepath.Join(dir, name+".html")
	var b bytes.Buffer
	if err := page.Execute(&b, map[string]any{
		"Width": 640, "Script": template.URL("file://" + script), "Card": template.JS(raw),
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(htmlPath, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	pngPath := filepath.Join(dir, name+".png")
	const winW, winH = 672, 6000
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--hide-scrollbars", "--force-device-scale-factor=1",
		"--allow-file-access-from-files", "--virtual-time-budget=5000",
		fmt.Sprintf("--window-size=%d,%d", winW, winH), "--screenshot=" + pngPath,
		"file://" + htmlPath,
	}
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, out.String())
		}
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("chromium did not finish in 90s\n%s", out.String())
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, out.String())
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: not a PNG: %v", pngPath, err)
	}
	if img.Bounds().Dx() != winW || img.Bounds().Dy() != winH {
		t.Fatalf("%s: %v, want %dx%d", name, img.Bounds(), winW, winH)
	}
	return crop(t, img, name)
}

func white(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r > 0xf000 && g > 0xf000 && b > 0xf000
}

// crop cuts the empty page below the card, and checks the card ended
// before the window did.
func crop(t *testing.T, img image.Image, name string) image.Image {
	t.Helper()
	bnd := img.Bounds()
	last := -1
	for y := bnd.Max.Y - 1; y >= bnd.Min.Y && last < 0; y-- {
		for x := bnd.Min.X; x < bnd.Max.X; x++ {
			if !white(img.At(x, y)) {
				last = y
				break
			}
		}
	}
	if last < 0 {
		t.Fatalf("%s: the screenshot is blank", name)
	}
	if last >= bnd.Max.Y-2 {
		t.Fatalf("%s: the card is taller than the window", name)
	}
	out := image.NewRGBA(image.Rect(0, 0, bnd.Dx(), last+17))
	draw.Draw(out, out.Bounds(), img, bnd.Min, draw.Src)
	return out
}

// inspect checks that a picture is a plausible card: sensible size, mostly
// white with real content, and the colored header band.
func inspect(t *testing.T, name string, img image.Image) {
	t.Helper()
	b := img.Bounds()
	if b.Dx() < 400 || b.Dy() < 300 || b.Dy() > 6000 {
		t.Errorf("%s: %dx%d is not a sensible card size", name, b.Dx(), b.Dy())
	}
	var dark, colored, total int
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			total++
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			if r < 128 && g < 128 && bl < 128 {
				dark++ // text
			}
			if max(r, g, bl)-min(r, g, bl) > 40 {
				colored++ // header band, severity labels
			}
		}
	}
	if dark*1000 < total*5 {
		t.Errorf("%s: only %d of %d sampled pixels are text-dark: is anything rendered?", name, dark, total)
	}
	if colored*1000 < total*5 {
		t.Errorf("%s: only %d of %d sampled pixels are colored: no header band or severity color", name, colored, total)
	}
}

func writePNG(t *testing.T, p string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRender renders sample cards in headless Chromium with the official
// renderer and checks the pictures.
func TestRender(t *testing.T) {
	script := adaptiveCardsJS(t)
	bin := chromium(t)
	dir := t.TempDir()
	if d := os.Getenv("APPWARDEN_RENDER_DIR"); d != "" {
		dir = d // keep the pictures to look at
	}
	// The first message of a digest, as the security channel gets it.
	digest := teams.Digest(notifytest.Digest().Briefs(), "Sent to the security team.")[0].Message
	dimg := screenshot(t, bin, script, digest["attachments"].([]any)[0].(map[string]any)["content"], dir, "digest")
	inspect(t, "digest", dimg)
	writePNG(t, filepath.Join(dir, "digest-card.png"), dimg)
	// The expiry warnings: one app's card, and an owner's digest of five.
	expiry := map[string]any{
		"expiry":        teams.ExpiryCard(notifytest.ExpiryCard().Warning()),
		"expiry-digest": teams.ExpiryDigest(notifytest.ExpiryOwnerDigest().ExpiryDigest())[0].Message["attachments"].([]any)[0].(map[string]any)["content"],
	}
	for _, name := range []string{"expiry", "expiry-digest"} {
		img := screenshot(t, bin, script, expiry[name], dir, name)
		inspect(t, name, img)
		writePNG(t, filepath.Join(dir, name+"-card.png"), img)
	}
	for _, s := range []notifytest.Sample{notifytest.Enforced(), notifytest.Audited(), notifytest.FindingsOnly(), notifytest.Ownerless()} {
		img := screenshot(t, bin, script, teams.Card(s.App, s.Decision, s.Outcome), dir, s.Name)
		inspect(t, s.Name, img)
		out := filepath.Join(dir, s.Name+"-card.png")
		writePNG(t, out, img)
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width < 400 || cfg.Height < 300 {
			t.Errorf("%s: written PNG %v: %dx%d", s.Name, err, cfg.Width, cfg.Height)
		}
		if s.Name == "enforce" {
			doc := filepath.Join(root(t), "docs", "img", "card-enforce.png")
			if _, err := os.Stat(doc); *update || os.IsNotExist(err) {
				writePNG(t, doc, img)
				t.Logf("wrote %s", doc)
			}
		}
	}
}
