// Package policy turns a resolved appwarden.App into an explainable
// appwarden.Decision, following a policy that security teams can read,
// version, test and change.
//
// A policy is a YAML file (apiVersion appwarden.io/v1) of rules whose
// conditions are CEL expressions over the app's JSON form. The built-in
// policy (default.yaml, embedded) is written in the same language, so it
// doubles as the examples. Everything is compiled and checked when the policy
// is loaded, and load errors name the file, line and field.
//
// Evaluation is a pure function of the App, the policy and the Env (which
// carries the time and the global mode): no I/O, no clock, no global state.
// Apps that must never be touched (see appwarden.Guard and the policy's
// allowlist) still get findings, but their decisions never carry an action
// that changes the tenant, whatever the policy says.
package policy
