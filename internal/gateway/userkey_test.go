package gateway

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/sshca"
	"github.com/burrow-dev/burrow/internal/store"
)

// registeredKey returns a signer for a new plain key registered as id by
// token tokenID.
func (e *env) registeredKey(id, tokenID string) ssh.Signer {
	e.t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := e.st.Token(e.t.Context(), tokenID)
	if err != nil {
		e.t.Fatal(err)
	}
	pub := signer.PublicKey()
	err = e.st.AddUserKey(e.t.Context(), store.UserKey{ID: id, TokenID: tokenID, Subject: tok.Subject, Name: id,
		PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))), Fingerprint: ssh.FingerprintSHA256(pub), CreatedAt: time.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	return signer
}

func (e *env) refused(signer ssh.Signer, want string) {
	e.t.Helper()
	c, banner, err := e.connect(signer)
	if err == nil {
		c.Close()
		e.t.Fatal("login succeeded")
	}
	if !strings.Contains(banner, want) {
		e.t.Errorf("banner %q, want it to say %q", banner, want)
	}
}

// TestRegisteredKey logs in with a registered plain key as its token, and
// is refused once the key is removed.
func TestRegisteredKey(t *testing.T) {
	e := newEnv(t, nil)
	key := e.registeredKey("k1", "t1")
	c := e.mustConnect(key)
	if out := sessionOutput(t, c, false); !strings.Contains(out, "you are alice in org acme (token t1, registered key k1)") {
		t.Errorf("session output %q, want alice's through key k1", out)
	}
	conn, err := c.Dial("tcp", "web-1:80")
	if err != nil {
		t.Fatalf("dial through a registered key: %v", err)
	}
	conn.Close()
	waitSession(t, e.st, func(s store.Session) bool {
		return s.FrontDoor == Door && s.Target == "web-1" && s.Subject == "alice" && s.TokenID == "t1"
	})
	if err := e.st.DeleteUserKey(t.Context(), "k1"); err != nil {
		t.Fatal(err)
	}
	e.refused(key, unregisteredKey)
}

// TestRegisteredKeyTokenUnusable: a key dies with the token that
// registered it, before and after login.
func TestRegisteredKeyTokenUnusable(t *testing.T) {
	e := newEnv(t, nil)
	e.refused(e.registeredKey("kb", "t2"), "the key's token t2 was revoked")
	e.refused(e.registeredKey("kc", "t3"), "the key's token t3 expired")

	key := e.registeredKey("k1", "t1")
	c := e.mustConnect(key)
	if err := e.st.RevokeToken(t.Context(), "t1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dial("tcp", "web-1:80"); err == nil || !strings.Contains(err.Error(), "the key's token t1 was revoked") {
		t.Errorf("dial after the key's token was revoked: %v", err)
	}
	e.refused(key, "the key's token t1 was revoked")
}

// TestRegisteredKeyDecides offers an unregistered key and a key of a
// revoked token before a good registered key: the connection must be the
// good key's (CVE-2024-45337).
func TestRegisteredKeyDecides(t *testing.T) {
	e := newEnv(t, nil)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	stranger, _ := ssh.NewSignerFromKey(priv)
	revoked := e.registeredKey("kb", "t2")
	good := e.registeredKey("k1", "t1")
	c := e.mustConnect(stranger, revoked, good)
	if out := sessionOutput(t, c, false); !strings.Contains(out, "you are alice in org acme (token t1, registered key k1)") {
		t.Fatalf("session output %q, want alice's through key k1", out)
	}
}

// TestOneBannerPerRefusal: OpenSSH offers the plain key after its
// certificate is refused. Unless that key is registered on its own, only
// the certificate's refusal is shown; if it is, the key logs in.
func TestOneBannerPerRefusal(t *testing.T) {
	e := newEnv(t, nil)
	certified := func(key ssh.Signer) ssh.Signer {
		cert, err := e.ca.SignUser(key.PublicKey(), sshca.UserCertRequest{KeyID: "burrow:acme:alice:t1", Principals: []string{"root"}, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		cs, err := ssh.NewCertSigner(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	stranger, _ := ssh.NewSignerFromKey(priv)
	strangerCert := certified(stranger)
	registered := e.registeredKey("k1", "t1")
	registeredCert := certified(registered)
	e.clock.Advance(2 * time.Minute) // both certificates expire

	c, banner, err := e.connect(strangerCert, stranger)
	if err == nil {
		c.Close()
		t.Fatal("logged in with an expired certificate and an unregistered key")
	}
	if !strings.Contains(banner, "the certificate expired") || strings.Contains(banner, unregisteredKey) {
		t.Errorf("banner %q, want only the certificate's refusal", banner)
	}
	c = e.mustConnect(registeredCert, registered)
	if out := sessionOutput(t, c, false); !strings.Contains(out, "registered key k1") {
		t.Errorf("session output %q, want the registered key's login", out)
	}
	e.refused(stranger, unregisteredKey) // a plain key alone still hears what to do

	// Other refusals of the certificate's own key still show, and so does
	// that of another key.
	revoked := e.registeredKey("k2", "t2")
	revokedCert := certified(revoked)
	e.clock.Advance(2 * time.Minute)
	if _, banner, err := e.connect(revokedCert, revoked); err == nil || !strings.Contains(banner, "the key's token t2 was revoked") {
		t.Errorf("expired certificate of a registered key whose token was revoked: banner %q, err %v; want the revocation said", banner, err)
	}
	_, priv2, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewSignerFromKey(priv2)
	if _, banner, err := e.connect(certified(stranger), other); err == nil || !strings.Contains(banner, unregisteredKey) {
		t.Errorf("a refused certificate, then another unregistered key: banner %q, err %v; want that key's refusal", banner, err)
	}
}
