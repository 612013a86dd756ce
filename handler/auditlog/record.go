// Package auditlog decodes Entra directoryAudit records into signals. It
// accepts the three shapes a record arrives in: Graph's own shape (as
// republished on an Event Grid custom topic), the diagnostic-setting record
// (the audit fields under "properties"), and the Event Hub stream's
// {"records":[...]} envelope around diagnostic records.
package auditlog

import (
	"encoding/json"
	"time"
)

// record is the subset of a directoryAudit that AppWarden reads. Only the
// fields checked by recordFields are decoded, so every decode error has
// already been reported with its path.
type record struct {
	ID                  string           `json:"id"`
	Category            string           `json:"category"`
	Result              string           `json:"result"`
	ResultReason        string           `json:"resultReason"`
	ActivityDisplayName string           `json:"activityDisplayName"`
	ActivityDateTime    string           `json:"activityDateTime"`
	InitiatedBy         initiatedBy      `json:"initiatedBy"`
	TargetResources     []targetResource `json:"targetResources"`
	AdditionalDetails   []keyValue       `json:"additionalDetails"`
}

type initiatedBy struct {
	User *struct {
		ID                string `json:"id"`
		DisplayName       string `json:"displayName"`
		UserPrincipalName string `json:"userPrincipalName"`
	} `json:"user"`
	App *struct {
		AppID              string `json:"appId"`
		DisplayName        string `json:"displayName"`
		ServicePrincipalID string `json:"servicePrincipalId"`
	} `json:"app"`
}

type targetResource struct {
	ID                 string             `json:"id"`
	DisplayName        string             `json:"displayName"`
	Type               string             `json:"type"`
	ModifiedProperties []modifiedProperty `json:"modifiedProperties"`
}

// modifiedProperty values are JSON-encoded strings: "[\"5bee10b5-...\"]".
type modifiedProperty struct {
	DisplayName string `json:"displayName"`
	NewValue    string `json:"newValue"`
}

type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (r *record) time() time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999"} {
		if t, err := time.Parse(layout, r.ActivityDateTime); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func (r *record) detail(key string) string {
	for _, kv := range r.AdditionalDetails {
		if kv.Key == key {
			return kv.Value
		}
	}
	return ""
}

// first returns the first string inside a modified property's JSON-encoded
// value: `["x"]` and `"x"` both give x.
func (t *targetResource) first(name string) string {
	for _, p := range t.ModifiedProperties {
		if p.DisplayName != name {
			continue
		}
		var list []any
		if json.Unmarshal([]byte(p.NewValue), &list) == nil {
			for _, v := range list {
				if s, ok := v.(string); ok && s != "" {
					return s
				}
			}
			return ""
		}
		var s string
		if json.Unmarshal([]byte(p.NewValue), &s) == nil {
			return s
		}
	}
	return ""
}
