// Package appwarden holds AppWarden's domain types: the Signal that an input
// hints at, the App that Microsoft Graph says is true, and the Finding,
// Decision and Action that policy and remediation produce.
//
// It imports nothing from the rest of the program, so every stage (decoders,
// Graph resolution, policy, remediation, notification, storage) can depend on
// it without depending on each other.
package appwarden
