package policy

import (
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// functions are the CEL helpers for the questions policies ask most. Each
// returns a CEL error value, never panics, when given the wrong shape, so a
// mistaken rule fails alone (as a rule-error finding).
//
//	privileged(perms, n)     the permissions in perms at privilege level >= n
//	hasPrivilege(perms, n)   whether any permission in perms is at level >= n
//	credentials(app)         the app's client secrets and certificates, on the
//	                         registration and on its service principals
//	lifetime(cred)           a credential's end minus start (0 if either is unset)
//	glob(s, pattern)         * and ? wildcard match, ignoring case
//	uriScheme(uri)           lower-case scheme ("https")
//	uriHost(uri)             lower-case host without port or [] ("127.0.0.1", "*.contoso.com")
//	isIP(host)               host is an IP literal (also 2130706433, 0x7f.1)
//	isLoopback(host)         localhost or a loopback IP
//	hostUnder(host, domains) host is one of domains or a subdomain of one
//
// Regular expressions need no helper: CEL's s.matches(re) is RE2.
func functions() []cel.EnvOption {
	dyn, str, boolean, integer := cel.DynType, cel.StringType, cel.BoolType, cel.IntType
	return []cel.EnvOption{
		cel.Function("privileged", cel.Overload("privileged_dyn_int", []*cel.Type{dyn, integer}, cel.ListType(dyn),
			cel.BinaryBinding(func(perms, n ref.Val) ref.Val {
				items, err := privileged(perms, n)
				if err != nil {
					return err
				}
				return types.NewRefValList(types.DefaultTypeAdapter, items)
			}))),
		cel.Function("hasPrivilege", cel.Overload("hasPrivilege_dyn_int", []*cel.Type{dyn, integer}, boolean,
			cel.BinaryBinding(func(perms, n ref.Val) ref.Val {
				items, err := privileged(perms, n)
				if err != nil {
					return err
				}
				return types.Bool(len(items) > 0)
			}))),
		cel.Function("credentials", cel.Overload("credentials_dyn", []*cel.Type{dyn}, cel.ListType(dyn),
			cel.UnaryBinding(credentials))),
		cel.Function("lifetime", cel.Overload("lifetime_dyn", []*cel.Type{dyn}, cel.DurationType,
			cel.UnaryBinding(lifetime))),
		cel.Function("glob", cel.Overload("glob_string_string", []*cel.Type{str, str}, boolean,
			cel.BinaryBinding(func(s, p ref.Val) ref.Val {
				return types.Bool(globMatch(string(s.(types.String)), string(p.(types.String))))
			}))),
		cel.Function("uriScheme", cel.Overload("uriScheme_string", []*cel.Type{str}, str,
			cel.UnaryBinding(func(u ref.Val) ref.Val {
				scheme, _ := uriParts(string(u.(types.String)))
				return types.String(scheme)
			}))),
		cel.Function("uriHost", cel.Overload("uriHost_string", []*cel.Type{str}, str,
			cel.UnaryBinding(func(u ref.Val) ref.Val {
				_, host := uriParts(string(u.(types.String)))
				return types.String(host)
			}))),
		cel.Function("isIP", cel.Overload("isIP_string", []*cel.Type{str}, boolean,
			cel.UnaryBinding(func(h ref.Val) ref.Val { return types.Bool(isIPHost(string(h.(types.String)))) }))),
		cel.Function("isLoopback", cel.Overload("isLoopback_string", []*cel.Type{str}, boolean,
			cel.UnaryBinding(func(h ref.Val) ref.Val { return types.Bool(isLoopback(string(h.(types.String)))) }))),
		cel.Function("hostUnder", cel.Overload("hostUnder_string_list", []*cel.Type{str, cel.ListType(str)}, boolean,
			cel.BinaryBinding(func(h, domains ref.Val) ref.Val {
				ds, err := stringList(domains)
				if err != nil {
					return err
				}
				return types.Bool(hostUnder(string(h.(types.String)), ds))
			}))),
	}
}

// privileged filters a list of permissions by privilege level.
func privileged(perms, n ref.Val) ([]ref.Val, ref.Val) {
	level, ok := n.(types.Int)
	if !ok {
		return nil, types.NewErr("privileged: level must be an int, got %s", n.Type())
	}
	var out []ref.Val
	err := eachItem(perms, "privileged", func(p ref.Val) ref.Val {
		v, err := mapField(p, "privilege", "privileged")
		if err != nil {
			return err
		}
		lv, ok := v.(types.Int)
		if !ok {
			return types.NewErr("privileged: privilege must be an int, got %s", v.Type())
		}
		if lv >= level {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// credentials lists the registration's passwordCredentials then
// keyCredentials, then each service principal's: a secret on the service
// principal signs in as the app just as well (and is the only kind a
// Microsoft first-party app can be given in a customer's tenant).
func credentials(app ref.Val) ref.Val {
	var out []ref.Val
	add := func(holder ref.Val) ref.Val {
		if holder == types.NullValue {
			return nil
		}
		for _, key := range []string{"passwordCredentials", "keyCredentials"} {
			list, err := mapField(holder, key, "credentials")
			if err != nil {
				return err
			}
			if err := eachItem(list, "credentials", func(c ref.Val) ref.Val { out = append(out, c); return nil }); err != nil {
				return err
			}
		}
		return nil
	}
	a, err := mapField(app, "application", "credentials")
	if err != nil {
		return err
	}
	if err := add(a); err != nil {
		return err
	}
	sps, err := mapField(app, "servicePrincipals", "credentials")
	if err != nil {
		return err
	}
	if err := eachItem(sps, "credentials", add); err != nil {
		return err
	}
	return types.NewRefValList(types.DefaultTypeAdapter, out)
}

// lifetime mirrors appwarden.Credential.Lifetime: zero when either end is
// unknown, so an unknown start never reads as a 2000-year secret.
func lifetime(cred ref.Val) ref.Val {
	var ends [2]time.Time
	for i, key := range []string{"startDateTime", "endDateTime"} {
		v, err := mapField(cred, key, "lifetime")
		if err != nil {
			return err
		}
		ts, ok := v.(types.Timestamp)
		if !ok {
			return types.NewErr("lifetime: %s must be a timestamp, got %s", key, v.Type())
		}
		ends[i] = ts.Time
	}
	if ends[0].IsZero() || ends[1].IsZero() {
		return types.Duration{}
	}
	return types.Duration{Duration: ends[1].Sub(ends[0])}
}

// mapField reads m[key], as an error value when m is not a map or lacks key.
func mapField(m ref.Val, key, fn string) (ref.Val, ref.Val) {
	mapper, ok := m.(traits.Mapper)
	if !ok {
		return nil, types.NewErr("%s: want a map with %q, got %s", fn, key, m.Type())
	}
	v, found := mapper.Find(types.String(key))
	if !found {
		return nil, types.NewErr("%s: no key %q", fn, key)
	}
	if types.IsError(v) {
		return nil, v
	}
	return v, nil
}

// eachItem calls f for every element of a list, stopping at the first error.
func eachItem(list ref.Val, fn string, f func(ref.Val) ref.Val) ref.Val {
	l, ok := list.(traits.Lister)
	if !ok {
		return types.NewErr("%s: want a list, got %s", fn, list.Type())
	}
	for it := l.Iterator(); it.HasNext() == types.True; {
		if err := f(it.Next()); err != nil {
			return err
		}
	}
	return nil
}

func stringList(list ref.Val) ([]string, ref.Val) {
	var out []string
	err := eachItem(list, "hostUnder", func(v ref.Val) ref.Val {
		s, ok := v.(types.String)
		if !ok {
			return types.NewErr("hostUnder: domains must be strings, got %s", v.Type())
		}
		out = append(out, string(s))
		return nil
	})
	return out, err
}
