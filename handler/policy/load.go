package policy

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	"gopkg.in/yaml.v3"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// Parse compiles a policy from YAML. name is used in error messages and
// should be the file's name. On failure the error is an Errors listing every
// problem found.
func Parse(name string, data []byte) (*Policy, error) {
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	l := &loader{nodeReader: nodeReader{file: name}}
	p := l.policy(root)
	if len(l.errs) > 0 {
		// In file order, as a reader fixes them.
		slices.SortStableFunc(l.errs, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
		return nil, l.errs
	}
	sum := sha256.Sum256(data)
	p.version = p.apiVersion + "@sha256:" + hex.EncodeToString(sum[:])[:12]
	return p, nil
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML reads exactly one YAML document, turning the YAML library's
// "yaml: line N: ..." messages into the same file:line form as every other
// load error.
func parseYAML(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: name, Msg: "empty policy: want a YAML document with apiVersion: " + APIVersion}}
		}
		return nil, Errors{yamlError(name, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, Errors{yamlError(name, err)}
		}
		return nil, Errors{{File: name, Line: extra.Line, Msg: "want exactly one YAML document; remove the second one (---)"}}
	}
	if len(doc.Content) == 0 {
		return nil, Errors{{File: name, Msg: "empty policy"}}
	}
	return doc.Content[0], nil
}

func yamlError(name string, err error) *Error {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Msg: "bad YAML: " + m[2]}
	}
	return &Error{File: name, Msg: "bad YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// loader builds a Policy from the YAML tree, collecting every error.
type loader struct {
	nodeReader
	// env compiles conditions and evidence; escEnv adds `matched` for
	// escalations.
	env    *cel.Env
	escEnv *cel.Env
}

var topFields = []string{"apiVersion", "kind", "description", "notifyMinSeverity", "allowlist", "lists", "durations", "rules", "exceptions"}

func (l *loader) policy(root *yaml.Node) *Policy {
	top := l.mapping(root, "", topFields...)
	if top == nil {
		return nil
	}
	p := &Policy{notifyMin: appwarden.SeverityMedium, allowlist: map[string]string{}}
	if n := l.required(top, root, "", "apiVersion"); n != nil {
		if v, ok := l.str(n, "apiVersion"); ok {
			if v != APIVersion {
				l.fail(n, "apiVersion", "unsupported version %q (want %s)", v, APIVersion)
			}
			p.apiVersion = v
		}
	}
	if f, ok := top["kind"]; ok {
		if v, ok := l.str(f.value, "kind"); ok && v != "Policy" {
			l.fail(f.value, "kind", "want Policy, got %q", v)
		}
	}
	if f, ok := top["description"]; ok {
		l.str(f.value, "description")
	}
	if f, ok := top["notifyMinSeverity"]; ok {
		if s, ok := l.severity(f.value, "notifyMinSeverity"); ok {
			p.notifyMin = s
		}
	}
	if f, ok := top["allowlist"]; ok {
		l.allowlist(f.value, p.allowlist)
	}
	var consts constants
	if f, ok := top["lists"]; ok {
		consts.lists = l.lists(f.value)
	}
	if f, ok := top["durations"]; ok {
		consts.durations = l.durations(f.value, consts.lists)
	}
	env, err := newEnv(consts)
	if err != nil {
		l.fail(root, "", "cannot build the CEL environment: %v", err)
		return nil
	}
	l.env = env
	if l.escEnv, err = env.Extend(cel.Variable("matched", cel.ListType(cel.DynType))); err != nil {
		l.fail(root, "", "cannot build the CEL environment: %v", err)
		return nil
	}
	if n := l.required(top, root, "", "rules"); n != nil {
		p.rules = l.rules(n)
	}
	if f, ok := top["exceptions"]; ok {
		p.exceptions = l.exceptions(f.value, p.rules)
	}
	return p
}

func (l *loader) severity(n *yaml.Node, path string) (appwarden.Severity, bool) {
	s, ok := l.str(n, path)
	if !ok {
		return 0, false
	}
	v, err := appwarden.ParseSeverity(s)
	if err != nil {
		l.fail(n, path, "%v", err)
		return 0, false
	}
	return v, true
}

func (l *loader) allowlist(n *yaml.Node, into map[string]string) {
	for i, item := range l.seq(n, "allowlist") {
		path := index("allowlist", i)
		m := l.mapping(item, path, "appId", "reason")
		if m == nil {
			continue
		}
		id, okID := l.nonEmptyField(m, item, path, "appId")
		reason, okReason := l.nonEmptyField(m, item, path, "reason")
		if okID && okReason {
			into[strings.ToLower(id)] = reason
		}
	}
}

// nonEmptyField reads a required, non-blank string field of a mapping.
func (l *loader) nonEmptyField(m map[string]field, owner *yaml.Node, path, name string) (string, bool) {
	n := l.required(m, owner, path, name)
	if n == nil {
		return "", false
	}
	return l.nonEmpty(n, joinPath(path, name))
}
