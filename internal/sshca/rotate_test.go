package sshca

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/store"
)

// clock is a settable test clock, safe for concurrent use.
type clock struct{ t atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.t.Store(epoch.UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

func checkSignedBy(t *testing.T, a *Authority, want ssh.PublicKey) {
	t.Helper()
	cert, err := a.SignUser(newUserKey(t), UserCertRequest{KeyID: "k", Principals: []string{"root"}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !sameKey(cert.SignatureKey, want) {
		t.Errorf("certificate signed by %s, want %s", ssh.FingerprintSHA256(cert.SignatureKey), ssh.FingerprintSHA256(want))
	}
}

func TestRotateOverlap(t *testing.T) {
	st, clk := openStore(t), newClock()
	a := mustOpen(t, st, clk.now)
	oldPub, oldLine := a.PublicKey(), a.UserCAKeys()[0]
	clk.advance(time.Hour)
	rot, err := a.Rotate(t.Context(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	next := rot.Key
	if next.Private != nil || next.RetiredAt != nil || !next.CreatedAt.Equal(clk.now()) ||
		!rot.SignsFrom.Equal(clk.now()) || !rot.PreviousTrustedUntil.Equal(clk.now().Add(24*time.Hour)) {
		t.Errorf("Rotate returned %+v", rot)
	}
	if sameKey(a.PublicKey(), oldPub) {
		t.Fatal("the CA key did not change")
	}
	checkSignedBy(t, a, a.PublicKey())
	if got := a.UserCAKeys(); !slices.Equal(got, []string{oldLine, next.Public}) {
		t.Errorf("during the overlap UserCAKeys = %q, want old and new", got)
	}
	lines, until := a.UserCATrust()
	if wantEnd := clk.now().Add(24 * time.Hour).Unix(); !slices.Equal(lines, []string{oldLine, next.Public}) || !slices.Equal(until, []int64{wantEnd, 0}) {
		t.Errorf("UserCATrust = %q, %v; want old and new, until the overlap end (%d) and 0", lines, until, wantEnd)
	}
	clk.advance(24*time.Hour - time.Second)
	if n := len(a.UserCAKeys()); n != 2 {
		t.Errorf("a second before the overlap ends %d keys are trusted, want 2", n)
	}
	clk.advance(time.Second)
	if got := a.UserCAKeys(); !slices.Equal(got, []string{next.Public}) {
		t.Errorf("after the overlap UserCAKeys = %q, want only the new key", got)
	}
	keys := userKeys(t, st)
	if len(keys) != 2 || keys[0].RetiredAt == nil || !keys[0].RetiredAt.Equal(epoch.Add(time.Hour)) {
		t.Errorf("stored keys = %+v", keys)
	}
}

func TestRotateWithoutOverlap(t *testing.T) {
	clk := newClock()
	a := mustOpen(t, openStore(t), clk.now)
	clk.advance(time.Minute)
	if _, err := a.Rotate(t.Context(), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Minute)
	// A key compromised: from now on only the new key is trusted, not even
	// the one still in its overlap.
	rot, err := a.Rotate(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.UserCAKeys(); !slices.Equal(got, []string{rot.Key.Public}) {
		t.Errorf("UserCAKeys = %q, want only the new key", got)
	}
	for _, bad := range []time.Duration{-time.Second, MaxOverlap + time.Second} {
		if _, err := a.Rotate(t.Context(), bad); err == nil {
			t.Errorf("Rotate(%v) succeeded", bad)
		}
	}
}

// TestReloadConverges: a second controller on the same store sees the
// first one's rotation when it reloads, and signs with the new key.
func TestReloadConverges(t *testing.T) {
	st := openStore(t)
	a, b := mustOpen(t, st, fixedNow), mustOpen(t, st, fixedNow)
	if changed, err := b.Reload(t.Context()); err != nil || changed {
		t.Fatalf("Reload without change = %v, %v", changed, err)
	}
	if _, err := a.Rotate(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if changed, err := b.Reload(t.Context()); err != nil || !changed {
		t.Fatalf("Reload after rotation = %v, %v", changed, err)
	}
	checkSignedBy(t, b, a.PublicKey())
	if !slices.Equal(a.UserCAKeys(), b.UserCAKeys()) {
		t.Errorf("trusted keys differ: %q and %q", a.UserCAKeys(), b.UserCAKeys())
	}
}

func TestRotateHost(t *testing.T) {
	st := openStore(t)
	user := mustOpen(t, st, fixedNow)
	host, err := OpenHost(t.Context(), st, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	userLine := user.UserCAKeys()
	if _, err := host.Rotate(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := len(host.TrustedKeys()); n != 2 {
		t.Errorf("host CA trusts %d keys after rotation, want 2", n)
	}
	if _, err := user.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(user.UserCAKeys(), userLine) {
		t.Error("rotating the host CA changed the user CA")
	}
	if keys, _ := st.ListCAKeys(t.Context(), store.CAHost); len(keys) != 2 {
		t.Errorf("store holds %d host keys", len(keys))
	}
}

// TestRotateHostStaged: with an overlap, a host CA rotation publishes the
// new key at once and switches signing to it only when the overlap ends;
// the old key is trusted for HostSwitchGrace more. Another staged
// rotation meanwhile is refused; one without overlap switches at once.
func TestRotateHostStaged(t *testing.T) {
	st, clk := openStore(t), newClock()
	host, err := OpenHost(t.Context(), st, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	oldPub, oldLine := host.PublicKey(), host.TrustedKeys()[0]
	clk.advance(time.Minute) // the store lists keys by creation time
	rot, err := host.Rotate(t.Context(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	switchAt := clk.now().Add(time.Hour)
	if !rot.SignsFrom.Equal(switchAt) || !rot.PreviousTrustedUntil.Equal(switchAt.Add(HostSwitchGrace)) {
		t.Errorf("Rotate returned %+v", rot)
	}
	both := []string{oldLine, rot.Key.Public}
	if got := host.TrustedKeys(); !slices.Equal(got, both) {
		t.Errorf("after a staged rotation TrustedKeys = %q, want old and new", got)
	}
	checkSignedBy(t, host, oldPub)
	if at, ok := host.NextChange(); !ok || !at.Equal(switchAt) {
		t.Errorf("NextChange = %v, %v; want the switch at %v", at, ok, switchAt)
	}
	if _, err := host.Rotate(t.Context(), time.Hour); !errors.Is(err, ErrRotationUnderWay) {
		t.Errorf("a second staged rotation: %v, want ErrRotationUnderWay", err)
	}

	clk.advance(time.Hour - time.Second)
	checkSignedBy(t, host, oldPub)
	clk.advance(time.Second) // the switch; no Reload needed
	newPub := parseAuthorized(t, rot.Key.Public)
	checkSignedBy(t, host, newPub)
	if !sameKey(host.PublicKey(), newPub) {
		t.Error("PublicKey is not the new key after the switch")
	}
	if got := host.TrustedKeys(); !slices.Equal(got, both) {
		t.Errorf("in the grace after the switch TrustedKeys = %q, want old and new", got)
	}
	if _, err := host.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkSignedBy(t, host, newPub)
	clk.advance(HostSwitchGrace)
	if got := host.TrustedKeys(); !slices.Equal(got, []string{rot.Key.Public}) {
		t.Errorf("after the grace TrustedKeys = %q, want the new key only", got)
	}

	// Staged again, then switched at once (overlap 0): neither the staged
	// key nor the one signing until then is trusted any more.
	staged, err := host.Rotate(t.Context(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Minute)
	now, err := host.Rotate(t.Context(), 0)
	if err != nil {
		t.Fatalf("a rotation without overlap during a staged one: %v", err)
	}
	if got := host.TrustedKeys(); !slices.Equal(got, []string{now.Key.Public}) {
		t.Errorf("after switching at once TrustedKeys = %q, want %q only (not %q)", got, now.Key.Public, staged.Key.Public)
	}
	checkSignedBy(t, host, parseAuthorized(t, now.Key.Public))
	if at, ok := host.NextChange(); ok {
		t.Errorf("NextChange = %v after switching at once, want none", at)
	}
}

// TestRotateConcurrentUse signs and reads the trust while rotating (for
// the race detector).
func TestRotateConcurrentUse(t *testing.T) {
	a := mustOpen(t, openStore(t), fixedNow)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := a.SignUser(newUserKey(t), UserCertRequest{Principals: []string{"root"}, TTL: time.Minute}); err != nil {
				t.Error(err)
				return
			}
			_ = a.UserCAKeys()
		}
	})
	for range 5 {
		if _, err := a.Rotate(t.Context(), time.Hour); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestNextChange(t *testing.T) {
	st, clk := openStore(t), newClock()
	a := mustOpen(t, st, clk.now)
	if end, ok := a.NextChange(); ok {
		t.Errorf("before any rotation NextChange = %v, true", end)
	}
	if _, err := a.Rotate(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	first := clk.now().Add(time.Hour)
	clk.advance(time.Minute)
	if _, err := a.Rotate(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		advance time.Duration
		want    time.Time
	}{
		{0, first}, // the earlier of two overlaps
		{time.Hour - time.Minute, first.Add(time.Minute)}, // the first one ended
		{time.Minute, time.Time{}},                        // both ended
	} {
		clk.advance(c.advance)
		end, ok := a.NextChange()
		if ok != !c.want.IsZero() || !end.Equal(c.want) {
			t.Errorf("at %v NextChange = %v, %v; want %v", clk.now(), end, ok, c.want)
		}
	}
}

// TestRotateHostStagedAtOnce: of staged host CA rotations started
// together, the store lets exactly one through.
func TestRotateHostStagedAtOnce(t *testing.T) {
	st := openStore(t)
	host, err := OpenHost(t.Context(), st, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok, under atomic.Int32
	for range 8 {
		wg.Go(func() {
			_, err := host.Rotate(t.Context(), time.Hour)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrRotationUnderWay):
				under.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || under.Load() != 7 {
		t.Errorf("%d rotations went through and %d were refused, want 1 and 7", ok.Load(), under.Load())
	}
	if n := len(host.TrustedKeys()); n != 2 {
		t.Errorf("%d host CA keys trusted, want 2", n)
	}
}

// TestRotateAtOnceSkewedClocks: after a rotation without overlap on a
// controller whose clock is ahead, one on the same store whose clock is
// behind signs with the new key as soon as it reloads, for both CAs.
func TestRotateAtOnceSkewedClocks(t *testing.T) {
	for _, open := range []func(context.Context, store.Store, func() time.Time) (*Authority, error){Open, OpenHost} {
		st := openStore(t)
		ahead := func() time.Time { return epoch.Add(5 * time.Second) }
		a, err := open(t.Context(), st, ahead)
		if err != nil {
			t.Fatal(err)
		}
		b, err := open(t.Context(), st, func() time.Time { return epoch })
		if err != nil {
			t.Fatal(err)
		}
		rot, err := a.Rotate(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		checkSignedBy(t, b, parseAuthorized(t, rot.Key.Public))
	}
}

func parseAuthorized(t *testing.T, line string) ssh.PublicKey {
	t.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
