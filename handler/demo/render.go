package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// page renders one Adaptive Card with Microsoft's own renderer (npm
// adaptivecards). Mentions show as @Name: the reference renderer has none.
var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8">
<style>html, body { margin: 0; background: #fff; } #frame { width: 640px; margin: 16px; border: 1px solid #e0e0e0; border-radius: 6px; overflow: hidden; }</style>
<script src="{{.Script}}"></script>
</head><body><div id="frame"></div>
<script>
  const card = {{.Card}};
  (function strip(n) {
    if (Array.isArray(n)) return n.forEach(strip);
    if (n && typeof n === "object") {
      if (n.type === "TextBlock" && typeof n.text === "string") n.text = n.text.replace(/<at>(.*?)<\/at>/g, "@$1");
      Object.keys(n).forEach(k => strip(n[k]));
    }
  })(card.body);
  const ac = new AdaptiveCards.AdaptiveCard();
  ac.hostConfig = AdaptiveCards.defaultHostConfig;
  ac.parse(card);
  document.getElementById("frame").appendChild(ac.render());
</script>
</body></html>
`))

// Renderer turns cards into PNG pictures with headless Chromium.
type Renderer struct {
	Chromium string // the browser binary
	Script   string // adaptivecards.min.js
}

// FindRenderer looks for Chromium on PATH and the adaptivecards library in
// tests/node_modules above dir. ok is false when either is missing.
func FindRenderer(dir string) (Renderer, bool) {
	var r Renderer
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			r.Chromium = p
			break
		}
	}
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "tests", "node_modules", "adaptivecards", "dist", "adaptivecards.min.js")
		if _, err := os.Stat(p); err == nil {
			r.Script = p
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return r, r.Chromium != "" && r.Script != ""
}

// PNG renders card into pngPath.
func (r Renderer) PNG(ctx context.Context, card any, pngPath string) error {
	raw, err := json.Marshal(card)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := page.Execute(&b, map[string]any{"Script": template.URL("file://" + r.Script), "Card": template.JS(raw)}); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "appwarden-render-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	htmlPath := filepath.Join(tmp, "card.html")
	if err := os.WriteFile(htmlPath, b.Bytes(), 0o644); err != nil {
		return err
	}
	abs, err := filepath.Abs(pngPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.Chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(tmp, "profile"), "--hide-scrollbars", "--allow-file-access-from-files",
		"--virtual-time-budget=5000", "--window-size=672,2400", "--screenshot="+abs, "file://"+htmlPath)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("chromium: %v: %s", err, bytes.TrimSpace(out))
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("chromium wrote no screenshot: %s", bytes.TrimSpace(out))
	}
	return nil
}
