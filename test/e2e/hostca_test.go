//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var userKnownHostsLine = regexp.MustCompile(`(?m)^(\s*)UserKnownHostsFile .*$`)

// testHostCA: with nothing but the line `burrow ca known-hosts` prints in
// known_hosts, OpenSSH with StrictHostKeyChecking=yes connects to a target
// (by its name, as NAME.burrow and as NAME.<org>.burrow): the agent shows
// a host certificate.
func (s *sshSuite) testHostCA(t *testing.T) {
	r := s.burrow("", "ca", "known-hosts")
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	if !strings.HasPrefix(r.stdout, "@cert-authority ") || strings.Count(strings.TrimSpace(r.stdout), "\n") != 0 {
		t.Fatalf("ca known-hosts printed %q, want one @cert-authority line", r.stdout)
	}
	cfg := knownHostsConfig(t, s.config, r.stdout)
	for _, host := range []string{targetName, targetName + ".burrow", targetName + "." + e2eOrg + ".burrow"} {
		r := s.strictSSH(cfg, host)
		if r.err != nil {
			t.Fatalf("ssh %s with only the host CA in known_hosts: %v", host, r)
		}
		if !strings.Contains(r.stderr, "Server host certificate") {
			t.Errorf("ssh %s did not see a host certificate:\n%s", host, r.stderr)
		}
	}
}

// knownHostsConfig copies the ssh_config base with known_hosts holding
// exactly knownHosts, and returns the copy's path.
func knownHostsConfig(t *testing.T, base, knownHosts string) string {
	t.Helper()
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(knownHosts), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte(userKnownHostsLine.ReplaceAllString(string(b), "${1}UserKnownHostsFile "+kh)), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// strictSSH runs `ssh HOST true` with config, refusing any host key its
// known_hosts does not vouch for.
func (s *sshSuite) strictSSH(config, host string) result {
	return s.ssh(config, nil, "-o", "StrictHostKeyChecking=yes", "-o", "UpdateHostKeys=no", "-v", host, "true")
}
