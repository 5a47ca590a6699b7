package burrowtest_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/burrowtest"
	"github.com/burrow-dev/burrow/internal/controller"
	"github.com/burrow-dev/burrow/internal/gateway"
)

// TestSSHGatewayJump does what `ssh -J gw root@web-1` does: log in to the
// controller's SSH gateway with a burrow certificate, open direct-tcpip to
// web-1:22, and run SSH end to end with the agent's server inside it.
func TestSSHGatewayJump(t *testing.T) {
	s := burrowtest.StartWith(t, func(o *controller.Options) { o.SSHListen = "127.0.0.1:0" })
	s.StartAgent("web-1", nil)
	admin := s.Client(s.AdminToken)
	login := burrowtest.AdminLogins()[0]
	cert := certSigner(t, admin.SignSSHCertificate, login)

	hostKey, err := gateway.LoadOrCreateHostKey(filepath.Join(s.DataDir, gateway.HostKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	// The gateway offers its plain host key (a client that pinned it asks
	// for that algorithm) and a host certificate from the host CA for the
	// names it is reached by.
	gw, err := ssh.Dial("tcp", s.Controller().SSHAddr().String(), &ssh.ClientConfig{
		User: "jump", Auth: []ssh.AuthMethod{ssh.PublicKeys(cert)},
		HostKeyCallback: ssh.FixedHostKey(hostKey.PublicKey()), HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout: burrowtest.WaitShort,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	hostCA := s.Controller().HostCA().PublicKey()
	checker := &ssh.CertChecker{IsHostAuthority: func(k ssh.PublicKey, _ string) bool { return bytes.Equal(k.Marshal(), hostCA.Marshal()) }}
	viaCA, err := ssh.Dial("tcp", s.Controller().SSHAddr().String(), &ssh.ClientConfig{
		User: "jump", Auth: []ssh.AuthMethod{ssh.PublicKeys(cert)},
		HostKeyCallback: checker.CheckHostKey, HostKeyAlgorithms: []string{ssh.CertAlgoED25519v01},
		Timeout: burrowtest.WaitShort,
	})
	if err != nil {
		t.Fatalf("the gateway's host certificate, checked against the host CA for 127.0.0.1: %v", err)
	}
	viaCA.Close()

	conn, err := gw.Dial("tcp", "web-1:22")
	if err != nil {
		t.Fatal(err)
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, "web-1:22", &ssh.ClientConfig{
		User: login, Auth: []ssh.AuthMethod{ssh.PublicKeys(cert)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // the target's host key check is tested in e2e
	})
	if err != nil {
		t.Fatal(err)
	}
	target := ssh.NewClient(sc, chans, reqs)
	defer target.Close()
	sess, err := target.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Output("echo end-to-end; exit 3")
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 3 || strings.TrimSpace(string(out)) != "end-to-end" {
		t.Fatalf("through the gateway: output %q, %v; want end-to-end and exit 3", out, err)
	}
	target.Close()

	if _, err := gw.Dial("tcp", "nope:22"); err == nil || !strings.Contains(err.Error(), "no target named nope") {
		t.Errorf("dial to an unknown target: %v", err)
	}
	eventually(t, func() error {
		ss, err := admin.Sessions(ctxShort(t), 10)
		if err != nil {
			return err
		}
		for _, x := range ss {
			if x.FrontDoor == gateway.Door && x.Target == "web-1" && x.Port == 22 && x.EndedAt != nil {
				return nil
			}
		}
		return errors.New("no ended ssh-gateway session to web-1:22 in the audit log")
	})
}

// certSigner makes a key and has the controller certify it for login.
func certSigner(t *testing.T, sign signFunc, login string) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := sign(ctxShort(t), apitype.SSHCertificateRequest{
		PublicKey: string(ssh.MarshalAuthorizedKey(signer.PublicKey())), Principals: []string{login},
	})
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(resp.Certificate))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ssh.NewCertSigner(pub.(*ssh.Certificate), signer)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

type signFunc func(context.Context, apitype.SSHCertificateRequest) (apitype.SSHCertificate, error)
