package controller

import (
	"slices"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/sshca"
	"github.com/burrow-dev/burrow/internal/store"
	"github.com/burrow-dev/burrow/internal/store/sqlite"
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
	got := revokedKeyIDs(ts, "acme", now)
	// Each also in the form from before key ids named the org.
	if want := []string{"burrow:acme:a:revoked", "burrow:a:revoked", "burrow:acme:b:revoked-expiring", "burrow:b:revoked-expiring"}; !slices.Equal(got, want) {
		t.Errorf("revokedKeyIDs = %q, want %q", got, want)
	}
}

func TestNextTrustRefresh(t *testing.T) {
	st, err := sqlite.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	c := &Controller{opts: Options{TrustRefresh: 30 * time.Second, Now: clock}}
	if c.ca, err = sshca.Open(t.Context(), st, clock); err != nil {
		t.Fatal(err)
	}
	if c.hostCA, err = sshca.OpenHost(t.Context(), st, clock); err != nil {
		t.Fatal(err)
	}
	if got := c.nextTrustRefresh(); got != 30*time.Second {
		t.Errorf("without an overlap: next refresh in %v, want TrustRefresh", got)
	}
	if _, err := c.ca.Rotate(t.Context(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, want := c.nextTrustRefresh(), 5*time.Second+changeSlack; got != want {
		t.Errorf("overlap ending in 5s: next refresh in %v, want %v", got, want)
	}
	if _, err := c.hostCA.Rotate(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Second) // the user CA's overlap is over
	if got := c.nextTrustRefresh(); got != 30*time.Second {
		t.Errorf("overlap ended, host CA's switch in an hour: next refresh in %v, want TrustRefresh", got)
	}
	now = now.Add(time.Hour - 10*time.Second - 2*time.Second)
	if got, want := c.nextTrustRefresh(), 2*time.Second+changeSlack; got != want {
		t.Errorf("host CA's switch in 2s: next refresh in %v, want %v", got, want)
	}
}
