package sshd

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestAuth(t *testing.T) {
	e := newEnv(t, nil)
	otherCA := newSigner(t)
	tests := []struct {
		name  string
		login string                 // default e.login
		key   func() ssh.Signer      // default a certificate from e.ca changed by cert
		cert  func(*ssh.Certificate) // changes to the good certificate
		want  string                 // in the banner; "" means accepted
		skip  func() string          // a reason to skip, or ""
	}{
		{name: "good certificate"},
		{name: "certificate valid forever", cert: func(c *ssh.Certificate) { c.ValidAfter, c.ValidBefore = 0, ssh.CertTimeInfinity }},
		{name: "plain key", key: func() ssh.Signer { return newSigner(t) },
			want: "only burrow certificates are accepted here"},
		{name: "another CA", key: func() ssh.Signer { return e.certFor(t, otherCA, nil) },
			want: "not signed by a CA this target trusts"},
		{name: "expired", cert: func(c *ssh.Certificate) { c.ValidBefore = uint64(testNow.Add(-time.Second).Unix()) },
			want: "the certificate expired at 2030-01-02T03:04:04Z"},
		{name: "expires now", cert: func(c *ssh.Certificate) { c.ValidBefore = uint64(testNow.Unix()) },
			want: "the certificate expired at 2030-01-02T03:04:05Z"},
		{name: "not yet valid", cert: func(c *ssh.Certificate) { c.ValidAfter = uint64(testNow.Add(time.Hour).Unix()) },
			want: "the certificate is not valid before 2030-01-02T04:04:05Z"},
		{name: "validity beyond int64", cert: func(c *ssh.Certificate) { c.ValidAfter = math.MaxInt64 + 1 },
			want: "validity window is malformed"},
		{name: "other principal", cert: func(c *ssh.Certificate) { c.ValidPrincipals = []string{"someone-else"} },
			want: `does not allow logging in as "` + e.login + `" (it allows ["someone-else"])`},
		{name: "no principals", cert: func(c *ssh.Certificate) { c.ValidPrincipals = nil },
			want: `does not allow logging in as "` + e.login + `"`},
		{name: "host certificate", cert: func(c *ssh.Certificate) { c.CertType = ssh.HostCert },
			want: "this is not a user certificate"},
		{name: "unknown critical option", cert: func(c *ssh.Certificate) {
			c.CriticalOptions = map[string]string{"force-command": "true"}
		}, want: `unsupported critical option "force-command"`},
		{name: "source address", cert: func(c *ssh.Certificate) {
			c.CriticalOptions = map[string]string{"source-address": "192.0.2.1/32"}
		}, want: "may only be used from 192.0.2.1/32"},
		{name: "user does not exist", login: "burrow-no-such-user",
			cert: func(c *ssh.Certificate) { c.ValidPrincipals = []string{"burrow-no-such-user"} },
			want: `user "burrow-no-such-user" does not exist on web-1`},
		{name: "another user as non-root", login: "root",
			cert: func(c *ssh.Certificate) { c.ValidPrincipals = []string{"root"} },
			want: "not root, so it can only log you in as " + e.login,
			skip: func() string {
				if os.Geteuid() == 0 {
					return "the tests run as root"
				}
				return ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip != nil {
				if why := tt.skip(); why != "" {
					t.Skip(why)
				}
			}
			login := tt.login
			if login == "" {
				login = e.login
			}
			var key ssh.Signer
			if tt.key != nil {
				key = tt.key()
			} else {
				key = e.certFor(t, e.ca, tt.cert)
			}
			client, banners, err := e.connect(t, login, key)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v (banners %q)", err, banners)
				}
				if ok, _, err := client.SendRequest("keepalive@openssh.com", true, nil); !ok || err != nil {
					t.Fatalf("keepalive after login: %v %v", ok, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("logged in; want refusal %q", tt.want)
			}
			all := strings.Join(banners, "")
			if !strings.Contains(all, tt.want) || !strings.HasPrefix(all, "burrow: ") || !strings.HasSuffix(all, "\r\n") {
				t.Errorf("banners %q; want one saying %q", banners, tt.want)
			}
		})
	}
}

// TestOneBannerPerRefusal: OpenSSH offers the plain key after its
// certificate; once the certificate was refused, the plain key is refused
// without a second banner, so the user reads only why the certificate was.
func TestOneBannerPerRefusal(t *testing.T) {
	e := newEnv(t, nil)
	expired := e.certFor(t, e.ca, func(c *ssh.Certificate) { c.ValidBefore = uint64(testNow.Add(-time.Second).Unix()) })
	_, banners, err := e.connect(t, e.login, expired, newSigner(t))
	if err == nil {
		t.Fatal("logged in with an expired certificate and a plain key")
	}
	if len(banners) != 1 || !strings.Contains(banners[0], "the certificate expired") {
		t.Fatalf("banners %q; want only the certificate's refusal", banners)
	}
	// A plain key alone still hears what to do, and which key it was
	// (OpenSSH may offer it before a certificate that then logs in).
	plain := newSigner(t)
	if _, banners, _ := e.connect(t, e.login, plain); len(banners) != 1 || !strings.Contains(banners[0], "only burrow certificates") ||
		!strings.Contains(banners[0], ssh.FingerprintSHA256(plain.PublicKey())) {
		t.Fatalf("banners %q for a plain key alone", banners)
	}
}

// TestAuthTrustChanges checks the trust source is asked at each login:
// a CA the controller stops trusting stops working without a restart.
func TestAuthTrustChanges(t *testing.T) {
	var trust []ssh.PublicKey
	e := newEnv(t, func(o *Options) { o.Trust = func() []ssh.PublicKey { return trust } })
	trust = []ssh.PublicKey{e.ca.PublicKey()}
	key := e.certFor(t, e.ca, nil)
	if _, banners, err := e.connect(t, e.login, key); err != nil {
		t.Fatalf("refused: %v %q", err, banners)
	}
	trust = nil
	if _, _, err := e.connect(t, e.login, key); err == nil {
		t.Fatal("logged in with a CA no longer trusted")
	}
}

func TestNewNeedsKeyAndTrust(t *testing.T) {
	if _, err := New(Options{Trust: func() []ssh.PublicKey { return nil }}); err == nil {
		t.Error("New without a host key succeeded")
	}
	if _, err := New(Options{HostKey: newSigner(t)}); err == nil {
		t.Error("New without a trust source succeeded")
	}
}
