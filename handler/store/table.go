package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/appwarden/appwarden/handler/appwarden"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// TableName is the table AppWarden keeps its state in.
const TableName = "appwarden"

// chunk is below Table Storage's 64 KiB (32 K UTF-16 characters) limit per
// string property; larger data is split across Data0, Data1...
const chunk = 30000

// Table is the Azure Table Storage store. Conditional writes map directly
// onto the service: Put is an insert (409 when the entity exists), Replace
// is an update with If-Match.
type Table struct {
	client *aztables.Client
}

// NewTableFromConnectionString opens the state table through a connection
// string (AzureWebJobsStorage, or Azurite's), creating it if needed.
func NewTableFromConnectionString(ctx context.Context, conn string) (*Table, error) {
	svc, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	if err != nil {
		return nil, fmt.Errorf("store: table service from connection string: %w", err)
	}
	return openTable(ctx, svc)
}

// NewTableWithCredential opens the state table at serviceURL
// (https://<account>.table.core.windows.net) with a token credential (the
// managed identity), creating it if needed.
func NewTableWithCredential(ctx context.Context, serviceURL string, cred azcore.TokenCredential) (*Table, error) {
	svc, err := aztables.NewServiceClient(serviceURL, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("store: table service %s: %w", serviceURL, err)
	}
	return openTable(ctx, svc)
}

func openTable(ctx context.Context, svc *aztables.ServiceClient) (*Table, error) {
	if _, err := svc.CreateTable(ctx, TableName, nil); err != nil && !hasCode(err, aztables.TableAlreadyExists, http.StatusConflict) {
		return nil, fmt.Errorf("store: creating table %s: %w", TableName, err)
	}
	return &Table{client: svc.NewClient(TableName)}, nil
}

func hasCode(err error, code aztables.TableErrorCode, status int) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	return re.ErrorCode == string(code) || re.StatusCode == status
}

// entity is a Record as Table Storage holds it.
func entity(rec appwarden.Record) ([]byte, error) {
	e := map[string]any{
		"PartitionKey": escapeKey(rec.Partition),
		"RowKey":       escapeKey(rec.Key),
		"Kind":         rec.Kind,
		"At":           rec.Time.UTC().Format(time.RFC3339Nano),
	}
	data := string(rec.Data)
	for i := 0; len(data) > 0; i++ {
		n := min(chunk, len(data))
		e["Data"+strconv.Itoa(i)] = data[:n]
		data = data[n:]
	}
	return json.Marshal(e)
}

func record(raw []byte, etag azcore.ETag) (appwarden.Record, error) {
	var e map[string]any
	if err := json.Unmarshal(raw, &e); err != nil {
		return appwarden.Record{}, fmt.Errorf("store: decoding entity: %w", err)
	}
	s := func(k string) string { v, _ := e[k].(string); return v }
	rec := appwarden.Record{Partition: unescapeKey(s("PartitionKey")), Key: unescapeKey(s("RowKey")), Kind: s("Kind"), ETag: string(etag)}
	rec.Time, _ = time.Parse(time.RFC3339Nano, s("At"))
	var b strings.Builder
	for i := 0; ; i++ {
		part, ok := e["Data"+strconv.Itoa(i)].(string)
		if !ok {
			break
		}
		b.WriteString(part)
	}
	if b.Len() > 0 {
		rec.Data = json.RawMessage(b.String())
	}
	if rec.ETag == "" {
		rec.ETag = s("odata.etag")
	}
	return rec, nil
}

// Table keys may not hold / \ # ? or control characters; escape them.
var keyEscaper = strings.NewReplacer("%", "%25", "/", "%2F", "\\", "%5C", "#", "%23", "?", "%3F", "\t", "%09", "\n", "%0A", "\r", "%0D")

func escapeKey(k string) string { return keyEscaper.Replace(k) }

func unescapeKey(k string) string {
	if !strings.Contains(k, "%") {
		return k
	}
	r := strings.NewReplacer("%2F", "/", "%5C", "\\", "%23", "#", "%3F", "?", "%09", "\t", "%0A", "\n", "%0D", "\r", "%25", "%")
	return r.Replace(k)
}

