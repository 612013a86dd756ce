package fakegraph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// marshal serializes a Graph model with kiota's JSON serialization writer,
// which is what gives every object the stand-in stores or returns Graph's own
// property names and value formats.
func marshal(p absser.Parsable) ([]byte, error) {
	w := jsonserialization.NewJsonSerializationWriter()
	defer w.Close()
	if err := w.WriteObjectValue("", p); err != nil {
		return nil, err
	}
	return w.GetSerializedContent()
}

// mustMarshal is marshal for models the stand-in builds itself.
func mustMarshal(p absser.Parsable) []byte {
	b, err := marshal(p)
	if err != nil {
		panic(fmt.Sprintf("fakegraph: serializing %T: %v", p, err))
	}
	return b
}

// parse reads one JSON object through the kiota JSON parse node into the model
// the factory makes.
func parse[T any](b []byte, factory absser.ParsableFactory) (T, error) {
	var zero T
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return zero, errors.New("body is not a JSON object")
	}
	node, err := jsonserialization.NewJsonParseNode(b)
	if err != nil {
		return zero, err
	}
	v, err := node.GetObjectValue(factory)
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("parsed %T, want %T", v, zero)
	}
	return t, nil
}

// rawJSON embeds an already serialized object (a stored kiota serialization of
// a model) into a collection written by the kiota writer. It declares itself a
// composed type so the writer adds no braces around it.
type rawJSON []byte

func (r rawJSON) Serialize(w absser.SerializationWriter) error {
	return w.WriteAnyValue("", json.RawMessage(r))
}
func (rawJSON) GetFieldDeserializers() map[string]func(absser.ParseNode) error { return nil }
func (rawJSON) GetIsComposedType() bool                                        { return true }

// valueProperty writes the "value" array of a collection response; it is
// merged into the SDK's own base response models (which carry the
// @odata.nextLink / @odata.deltaLink properties but not the value).
type valueProperty []absser.Parsable

func (v valueProperty) Serialize(w absser.SerializationWriter) error {
	items := []absser.Parsable(v)
	if items == nil {
		items = []absser.Parsable{}
	}
	return w.WriteCollectionOfObjectValues("value", items)
}
func (valueProperty) GetFieldDeserializers() map[string]func(absser.ParseNode) error { return nil }

func rawItems(raws [][]byte) valueProperty {
	items := make(valueProperty, len(raws))
	for i, r := range raws {
		items[i] = rawJSON(r)
	}
	return items
}

// collectionPage serializes a collection page as models.BaseCollectionPaginationCountResponse
// plus its value.
func collectionPage(context string, items [][]byte, nextLink string) []byte {
	env := models.NewBaseCollectionPaginationCountResponse()
	if context != "" {
		env.GetAdditionalData()["@odata.context"] = context
	}
	if nextLink != "" {
		env.SetOdataNextLink(&nextLink)
	}
	return writeMerged(env, rawItems(items))
}

// deltaPage serializes a delta page as models.BaseDeltaFunctionResponse plus its value.
func deltaPage(context string, items [][]byte, nextLink, deltaLink string) []byte {
	env := models.NewBaseDeltaFunctionResponse()
	if context != "" {
		env.GetAdditionalData()["@odata.context"] = context
	}
	if nextLink != "" {
		env.SetOdataNextLink(&nextLink)
	}
	if deltaLink != "" {
		env.SetOdataDeltaLink(&deltaLink)
	}
	return writeMerged(env, rawItems(items))
}

func writeMerged(env absser.Parsable, extra absser.Parsable) []byte {
	w := jsonserialization.NewJsonSerializationWriter()
	defer w.Close()
	if err := w.WriteObjectValue("", env, extra); err != nil {
		panic(fmt.Sprintf("fakegraph: serializing collection: %v", err))
	}
	b, err := w.GetSerializedContent()
	if err != nil {
		panic(fmt.Sprintf("fakegraph: serializing collection: %v", err))
	}
	return b
}

// graphError serializes Graph's error body through the SDK's ODataError model:
// {"error":{"code":..,"message":..,"innerError":{"date":..,"request-id":..,"client-request-id":..}}}.
func graphError(code, message, requestID, clientRequestID string, now time.Time) []byte {
	inner := odataerrors.NewInnerError()
	inner.SetRequestId(&requestID)
	if clientRequestID == "" {
		clientRequestID = requestID
	}
	inner.SetClientRequestId(&clientRequestID)
	d := now.UTC().Truncate(time.Second)
	inner.SetDate(&d)
	main := odataerrors.NewMainError()
	main.SetCode(&code)
	main.SetMessage(&message)
	main.SetInnerError(inner)
	e := odataerrors.NewODataError()
	e.SetErrorEscaped(main)
	return mustMarshal(e)
}

func ptr[T any](v T) *T { return &v }

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
