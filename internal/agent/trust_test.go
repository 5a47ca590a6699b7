package agent

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/tunnel/tunnelpb"
)

// TestRetiredCAKeyEnds: a retired user CA key whose trusted-until time has
// passed is not trusted, and one whose time comes later is dropped then by
// the agent itself, without a word from the controller.
func TestRetiredCAKeyEnds(t *testing.T) {
	a, err := New(Options{URL: "https://127.0.0.1:1", DataDir: t.TempDir(), Name: "web-1", SSH: "off",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a.state = &State{}
	line := func(k ssh.PublicKey) string { return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) }
	over, soon, current := newCAKey(t), newCAKey(t), newCAKey(t)
	now := time.Now()
	a.setTrust(&tunnelpb.Trust{
		UserCaKeys:         []string{line(over), line(soon), line(current)},
		UserCaTrustedUntil: []int64{now.Add(-time.Minute).Unix(), now.Add(2 * time.Second).Unix(), 0},
	})
	defer a.stopTrustTimer()
	trusts := func() []string {
		var out []string
		for _, k := range a.trusted() {
			out = append(out, line(k))
		}
		return out
	}
	if got, want := trusts(), []string{line(soon), line(current)}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("trusted now:\n%s\nwant the key still in its overlap and the current one", strings.Join(got, "\n"))
	}
	if got := a.state.UserCATrustedUntil; len(got) != 3 {
		t.Errorf("agent.json keeps %d trusted-until times, want 3", len(got))
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(trusts()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the key whose overlap ended is still trusted: %v", trusts())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if trusts()[0] != line(current) {
		t.Fatalf("left trusting %s, want the current key", trusts()[0])
	}
}

// TestStaleTrustTimer: the timer of an older trust, already fired and
// waiting for the lock while a newer trust is applied, must not put the
// older trust back (it would forget the newer revocations).
func TestStaleTrustTimer(t *testing.T) {
	a, err := New(Options{URL: "https://127.0.0.1:1", DataDir: t.TempDir(), Name: "web-1", SSH: "off",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a.state = &State{}
	defer a.stopTrustTimer()
	line := func(k ssh.PublicKey) string { return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) }
	soon, current := newCAKey(t), newCAKey(t)
	a.setTrust(&tunnelpb.Trust{
		UserCaKeys:         []string{line(soon), line(current)},
		UserCaTrustedUntil: []int64{time.Now().Add(time.Second).Unix(), 0},
	})
	// Hold the lock past the timer, as a controller push would while it
	// writes sshd's files, and apply the newer trust under it.
	a.trustMu.Lock()
	time.Sleep(2500 * time.Millisecond)
	a.applyTrust([]string{line(current)}, []int64{0}, []string{"burrow:alice:t1"})
	a.trustMu.Unlock()
	time.Sleep(200 * time.Millisecond) // room for a stale callback to run
	if !a.isRevoked("burrow:alice:t1") {
		t.Fatal("the older trust's timer put back a revocation list without the newer revocation")
	}
}