// Put implements Store.
func (t *Table) Put(ctx context.Context, rec appwarden.Record) (bool, error) {
	e, err := entity(rec)
	if err != nil {
		return false, err
	}
	if _, err := t.client.AddEntity(ctx, e, nil); err != nil {
		if hasCode(err, aztables.EntityAlreadyExists, http.StatusConflict) {
			return false, nil
		}
		return false, fmt.Errorf("store: inserting %s/%s: %w", rec.Partition, rec.Key, err)
	}
	return true, nil
}

// Get implements Store.
func (t *Table) Get(ctx context.Context, partition, key string) (appwarden.Record, bool, error) {
	resp, err := t.client.GetEntity(ctx, escapeKey(partition), escapeKey(key), nil)
	if err != nil {
		if hasCode(err, aztables.ResourceNotFound, http.StatusNotFound) {
			return appwarden.Record{}, false, nil
		}
		return appwarden.Record{}, false, fmt.Errorf("store: reading %s/%s: %w", partition, key, err)
	}
	rec, err := record(resp.Value, resp.ETag)
	return rec, err == nil, err
}

// Replace implements Store.
func (t *Table) Replace(ctx context.Context, rec appwarden.Record) (string, error) {
	e, err := entity(rec)
	if err != nil {
		return "", err
	}
	if rec.ETag == "" {
		resp, err := t.client.UpsertEntity(ctx, e, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
		if err != nil {
			return "", fmt.Errorf("store: writing %s/%s: %w", rec.Partition, rec.Key, err)
		}
		return string(resp.ETag), nil
	}
	etag := azcore.ETag(rec.ETag)
	resp, err := t.client.UpdateEntity(ctx, e, &aztables.UpdateEntityOptions{IfMatch: &etag, UpdateMode: aztables.UpdateModeReplace})
	if err != nil {
		switch {
		case hasCode(err, aztables.UpdateConditionNotSatisfied, http.StatusPreconditionFailed):
			return "", appwarden.ErrConflict
		case hasCode(err, aztables.ResourceNotFound, http.StatusNotFound):
			return "", appwarden.ErrNotFound
		}
		return "", fmt.Errorf("store: replacing %s/%s: %w", rec.Partition, rec.Key, err)
	}
	return string(resp.ETag), nil
}

// List implements Store. Table Storage returns a partition in RowKey order.
func (t *Table) List(ctx context.Context, partition string) ([]appwarden.Record, error) {
	filter := "PartitionKey eq '" + strings.ReplaceAll(escapeKey(partition), "'", "''") + "'"
	pager := t.client.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var out []appwarden.Record
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("store: listing %s: %w", partition, err)
		}
		for _, raw := range page.Entities {
			rec, err := record(raw, "")
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

// ListAfter implements Store: one query for the keys after the given one,
// with $top, following the service's continuation (a page may come back
// short before the end, at a partition range boundary or after five
// seconds) only until limit records are read. Table Storage orders a
// partition by RowKey, the escaped key, and after is escaped the same way,
// so pages neither skip nor repeat a record.
func (t *Table) ListAfter(ctx context.Context, partition, after string, limit int) ([]appwarden.Record, error) {
	out := []appwarden.Record{}
	if limit <= 0 {
		return out, nil
	}
	q := func(s string) string { return "'" + strings.ReplaceAll(escapeKey(s), "'", "''") + "'" }
	filter := "PartitionKey eq " + q(partition)
	if after != "" {
		filter += " and RowKey gt " + q(after)
	}
	top := int32(min(limit, 1000)) // the service's largest page
	pager := t.client.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: &top})
	for pager.More() && len(out) < limit {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("store: listing %s after %q: %w", partition, after, err)
		}
		for _, raw := range page.Entities {
			if len(out) == limit {
				break
			}
			rec, err := record(raw, "")
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

// Delete implements Store.
func (t *Table) Delete(ctx context.Context, partition, key string) error {
	if _, err := t.client.DeleteEntity(ctx, escapeKey(partition), escapeKey(key), nil); err != nil && !hasCode(err, aztables.ResourceNotFound, http.StatusNotFound) {
		return fmt.Errorf("store: deleting %s/%s: %w", partition, key, err)
	}
	return nil
}
