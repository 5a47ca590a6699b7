package burrowtest_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/burrowtest"
)

// TestSSHCertificates goes through the client and a real controller: the
// user CA is made on first start, kept across restarts, handed to agents in
// their Welcome, and signs certificates only for a token's logins.
func TestSSHCertificates(t *testing.T) {
	s := burrowtest.Start(t)
	admin := s.Client(s.AdminToken)
	ca, err := admin.SSHCA(ctxShort(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ca.UserCAKeys) != 1 {
		t.Fatalf("user_ca_keys = %q, want one key", ca.UserCAKeys)
	}
	caKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(ca.UserCAKeys[0]))
	if err != nil {
		t.Fatal(err)
	}

	a := s.StartAgent("web-1", nil) // consumes the first Welcome
	a.Stop()
	a.Run(t)
	if got := a.WaitWelcome(t).GetTrust().GetUserCaKeys(); !slices.Equal(got, ca.UserCAKeys) {
		t.Errorf("agent was welcomed with user CA keys %q, want %q", got, ca.UserCAKeys)
	}

	line := newKeyLine(t)
	cert, err := admin.SignSSHCertificate(ctxShort(t), apitype.SSHCertificateRequest{PublicKey: line})
	if err != nil {
		t.Fatal(err)
	}
	parsed, _, _, _, err := ssh.ParseAuthorizedKey([]byte(cert.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := parsed.(*ssh.Certificate)
	if !ok || !bytes.Equal(c.SignatureKey.Marshal(), caKey.Marshal()) {
		t.Fatalf("certificate %q is not signed by the listed CA", cert.Certificate)
	}
	if want := burrowtest.AdminLogins(); !slices.Equal(cert.Principals, want) || !slices.Equal(c.ValidPrincipals, want) {
		t.Errorf("principals %q, want the admin's logins %q", c.ValidPrincipals, want)
	}

	member, err := admin.CreateToken(ctxShort(t), apitype.CreateTokenRequest{Name: "m", Logins: []string{"deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Client(member.Secret).SignSSHCertificate(ctxShort(t), apitype.SSHCertificateRequest{PublicKey: line, Principals: []string{"root"}})
	if apitype.ErrorCode(err) != apitype.CodeForbidden {
		t.Errorf("member asking for root: err = %v, want %s", err, apitype.CodeForbidden)
	}
	var e *apitype.Error
	if errors.As(err, &e) && !strings.Contains(e.Message, "burrow token create --login root") {
		t.Errorf("refusal %q does not say how to get the login", e.Message)
	}

	s.RestartController()
	again, err := s.Client(s.AdminToken).SSHCA(ctxShort(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.UserCAKeys, ca.UserCAKeys) {
		t.Errorf("user CA after restart %q, want %q", again.UserCAKeys, ca.UserCAKeys)
	}
}

func newKeyLine(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(ssh.MarshalAuthorizedKey(k))
}
