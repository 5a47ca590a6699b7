package burrowtest_test

import (
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/burrowtest"
	"github.com/burrow-dev/burrow/internal/client"
	"github.com/burrow-dev/burrow/internal/controller"
	"github.com/burrow-dev/burrow/internal/sshca"
)

// testClock is the controller's clock in these tests: real time plus a
// shift the test sets, so that an overlap can run out at once.
type testClock struct{ shift atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.shift.Load())) }
func (c *testClock) advance(d time.Duration) { c.shift.Add(int64(d)) }

// sshLogin authenticates to target's built-in SSH server as login with
// signer (the dial itself with dialer's token) and returns the refusal,
// with the banner the server sent, or nil.
func sshLogin(t *testing.T, dialer *client.Client, target, login string, signer ssh.Signer) error {
	t.Helper()
	conn, err := dialer.DialPortForward(ctxShort(t), target, 22)
	if err != nil {
		t.Fatal(err)
	}
	var banner strings.Builder
	sc, chans, reqs, err := ssh.NewClientConn(conn, target+":22", &ssh.ClientConfig{
		User: login, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		BannerCallback:  func(m string) error { banner.WriteString(m); return nil },
	})
	if err != nil {
		conn.Close()
		return errors.New(banner.String() + ": " + err.Error())
	}
	ssh.NewClient(sc, chans, reqs).Close()
	return nil
}

// TestCARotation: after a user CA rotation certificates of the old CA
// still log in during the overlap and new ones too; an agent offline
// during the rotation learns the new CA when it reconnects; once the
// overlap runs out, agents are told and refuse the old CA's certificates.
func TestCARotation(t *testing.T) {
	clk := &testClock{}
	s := burrowtest.StartWith(t, func(o *controller.Options) { o.Now, o.TrustRefresh = clk.now, 50*time.Millisecond })
	admin := s.Client(s.AdminToken)
	login := burrowtest.AdminLogins()[0]
	s.StartAgent("web-1", nil)
	offline := s.StartAgent("web-2", nil)
	oldCert := certSigner(t, admin.SignSSHCertificate, login)
	offline.Stop()

	rot, err := admin.RotateCA(ctxShort(t), apitype.RotateCARequest{Kind: "user", Overlap: "24h"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rot.Trusted) != 2 || rot.Trusted[1] != rot.Key {
		t.Fatalf("trusted after rotation = %q, want the old key and %q", rot.Trusted, rot.Key)
	}
	newCert := certSigner(t, admin.SignSSHCertificate, login)
	for name, c := range map[string]ssh.Signer{"old CA": oldCert, "new CA": newCert} {
		if err := sshLogin(t, admin, "web-1", login, c); err != nil {
			t.Errorf("certificate of the %s during the overlap: %v", name, err)
		}
	}

	offline.Run(t)
	if got := offline.WaitWelcome(t).GetTrust().GetUserCaKeys(); !slices.Equal(got, rot.Trusted) {
		t.Errorf("reconnected agent trusts %q, want %q", got, rot.Trusted)
	}
	if err := sshLogin(t, admin, "web-2", login, newCert); err != nil {
		t.Errorf("new certificate on the reconnected agent: %v", err)
	}

	clk.advance(24*time.Hour + time.Minute)
	eventually(t, func() error {
		err := sshLogin(t, admin, "web-1", login, oldCert)
		if err == nil {
			return errors.New("the old CA's certificate still logs in after the overlap")
		}
		if !strings.Contains(err.Error(), "not signed by a CA this target trusts") {
			t.Fatalf("refusal %q does not say the CA is not trusted", err)
		}
		return nil
	})
	if err := sshLogin(t, admin, "web-1", login, newCert); err != nil {
		t.Errorf("new certificate after the overlap: %v", err)
	}
}

// TestRevokedTokenCertificate: revoking a token makes agents refuse its
// still-valid certificates within seconds, with a banner saying why.
func TestRevokedTokenCertificate(t *testing.T) {
	s := burrowtest.StartWith(t, nil)
	admin := s.Client(s.AdminToken)
	login := burrowtest.AdminLogins()[0]
	agent := s.StartAgent("web-1", nil)
	member, err := admin.CreateToken(ctxShort(t), apitype.CreateTokenRequest{Name: "m", Logins: []string{login}})
	if err != nil {
		t.Fatal(err)
	}
	cert := certSigner(t, s.Client(member.Secret).SignSSHCertificate, login)
	if err := sshLogin(t, admin, "web-1", login, cert); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	if err := admin.RevokeToken(ctxShort(t), member.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		err := sshLogin(t, admin, "web-1", login, cert)
		if err == nil {
			return errors.New("a certificate of the revoked token still logs in")
		}
		if !strings.Contains(err.Error(), "burrow: this certificate's token was revoked") {
			t.Fatalf("refusal %q does not say the token was revoked", err)
		}
		return nil
	})
	// The controller reads the list from the store after a restart.
	s.RestartController()
	if got := agent.WaitWelcome(t).GetTrust().GetRevokedKeyIds(); !slices.Equal(got, sshca.RevokedKeyIDs(controller.DefaultOrg, "m", member.ID)) {
		t.Errorf("welcome after restart revokes %q, want the member token's key id", got)
	}
	if err := sshLogin(t, admin, "web-1", login, cert); err == nil {
		t.Error("after a controller restart a certificate of the revoked token logs in")
	}
}

