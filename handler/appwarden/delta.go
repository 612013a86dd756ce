package appwarden

import (
	"context"
	"errors"
	"time"
)

// Delta feeds.
const (
	FeedApplications      = "applications"
	FeedServicePrincipals = "servicePrincipals"
)

// DeltaObject is one entry of a delta page.
type DeltaObject struct {
	Feed        string
	ID          string
	AppID       string
	DisplayName string
	// Created is the application's createdDateTime (service principals have
	// none in v1.0).
	Created time.Time
	// ManagedIdentity and MicrosoftOwned let the sweep skip what policy would
	// never act on without resolving it.
	ManagedIdentity bool
	Removed         bool
	// Application holds the registration's own properties when the feed
	// carries them (requiredResourceAccess, credentials, redirect URIs,
	// audience): what the first sweep records as an old app's baseline
	// without reading anything more. Nil for service principals.
	Application *Application
}

// DeltaPage is one page of a delta feed. Resume is the link to continue from
// after this page: the nextLink mid-feed, or the deltaLink at its end (Final).
type DeltaPage struct {
	Objects []DeltaObject
	Resume  string
	Final   bool
}

// ErrResyncRequired marks a delta feed's error when Graph no longer knows
// the link followed (a deltaLink expires after 7 days for directory
// objects): the feed must start over from its first link.
var ErrResyncRequired = errors.New("delta link no longer valid; the feed must start over")

// DeltaFeed is the delta source the sweep reads (the Graph client).
type DeltaFeed interface {
	// DeltaStart is the first link of a feed.
	DeltaStart(feed string) string
	// DeltaPages streams a feed from link, one page at a time; an error
	// from fn stops the stream and is returned. An error that matches
	// ErrResyncRequired means the link must be given up.
	DeltaPages(ctx context.Context, feed, link string, fn func(DeltaPage) error) error
}

// SweepStats counts what a delta sweep saw.
type SweepStats struct {
	Pages, Objects, Judged, Baseline, Removed, Skipped int
}
