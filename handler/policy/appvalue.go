package policy

import (
	"reflect"
	"strings"
	"time"

	"github.com/appwarden/appwarden/handler/appwarden"
)

var timeType = reflect.TypeOf(time.Time{})

// appValue is the `app` variable: the App's JSON form (lowerCamelCase
// names from the json tags) as nested maps and lists, with two deliberate
// differences from encoding/json that make conditions simpler and safer:
//
//   - every field is present even when empty (omitempty is ignored), so a
//     rule writes size(app.owners) == 0 rather than guarding with has();
//     a missing pointer (app.application for a service-principal-only app)
//     is null;
//   - times are CEL timestamps, so now - c.endDateTime and comparisons work
//     without parsing.
func appValue(app *appwarden.App) map[string]any {
	judged := *app
	judged.Change = nil // rules see it as `signal`
	m, _ := nativeValue(reflect.ValueOf(&judged).Elem()).(map[string]any)
	delete(m, "change")
	return m
}

// signalValue is the `signal` variable: the app's Change, or, for an app
// judged as a whole (scan, policy test), a change that is new and added
// everything the app holds.
func signalValue(app *appwarden.App) map[string]any {
	ch := app.Change
	if ch == nil {
		ch = &appwarden.Change{New: true, Added: appwarden.FactsOf(app)}
	}
	if ch.Added == nil {
		c := *ch
		c.Added = []appwarden.Fact{}
		ch = &c
	}
	m, _ := nativeValue(reflect.ValueOf(ch).Elem()).(map[string]any)
	return m
}

// nativeValue converts a value to what CEL's default adapter understands:
// map[string]any, []any, string, int64, uint64, float64, bool, time.Time
// and nil.
func nativeValue(v reflect.Value) any {
	if v.Type() == timeType {
		return v.Interface().(time.Time).UTC()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return nativeValue(v.Elem())
	case reflect.Struct:
		m := make(map[string]any, v.NumField())
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			m[name] = nativeValue(v.Field(i))
		}
		return m
	case reflect.Slice, reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = nativeValue(v.Index(i))
		}
		return out
	case reflect.Map:
		out := make(map[string]any, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			if iter.Key().Kind() == reflect.String {
				out[iter.Key().String()] = nativeValue(iter.Value())
			}
		}
		return out
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(v.Uint())
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return nil
}
