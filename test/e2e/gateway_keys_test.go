//go:build e2e && linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testRegisteredKey: the real OpenSSH client jumps through the gateway with
// a plain key registered by `burrow keys add` and logs in to the target
// with a burrow certificate (the target accepts only certificates). The
// key stops opening the gateway once removed, and once its token is
// revoked.
func (s *gatewaySuite) testRegisteredKey(t *testing.T) {
	c := s.c
	tok := c.createToken(t, c.env, "--name", "gw-keys", "--login", "root")
	keyEnv := append(slices.Clone(c.env), "BURROW_TOKEN="+tok.Secret)
	plain := filepath.Join(s.dir, "jump_ed25519")
	keygen(t, plain, "jump-key")
	certKey := filepath.Join(s.dir, "target_ed25519")
	keygen(t, certKey, "target-key")
	c.signSSHCert(t, c.adminToken, certKey+".pub", certKey+"-cert.pub", []string{"root"}, "10m")

	config := s.splitConfig(t, "ssh_config_keys", plain, certKey)
	jump := func(cmd string) result { return s.ssh(config, "-J", s.jump, "root@"+targetName, cmd) }
	if r := jump("true"); r.err == nil || !strings.Contains(r.stderr, "this key is not registered; `burrow keys add` it") {
		t.Fatalf("an unregistered key: want refused with a hint: %v", r)
	}

	id := s.addKey(t, keyEnv, plain+".pub")
	if r := jump("echo key-jump"); r.err != nil || strings.TrimSpace(r.stdout) != "key-jump" {
		t.Fatalf("ssh -J with a registered key: %v", r)
	}
	// The registered key opens only the gateway: the target wants a
	// certificate.
	plainOnly := s.splitConfig(t, "ssh_config_keys_plain", plain, plain)
	if r := s.ssh(plainOnly, "-J", s.jump, "root@"+targetName, "touch /tmp/gateway-keys-must-not-exist"); r.err == nil {
		t.Fatalf("the target accepted a plain key: %v", r)
	}
	noFile(t, "/tmp/gateway-keys-must-not-exist")

	if r := run(c.topo.user, keyEnv, nil, burrowBin, "keys", "remove", id); r.err != nil {
		t.Fatalf("%v", r)
	}
	if r := jump("true"); r.err == nil || !strings.Contains(r.stderr, "this key is not registered") {
		t.Fatalf("a removed key: want refused: %v", r)
	}

	s.addKey(t, keyEnv, plain+".pub")
	c.mustBurrow(t, "token", "revoke", tok.ID)
	if r := jump("true"); r.err == nil || !strings.Contains(r.stderr, "token "+tok.ID+" was revoked") {
		t.Fatalf("a key whose token was revoked: want refused: %v", r)
	}
}

// addKey registers pub with `burrow keys add` and checks `burrow keys
// list` shows it; it returns the key's id.
func (s *gatewaySuite) addKey(t *testing.T, env []string, pub string) string {
	t.Helper()
	r := run(s.c.topo.user, env, nil, burrowBin, "keys", "add", "--name", "jump", pub)
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(r.stdout), " ")
	r = run(s.c.topo.user, env, nil, burrowBin, "keys", "list", "-o", "json")
	var keys []struct{ ID, Name string }
	if r.err != nil || json.Unmarshal([]byte(r.stdout), &keys) != nil ||
		!slices.ContainsFunc(keys, func(k struct{ ID, Name string }) bool { return k.ID == id && k.Name == "jump" }) {
		t.Fatalf("keys list does not show key %q: %v", id, r)
	}
	return id
}

// splitConfig writes an ssh_config in which the gateway gets only
// jumpKey (no certificate) and the target only targetKey with its
// certificate, if it has one; known hosts as in the suite's config.
func (s *gatewaySuite) splitConfig(t *testing.T, name, jumpKey, targetKey string) string {
	t.Helper()
	b, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	var known string
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(strings.TrimSpace(line), "UserKnownHostsFile ") {
			known = line
		}
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "Host %s\n    IdentityFile %s\n", ctlUserAddr, jumpKey)
	fmt.Fprintf(&cfg, "Host %s\n    IdentityFile %s\n", targetName, targetKey)
	if _, err := os.Stat(targetKey + "-cert.pub"); err == nil {
		fmt.Fprintf(&cfg, "    CertificateFile %s-cert.pub\n", targetKey)
	}
	fmt.Fprintf(&cfg, "Host *\n    IdentitiesOnly yes\n%s    GlobalKnownHostsFile /dev/null\n", known)
	cfg.WriteString("    StrictHostKeyChecking yes\n    BatchMode yes\n    ConnectTimeout 20\n")
	path := filepath.Join(s.dir, name)
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
