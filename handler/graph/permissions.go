package graph

import (
	_ "embed"
	"encoding/json"
	"strings"
	"sync"

	"github.com/appwarden/appwarden/handler/appwarden"
)

// MicrosoftGraphAppID is Microsoft Graph's appId in every tenant.
const MicrosoftGraphAppID = "00000003-0000-0000-c000-000000000000"

// graphPermissionsJSON is a snapshot of every Microsoft Graph permission with
// Microsoft's privilege level (MIT, microsoftgraph/microsoft-graph-devx-content;
// the LICENSE is beside it in data/). It is the fallback for names, and the
// only source of privilege levels.
//
//go:embed data/graph-permissions.json
var graphPermissionsJSON []byte

// permDef is a permission's definition on its resource.
type permDef struct {
	Name      string
	Type      string // appwarden.PermissionApplication or PermissionDelegated
	Privilege int
}

// resource is a resource service principal's permission definitions.
type resource struct {
	AppID, ID, Name string
	Roles           map[string]permDef // app roles by id
	Scopes          map[string]permDef // delegated scopes by id
	ScopesByName    map[string]string  // scope value (lowercase) → id
}

// permissionCatalog caches resource service principals by appId and by
// object id, so each resource is read from Graph once per process.
type permissionCatalog struct {
	mu       sync.RWMutex
	byAppID  map[string]*resource
	byID     map[string]*resource
	embedded *resource
}

func newPermissionCatalog() *permissionCatalog {
	return &permissionCatalog{byAppID: map[string]*resource{}, byID: map[string]*resource{}, embedded: loadEmbedded()}
}

func loadEmbedded() *resource {
	var file struct {
		Permissions []struct {
			ID             string `json:"id"`
			Value          string `json:"value"`
			Type           string `json:"type"`
			PrivilegeLevel *int   `json:"privilegeLevel"`
		} `json:"permissions"`
	}
	r := &resource{AppID: MicrosoftGraphAppID, Name: "Microsoft Graph", Roles: map[string]permDef{}, Scopes: map[string]permDef{}, ScopesByName: map[string]string{}}
	if err := json.Unmarshal(graphPermissionsJSON, &file); err != nil {
		panic("graph: embedded graph-permissions.json is corrupt: " + err.Error())
	}
	for _, p := range file.Permissions {
		d := permDef{Name: p.Value}
		if p.PrivilegeLevel != nil {
			d.Privilege = *p.PrivilegeLevel
		}
		id := strings.ToLower(p.ID)
		if p.Type == "Application" {
			d.Type = appwarden.PermissionApplication
			r.Roles[id] = d
		} else {
			d.Type = appwarden.PermissionDelegated
			r.Scopes[id] = d
			r.ScopesByName[strings.ToLower(p.Value)] = id
		}
	}
	return r
}

func (c *permissionCatalog) lookup(appID, id string) (*resource, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if appID != "" {
		r, ok := c.byAppID[strings.ToLower(appID)]
		return r, ok
	}
	r, ok := c.byID[strings.ToLower(id)]
	return r, ok
}

func (c *permissionCatalog) add(r *resource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byAppID[strings.ToLower(r.AppID)] = r
	if r.ID != "" {
		c.byID[strings.ToLower(r.ID)] = r
	}
}

// define names a permission: from the resource's own definitions, falling
// back to the embedded Graph list, and keeping the id as the name when
// nothing knows it. The privilege level comes from the embedded list.
func (c *permissionCatalog) define(res *resource, resourceAppID, id, kind string) appwarden.Permission {
	id = strings.ToLower(id)
	p := appwarden.Permission{ResourceAppID: resourceAppID, ID: id, Name: id, Type: kind}
	if res != nil {
		p.ResourceName = res.Name
		defs := res.Roles
		if kind == appwarden.PermissionDelegated {
			defs = res.Scopes
		}
		if d, ok := defs[id]; ok {
			p.Name = d.Name
		}
	}
	if strings.EqualFold(resourceAppID, MicrosoftGraphAppID) {
		if p.ResourceName == "" {
			p.ResourceName = c.embedded.Name
		}
		defs := c.embedded.Roles
		if kind == appwarden.PermissionDelegated {
			defs = c.embedded.Scopes
		}
		if d, ok := defs[id]; ok {
			if p.Name == id {
				p.Name = d.Name
			}
			p.Privilege = d.Privilege
		}
	}
	return p
}

// scopeID finds a delegated scope's id by its value on a resource.
func (c *permissionCatalog) scopeID(res *resource, resourceAppID, value string) string {
	v := strings.ToLower(value)
	if res != nil {
		if id, ok := res.ScopesByName[v]; ok {
			return id
		}
	}
	if strings.EqualFold(resourceAppID, MicrosoftGraphAppID) {
		return c.embedded.ScopesByName[v]
	}
	return ""
}
