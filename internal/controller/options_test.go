package controller

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
	c := &Controller{opts: Options{Listen: "192.0.2.7:8443", Hostnames: []string{"gw.example.com", "bad name"}}}
	got := c.gatewayHosts()
	for _, want := range []string{"localhost", "127.0.0.1", "::1", "gw.example.com", "192.0.2.7"} {
		if !slices.Contains(got, want) {
			t.Errorf("gatewayHosts() = %q, want %s in it", got, want)
		}
	}
	if slices.Contains(got, "bad name") {
		t.Errorf("gatewayHosts() = %q kept a name with a space", got)
	}
	c.opts.Listen, c.opts.SSHListen = "192.0.2.7:8443", ":2222"
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() && !slices.Contains(c.gatewayHosts(), ipn.IP.String()) {
			t.Errorf("a wildcard SSH listener: %s missing from %q", ipn.IP, c.gatewayHosts())
		}
	}
}
