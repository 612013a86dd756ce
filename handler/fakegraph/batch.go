package fakegraph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
)

// maxBatch is Graph's limit of requests in one $batch.
const maxBatch = 20

type batchRequestItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

// batchResponseItem is one entry of "responses". The $batch envelope is not a
// Graph model, so it has its own kiota Parsable; bodies are the inner
// answers, embedded as they are.
type batchResponseItem struct {
	id      string
	status  int32
	headers map[string]string
	body    []byte
}

func (b *batchResponseItem) Serialize(w absser.SerializationWriter) error {
	if err := w.WriteStringValue("id", &b.id); err != nil {
		return err
	}
	if err := w.WriteInt32Value("status", &b.status); err != nil {
		return err
	}
	if err := w.WriteAnyValue("headers", b.headers); err != nil {
		return err
	}
	if len(b.body) > 0 {
		return w.WriteAnyValue("body", json.RawMessage(b.body))
	}
	return nil
}
func (*batchResponseItem) GetFieldDeserializers() map[string]func(absser.ParseNode) error {
	return nil
}

type batchResponseBody []*batchResponseItem

func (b batchResponseBody) Serialize(w absser.SerializationWriter) error {
	items := make([]absser.Parsable, len(b))
	for i, it := range b {
		items[i] = it
	}
	return w.WriteCollectionOfObjectValues("responses", items)
}
func (batchResponseBody) GetFieldDeserializers() map[string]func(absser.ParseNode) error { return nil }

// serveBatch answers POST /$batch: up to 20 requests, each routed like a
// top-level request (with faults), in request order except that a request
// runs after the ones it dependsOn; a request whose dependency failed gets
// 424 Failed Dependency.
func (s *Server) serveBatch(env *op) response {
	env.batchID = s.nextBatchID()
	if r, ok := s.injectFault(env); ok {
		return r
	}
	reject := func(format string, args ...any) response {
		r := s.errorResponse(env, &apiError{http.StatusBadRequest, "BadRequest", fmt.Sprintf(format, args...)})
		r.rejected = true
		return r
	}
	var req struct {
		Requests []batchRequestItem `json:"requests"`
	}
	if err := json.Unmarshal(env.body, &req); err != nil {
		return reject("Invalid batch payload format: %v", err)
	}
	n := len(req.Requests)
	if n == 0 {
		return reject("Invalid batch payload format: no requests.")
	}
	if n > maxBatch {
		return reject("Number of requests exceeds the limit of %d.", maxBatch)
	}
	index := map[string]int{}
	for i, it := range req.Requests {
		if it.ID == "" || it.Method == "" || it.URL == "" {
			return reject("Every batch request needs an id, a method and a url.")
		}
		if _, dup := index[it.ID]; dup {
			return reject("Batch request id '%s' is used more than once.", it.ID)
		}
		index[it.ID] = i
	}
	for _, it := range req.Requests {
		for _, d := range it.DependsOn {
			if _, ok := index[d]; !ok {
				return reject("Request '%s' depends on unknown request '%s'.", it.ID, d)
			}
		}
	}
	order, ok := batchOrder(req.Requests, index)
	if !ok {
		return reject("The dependsOn of the batch requests form a cycle.")
	}

	results := make([]*batchResponseItem, n)
	for _, i := range order {
		it := req.Requests[i]
		failedDep := ""
		for _, d := range it.DependsOn {
			if results[index[d]].status >= 400 {
				failedDep = d
				break
			}
		}
		inner := s.innerOp(env, it)
		var resp response
		if failedDep != "" {
			resp = s.errorResponse(inner, &apiError{http.StatusFailedDependency, "BadRequest", fmt.Sprintf("Failed dependency: request '%s' failed.", failedDep)})
		} else {
			resp = s.dispatch(inner)
		}
		s.record(inner, resp, inner.body)
		headers := map[string]string{}
		for k, v := range resp.headers {
			headers[k] = v
		}
		if len(resp.body) > 0 {
			headers["Content-Type"] = "application/json"
		}
		results[i] = &batchResponseItem{id: it.ID, status: int32(resp.status), headers: headers, body: resp.body}
	}
	return jsonResponse(http.StatusOK, mustMarshal(batchResponseBody(results)))
}

// batchOrder is request order with dependencies first; false on a cycle.
func batchOrder(items []batchRequestItem, index map[string]int) ([]int, bool) {
	state := make([]int, len(items)) // 0 new, 1 visiting, 2 done
	var order []int
	var visit func(i int) bool
	visit = func(i int) bool {
		switch state[i] {
		case 1:
			return false
		case 2:
			return true
		}
		state[i] = 1
		for _, d := range items[i].DependsOn {
			if !visit(index[d]) {
				return false
			}
		}
		state[i] = 2
		order = append(order, i)
		return true
	}
	for i := range items {
		if !visit(i) {
			return nil, false
		}
	}
	return order, true
}

// innerOp turns a batch entry into a request routed like a top-level one.
func (s *Server) innerOp(env *op, it batchRequestItem) *op {
	o := &op{
		method:   strings.ToUpper(it.Method),
		rawURL:   it.URL,
		header:   http.Header{},
		base:     env.base,
		reqID:    uuid.NewString(),
		clientID: env.clientID,
		inner:    true,
		batchID:  env.batchID,
	}
	for k, v := range it.Headers {
		o.header.Set(k, v)
	}
	if b := bytes.TrimSpace(it.Body); len(b) > 0 && !bytes.Equal(b, []byte("null")) {
		o.body = b
	}
	u, err := url.Parse(it.URL)
	if err != nil || u.IsAbs() || u.Host != "" {
		o.path = it.URL
		o.query = url.Values{}
		o.match = routeMatch{err: &apiError{http.StatusBadRequest, "BadRequest", "Batch request urls must be relative, e.g. /applications/{id}."}}
		return o
	}
	o.path = u.Path
	escaped := u.EscapedPath()
	if !strings.HasPrefix(o.path, "/") {
		o.path, escaped = "/"+o.path, "/"+escaped
	}
	o.query = u.Query()
	o.match = match(o.method, escaped)
	return o
}
