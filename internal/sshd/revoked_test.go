package sshd

import (
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestAuthRevoked: a valid certificate whose key id is revoked is refused
// with a banner saying so; Revoked is asked at each login.
func TestAuthRevoked(t *testing.T) {
	var revoked atomic.Value
	revoked.Store("")
	e := newEnv(t, func(o *Options) { o.Revoked = func(id string) bool { return id == revoked.Load().(string) } })
	key := e.certFor(t, e.ca, func(c *ssh.Certificate) { c.KeyId = "burrow:alice:tok1" })
	if _, banners, err := e.connect(t, e.login, key); err != nil {
		t.Fatalf("refused before revocation: %v %q", err, banners)
	}
	revoked.Store("burrow:alice:tok1")
	_, banners, err := e.connect(t, e.login, key)
	if err == nil {
		t.Fatal("logged in with a revoked certificate")
	}
	if all := strings.Join(banners, ""); !strings.Contains(all, "burrow: this certificate's token was revoked") {
		t.Errorf("banners %q; want the revocation", banners)
	}
}
