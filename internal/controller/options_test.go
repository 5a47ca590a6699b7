package controller

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/gateway"
)

// TestNegativeSSHLimitRefused: New refuses a negative gateway limit before
// it creates anything.
func TestNegativeSSHLimitRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	_, err := New(Options{DataDir: dir, SSHLimits: gateway.Limits{PerSourceMaxStartups: -1}})
	if err == nil || !strings.Contains(err.Error(), "per-source max startups") {
		t.Fatalf("New: err = %v, want one naming the limit", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("New created %s before refusing", dir)
	}
}

// TestGatewayHosts: the gateway's certificate names this machine, the
// --hostname values and a specific listen address; a wildcard listener
// adds the machine's addresses; nothing that would break a pattern list.
func TestGatewayHosts(t *testing.T) {
	c := &Controller{opts: Options{Listen: "192.0.2.7:8443", SSHListen: "127.0.0.1:2222", Hostnames: []string{"gw.example.com", "bad name"}}}
	got := c.gatewayHosts()
	for _, want := range []string{"localhost", "127.0.0.1", "gw.example.com", "192.0.2.7"} {
		if !slices.Contains(got, want) {
			t.Errorf("gatewayHosts() = %q, want %s in it", got, want)
		}
	}
	if slices.Contains(got, "bad name") {
		t.Errorf("gatewayHosts() = %q kept a name with a space", got)
	}
	c.opts.Listen, c.opts.SSHListen = "192.0.2.7:8443", ":2222"
	got = c.gatewayHosts()
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		if in := slices.Contains(got, ipn.IP.String()); in == ipn.IP.IsLoopback() {
			t.Errorf("a wildcard SSH listener: %s in %q is %v, want %v", ipn.IP, got, in, !ipn.IP.IsLoopback())
		}
	}
	if slices.Contains(got, "localhost") {
		t.Errorf("a wildcard listener brought localhost: %q", got)
	}
}

// TestAgentNotCertifiedForGatewayNames: an agent that declares a target by
// one of the gateway's names gets no host certificate for that name.
func TestAgentNotCertifiedForGatewayNames(t *testing.T) {
	c, err := New(Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Hostnames: []string{"gw.example.com"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := ssh.NewPublicKey(priv.Public())
	line, err := c.signHostKey("a1", string(ssh.MarshalAuthorizedKey(pub)), []string{"web-1", "gw.example.com", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if got := k.(*ssh.Certificate).ValidPrincipals; !slices.Equal(got, []string{"web-1", "web-1.burrow", "web-1.default.burrow"}) {
		t.Errorf("principals %q, want web-1's names only", got)
	}
}

// TestOrgFixedAtFirstStart: the first start stores the org's name; later
// starts take it without --org, keep it with the same one, and refuse
// another one. A name that is no DNS label is refused before anything is
// created.
func TestOrgFixedAtFirstStart(t *testing.T) {
	dir := t.TempDir()
	start := func(org string) (string, error) {
		c, err := New(Options{DataDir: dir, Listen: "127.0.0.1:0", Org: org, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.Org(), nil
	}
	for _, tt := range []struct{ give, want string }{{"acme", "acme"}, {"", "acme"}, {"acme", "acme"}} {
		if got, err := start(tt.give); err != nil || got != tt.want {
			t.Fatalf("start with org %q: %q, %v; want %q", tt.give, got, err, tt.want)
		}
	}
	if _, err := start("other"); err == nil || !strings.Contains(err.Error(), `this data directory's org is "acme"`) {
		t.Fatalf("start with another org: %v, want a refusal naming acme", err)
	}
	if got, err := func() (string, error) { dir = t.TempDir(); return start("") }(); err != nil || got != DefaultOrg {
		t.Fatalf("first start without an org: %q, %v; want %q", got, err, DefaultOrg)
	}
	bad := filepath.Join(t.TempDir(), "data")
	if _, err := New(Options{DataDir: bad, Org: "Acme Corp"}); err == nil || !strings.Contains(err.Error(), "not a valid org name") {
		t.Fatalf("New with org %q: %v", "Acme Corp", err)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatalf("New created %s before refusing", bad)
	}
}
