package controller

import (
	"slices"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/store"
)

func TestRevokedKeyIDs(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { x := now.Add(-d); return &x }
	ts := []store.Token{
		{ID: "live", Subject: "a"},
		{ID: "revoked", Subject: "a", RevokedAt: ago(time.Hour)},
		{ID: "revoked-long-ago", Subject: "a", RevokedAt: ago(12 * time.Hour)},
		{ID: "revoked-expired", Subject: "b", RevokedAt: ago(time.Hour), ExpiresAt: ago(time.Minute)},
		{ID: "revoked-expiring", Subject: "b", RevokedAt: ago(time.Hour), ExpiresAt: ago(-time.Minute)},
	}
	got := revokedKeyIDs(ts, now)
	if want := []string{"burrow:a:revoked", "burrow:b:revoked-expiring"}; !slices.Equal(got, want) {
		t.Errorf("revokedKeyIDs = %q, want %q", got, want)
	}
}
