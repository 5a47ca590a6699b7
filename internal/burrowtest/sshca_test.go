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

// TestSSHSessionEvents logs in through the controller to an agent's SSH
// server and finds the login, the command and its exit in the session's
// audit events.
func TestSSHSessionEvents(t *testing.T) {
	s := burrowtest.Start(t)
	admin := s.Client(s.AdminToken)
	s.StartAgent("web-1", nil) // returns once welcomed
	login := burrowtest.AdminLogins()[0]

	certSigner := certSigner(t, admin.SignSSHCertificate, login)
	conn, err := admin.DialPortForward(ctxShort(t), "web-1", 22)
	if err != nil {
		t.Fatal(err)
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, "web-1:22", &ssh.ClientConfig{
		User: login, Auth: []ssh.AuthMethod{ssh.PublicKeys(certSigner)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // the host key check is the CLI's, tested in e2e
	})
	if err != nil {
		t.Fatal(err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var exit *ssh.ExitError
	if err := sess.Run("exit 3"); !errors.As(err, &exit) || exit.ExitStatus() != 3 {
		t.Fatalf("exit 3: %v", err)
	}
	client.Close()

	sessions, err := admin.Sessions(ctxShort(t), 1)
	if err != nil || len(sessions) != 1 || sessions[0].Port != 22 {
		t.Fatalf("sessions: %v %+v", err, sessions)
	}
	want := []string{"ssh-login", "ssh-exec exit 3", "ssh-exit"}
	eventually(t, func() error {
		evs, err := admin.SessionEvents(ctxShort(t), sessions[0].ID)
		if err != nil {
			return err
		}
		var got []string
		for _, e := range evs {
			got = append(got, strings.TrimSpace(e.Kind+" "+map[bool]string{true: e.Detail}[e.Kind == "ssh-exec"]))
			if e.Login != login {
				return errors.New("event with login " + e.Login)
			}
		}
		if !slices.Equal(got, want) {
			return errors.New("events [" + strings.Join(got, ", ") + "], want [" + strings.Join(want, ", ") + "]")
		}
		if s := evs[2].ExitStatus; s == nil || *s != 3 {
			return errors.New("exit event without status 3")
		}
		return nil
	})
}

// TestSSHHostCertificate: an agent's built-in SSH server offers a host
// certificate from the controller's host CA, for its target names, which a
// client trusting only the host CA accepts.
func TestSSHHostCertificate(t *testing.T) {
	s := burrowtest.Start(t)
	admin := s.Client(s.AdminToken)
	s.StartAgent("web-1", nil)
	hostCA := s.Controller().HostCA().PublicKey()
	login := burrowtest.AdminLogins()[0]

	certSigner := certSigner(t, admin.SignSSHCertificate, login)
	for _, name := range []string{"web-1", "web-1.burrow"} {
		checker := &ssh.CertChecker{IsHostAuthority: func(auth ssh.PublicKey, _ string) bool {
			return bytes.Equal(auth.Marshal(), hostCA.Marshal())
		}}
		conn, err := admin.DialPortForward(ctxShort(t), "web-1", 22)
		if err != nil {
			t.Fatal(err)
		}
		sc, chans, reqs, err := ssh.NewClientConn(conn, name+":22", &ssh.ClientConfig{
			User: login, Auth: []ssh.AuthMethod{ssh.PublicKeys(certSigner)},
			HostKeyCallback:   checker.CheckHostKey,
			HostKeyAlgorithms: []string{ssh.CertAlgoED25519v01},
		})
		if err != nil {
			t.Fatalf("as %s, trusting only the host CA: %v", name, err)
		}
		ssh.NewClient(sc, chans, reqs).Close()
	}
}