// TestHostCARotation: a host CA rotation with an overlap is staged. At
// first the new key is only published, and the agent's SSH server keeps
// offering its certificate from the old key; when the overlap ends the
// controller pushes a certificate from the new key with the trust, so a
// client trusting only the new CA connects without the agent reconnecting.
func TestHostCARotation(t *testing.T) {
	clk := &testClock{}
	s := burrowtest.StartWith(t, func(o *controller.Options) { o.Now, o.TrustRefresh = clk.now, 50*time.Millisecond })
	admin := s.Client(s.AdminToken)
	login := burrowtest.AdminLogins()[0]
	s.StartAgent("web-1", nil)
	user := certSigner(t, admin.SignSSHCertificate, login)
	ca, err := admin.SSHCA(ctxShort(t))
	if err != nil {
		t.Fatal(err)
	}
	oldCA := parseKey(t, ca.HostCAKeys[0])

	rotated, err := admin.RotateCA(ctxShort(t), apitype.RotateCARequest{Kind: "host", Overlap: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if d := rotated.SignsFrom.Sub(rotated.CreatedAt); d != time.Hour || !slices.Equal(rotated.Trusted, []string{ca.HostCAKeys[0], rotated.Key}) {
		t.Fatalf("staged rotation answered %+v, want the new key signing in 1h and both trusted", rotated)
	}
	newCA := parseKey(t, rotated.Key)
	if err := hostSignedBy(t, admin, user, login, oldCA, clk.now); err != nil {
		t.Errorf("during the overlap the target's certificate is not from the old CA: %v", err)
	}
	if _, err := admin.RotateCA(ctxShort(t), apitype.RotateCARequest{Kind: "host", Overlap: "1h"}); err == nil || !strings.Contains(err.Error(), "under way") {
		t.Errorf("a second staged rotation: %v, want a refusal saying one is under way", err)
	}

	clk.advance(time.Hour + time.Second)
	eventually(t, func() error { return hostSignedBy(t, admin, user, login, newCA, clk.now) })
}

// hostSignedBy connects to web-1's built-in SSH server trusting only ca
// for host certificates, checked at now.
func hostSignedBy(t *testing.T, dialer *client.Client, user ssh.Signer, login string, ca ssh.PublicKey, now func() time.Time) error {
	t.Helper()
	checker := &ssh.CertChecker{Clock: now, IsHostAuthority: func(auth ssh.PublicKey, _ string) bool {
		return string(auth.Marshal()) == string(ca.Marshal())
	}}
	conn, err := dialer.DialPortForward(ctxShort(t), "web-1", 22)
	if err != nil {
		return err
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, "web-1:22", &ssh.ClientConfig{
		User: login, Auth: []ssh.AuthMethod{ssh.PublicKeys(user)},
		HostKeyCallback: checker.CheckHostKey, HostKeyAlgorithms: []string{ssh.CertAlgoED25519v01},
	})
	if err != nil {
		conn.Close()
		return err
	}
	ssh.NewClient(sc, chans, reqs).Close()
	return nil
}

func parseKey(t *testing.T, line string) ssh.PublicKey {
	t.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
