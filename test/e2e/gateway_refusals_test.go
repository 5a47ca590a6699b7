//go:build e2e && linux

package e2e

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // to read the controller's CA key for a not-yet-valid certificate
)

const (
	rateLimitAddr    = "10.77.2.3" // a second address of user, for the clients the gateway blocks
	gatewayMaxFailed = 20          // failed logins per source IP before the gateway blocks it
	gatewayStartups  = 64          // gateway.Options.PerSourceMaxStartups: logins in progress per source IP
)

// TestGatewayFrontDoor checks, with the real OpenSSH client, what the
// gateway refuses and that it keeps serving: refusals with clear messages
// and nothing run on the target, a target in a second private namespace,
// SSH, HTTPS and gRPC together on the main port next to junk and slow
// clients, and the rate limit on failed logins (last: it blocks an
// address for 5 minutes).
func TestGatewayFrontDoor(t *testing.T) {
	requireSSHTools(t)
	s := newGatewaySuite(t)
	t.Run("refusals", func(t *testing.T) {
		t.Run("expired-certificate", s.testGatewayExpired)
		t.Run("not-yet-valid", s.testGatewayNotYetValid)
		t.Run("wrong-ca", s.testGatewayWrongCA)
		t.Run("principal-not-allowed", s.testGatewayPrincipal)
		t.Run("revoked-token", s.testGatewayRevokedToken)
		t.Run("revoked-user", s.testGatewayRevokedUser)
		t.Run("source-address-mismatch", s.testGatewaySourceAddress)
	})
	t.Run("second-namespace", s.testSecondNamespace) // gateway_netns_test.go
	t.Run("one-port-under-load", s.testOnePortLoad)  // gateway_load_test.go
	t.Run("logins-in-progress", s.testMaxStartups)
	t.Run("rate-limit", s.testRateLimit)
}

// testMaxStartups: connections that say nothing fill user's share of
// logins in progress on the plain SSH port; then ssh -J from user is
// closed at once, and gets in again once they are gone.
func (s *gatewaySuite) testMaxStartups(t *testing.T) {
	var silent []net.Conn
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	for range gatewayStartups {
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		c, err := s.c.topo.user.dial(ctx, net.JoinHostPort(ctlUserAddr, gatewaySSHPort))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
		// The gateway counts a connection before it sends its banner.
		c.SetReadDeadline(time.Now().Add(dialTimeout))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			t.Fatalf("silent connection %d got no banner: %v", len(silent), err)
		}
	}
	start := time.Now()
	r := s.ssh(s.config, "-J", s.jump, "root@"+targetName, "true")
	if r.err == nil || !strings.Contains(r.stderr, "Connection closed") {
		t.Fatalf("ssh -J with %d silent connections from the same address: want closed at once, got %v", gatewayStartups, r)
	}
	t.Logf("closed at once (%v): %s", time.Since(start).Round(time.Millisecond), strings.Join(strings.Fields(r.stderr), " "))
	if n, err := s.c.controllerMetric(`burrow_ssh_gateway_connections_refused_total{reason="logins_in_progress"}`); err != nil || n < 1 {
		t.Errorf("the controller's metrics do not count the refusal: %d, %v", n, err)
	}
	for _, c := range silent {
		c.Close()
	}
	silent = nil
	eventually(t, gatewayHandshake, "ssh -J once the silent connections are gone", func() error {
		if r := s.ssh(s.config, "-J", s.jump, "root@"+targetName, "true"); r.err != nil {
			return fmt.Errorf("%v", r)
		}
		return nil
	})
}

// knownHosts is the UserKnownHostsFile list of the suite's config.
func (s *gatewaySuite) knownHosts(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "UserKnownHostsFile "); ok {
			return strings.Fields(rest)
		}
	}
	t.Fatalf("%s names no UserKnownHostsFile", s.config)
	return nil
}

// keyConfig writes a config like the suite's with key and cert instead.
func (s *gatewaySuite) keyConfig(t *testing.T, key, cert string) string {
	t.Helper()
	name := "ssh_config_" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return s.writeConfig(t, name, key, cert, s.knownHosts(t)...)
}

// refusedJump runs `touch MARKER` on the target through the gateway with
// config and checks OpenSSH could not log in, said want (and no more than
// that of its key), and ran nothing.
func (s *gatewaySuite) refusedJump(t *testing.T, config, dest, want string) {
	t.Helper()
	marker := "/tmp/gw-e2e-" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	r := s.ssh(config, "-J", s.jump, dest, "touch "+marker)
	if r.exitCode != refusedStatus || !strings.Contains(r.stderr, want) {
		t.Errorf("ssh -J %s %s: want exit %d and %q on stderr, got exit %d: %v", s.jump, dest, refusedStatus, want, r.exitCode, r)
	} else {
		t.Logf("refused as it must be: %s", strings.Join(strings.Fields(strings.TrimSpace(r.stderr)), " "))
	}
	if !strings.Contains(want, "not registered") && strings.Contains(r.stderr, "not registered") {
		t.Errorf("ssh -J %s %s: a second refusal, for the plain key OpenSSH offers after its certificate: %v", s.jump, dest, r)
	}
	noFile(t, marker)
}

// mustJump runs cmd on the target through the gateway and wants exit 0.
func (s *gatewaySuite) mustJump(t *testing.T, config, dest, cmd string) result {
	t.Helper()
	r := s.ssh(config, "-J", s.jump, dest, cmd)
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	return r
}

func (s *gatewaySuite) testGatewayExpired(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	keygen(t, key, "gw-expiring")
	cert := s.c.signSSHCert(t, s.c.adminToken, key+".pub", key+"-cert.pub", []string{"root"}, shortCertTTL)
	config := s.keyConfig(t, key, key+"-cert.pub")
	eventually(t, certExpiry, "the "+shortCertTTL+" certificate expires", func() error {
		if left := time.Until(cert.ValidBefore); left >= 0 {
			return fmt.Errorf("valid for %v more", left)
		}
		return nil
	})
	s.refusedJump(t, config, "root@"+targetName, "burrow: the certificate expired at")
}

// testGatewayNotYetValid signs with the controller's own user CA, read
// from its store (the API always backdates certificates by a minute), a
// certificate valid an hour from now.
func (s *gatewaySuite) testGatewayNotYetValid(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "user_ca")
	if err := os.WriteFile(ca, s.userCAKey(t), 0o600); err != nil {
		t.Fatal(err)
	}
	id, subject := s.adminTokenID(t)
	keyID := fmt.Sprintf("burrow:%s:%s:%s", e2eOrg, subject, id)
	sign := func(name, validity string) string {
		key := filepath.Join(dir, name)
		keygen(t, key, "gw-"+name)
		cmd := exec.Command("ssh-keygen", "-q", "-s", ca, "-I", keyID, "-n", "root", "-V", validity, key+".pub")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen -s: %v\n%s", err, b)
		}
		return key
	}
	// Signed the same way but valid now, it logs in: only the validity differs.
	now := sign("now", "-5m:+1h")
	s.mustJump(t, s.keyConfig(t, now, now+"-cert.pub"), "root@"+targetName, "true")
	later := sign("later", "+1h:+2h")
	s.refusedJump(t, s.keyConfig(t, later, later+"-cert.pub"), "root@"+targetName, "burrow: the certificate is not valid before")
}

// userCAKey is the PEM private key of the current user CA, from the
// controller's SQLite store (kept unencrypted, see docs/ssh.md).
func (s *gatewaySuite) userCAKey(t *testing.T) []byte {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.c.ctlDir, "burrow.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var private string
	err = db.QueryRow(`SELECT private_key FROM ca_keys WHERE kind = 'user' AND retired_at IS NULL`).Scan(&private)
	if err != nil {
		t.Fatalf("read the user CA from the controller's store: %v", err)
	}
	pem, err := hex.DecodeString(private)
	if err != nil {
		t.Fatalf("the user CA's private key is not hex: %v", err)
	}
	return pem
}

// adminTokenID is the id and subject of the admin token.
func (s *gatewaySuite) adminTokenID(t *testing.T) (id, subject string) {
	t.Helper()
	r := s.c.mustBurrow(t, "token", "list", "-o", "json")
	var ts []struct{ ID, Subject, Role string }
	if err := json.Unmarshal([]byte(r.stdout), &ts); err != nil {
		t.Fatalf("token list -o json: %v in %q", err, r.stdout)
	}
	for _, tok := range ts {
		if tok.Role == "admin" {
			return tok.ID, tok.Subject
		}
	}
	t.Fatalf("token list -o json: no admin token in %s", r.stdout)
	return "", ""
}

func (s *gatewaySuite) testGatewayWrongCA(t *testing.T) {
	dir := t.TempDir()
	ca, key := filepath.Join(dir, "ca"), filepath.Join(dir, "id")
	keygen(t, ca, "gw-foreign-ca")
	keygen(t, key, "gw-foreign-user")
	id, subject := s.adminTokenID(t)
	// Even a key id naming a live token does not help.
	cmd := exec.Command("ssh-keygen", "-q", "-s", ca, "-I", fmt.Sprintf("burrow:%s:%s:%s", e2eOrg, subject, id), "-n", "root", "-V", "-5m:+1h", key+".pub")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -s: %v\n%s", err, b)
	}
	s.refusedJump(t, s.keyConfig(t, key, key+"-cert.pub"), "root@"+targetName, "not signed by a CA this gateway trusts")
}

// testGatewayPrincipal: the gateway lets a member in (the login name it
// is given is informational), the target refuses a login the certificate
// does not name.
func (s *gatewaySuite) testGatewayPrincipal(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	keygen(t, key, "gw-alice")
	tok := s.c.createToken(t, s.env, "--name", "gw-"+foreignLogin, "--role", "member", "--login", foreignLogin)
	s.c.signSSHCert(t, tok.Secret, key+".pub", key+"-cert.pub", []string{foreignLogin}, certValidity)
	s.refusedJump(t, s.keyConfig(t, key, key+"-cert.pub"), "root@"+targetName, fmt.Sprintf("does not allow logging in as %q", "root"))
}

func (s *gatewaySuite) testGatewayRevokedToken(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	keygen(t, key, "gw-revoked")
	tok := s.c.createToken(t, s.env, "--name", "gw-revoke", "--role", "admin", "--login", "root")
	s.c.signSSHCert(t, tok.Secret, key+".pub", key+"-cert.pub", []string{"root"}, certValidity)
	config := s.keyConfig(t, key, key+"-cert.pub")
	s.mustJump(t, config, "root@"+targetName, "true")
	s.c.mustBurrow(t, "token", "revoke", tok.ID)
	s.refusedJump(t, config, "root@"+targetName, "token "+tok.ID+" was revoked")
}

// testGatewayRevokedUser: revoking a user revokes every token they hold;
// certificates from each are refused at once, with nothing run, while
// another user's still work.
func (s *gatewaySuite) testGatewayRevokedUser(t *testing.T) {
	dir := t.TempDir()
	var configs []string
	var ids []string
	for _, n := range []string{"a", "b"} {
		key := filepath.Join(dir, "id-"+n)
		keygen(t, key, "gw-revoked-user-"+n)
		tok := s.c.createToken(t, s.env, "--name", "gw-user-"+n, "--subject", "gw-user", "--role", "admin", "--login", "root")
		s.c.signSSHCert(t, tok.Secret, key+".pub", key+"-cert.pub", []string{"root"}, certValidity)
		config := s.writeConfig(t, "ssh_config_revoked_user_"+n, key, key+"-cert.pub", s.knownHosts(t)...)
		s.mustJump(t, config, "root@"+targetName, "true")
		configs, ids = append(configs, config), append(ids, tok.ID)
	}
	if r := s.c.mustBurrow(t, "token", "revoke", "--user", "gw-user"); !strings.Contains(r.stdout, "revoked 2 token(s) of gw-user") {
		t.Errorf("burrow token revoke --user gw-user: %v", r)
	}
	for i, config := range configs {
		s.refusedJump(t, config, "root@"+targetName, "token "+ids[i]+" was revoked")
	}
	s.mustJump(t, s.config, "root@"+targetName, "true") // other users are untouched
	if r := run(s.c.topo.user, s.env, nil, burrowBin, "token", "revoke", "--user", "nobody-at-all"); r.err == nil || !strings.Contains(r.stderr, "no API token belongs to") {
		t.Errorf("revoking an unknown user: want a clear refusal, got %v", r)
	}
}

// testGatewaySourceAddress: a certificate for 10.99.0.0/16 only, used
// from user's 10.77.2.2, is refused by the gateway itself.
func (s *gatewaySuite) testGatewaySourceAddress(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	r := run(s.c.topo.user, withEnv(s.env, "SSH_AUTH_SOCK="), nil, burrowBin,
		"cert", "issue", "--ttl", "10m", "--source-address", "10.99.0.0/16", "--out", dir)
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	key := filepath.Join(dir, "id_ed25519")
	marker := "/tmp/gw-e2e-source-address"
	r = s.ssh(s.keyConfig(t, key, key+"-cert.pub"), "-J", s.jump, "root@"+targetName, "touch "+marker)
	if r.exitCode != refusedStatus {
		t.Errorf("a certificate for 10.99.0.0/16 used from %s: want refused, got %v", userAddr, r)
	}
	noFile(t, marker)
	if !strings.Contains(r.stderr, "may only be used from 10.99.0.0/16") {
		t.Errorf("stderr does not say where the certificate may be used from: %v", r)
	}

	// A certificate for user's own address works through the gateway and
	// at the agent, which learns the user's address from the controller,
	// and the login sees it in SSH_CONNECTION.
	dir = filepath.Join(t.TempDir(), "keys")
	if r := run(s.c.topo.user, withEnv(s.env, "SSH_AUTH_SOCK="), nil, burrowBin,
		"cert", "issue", "--ttl", "10m", "--source-address", userAddr+"/32", "--out", dir); r.err != nil {
		t.Fatalf("%v", r)
	}
	key = filepath.Join(dir, "id_ed25519")
	r = s.ssh(s.keyConfig(t, key, key+"-cert.pub"), "-J", s.jump, "root@"+targetName, "echo $SSH_CONNECTION")
	if r.err != nil || !strings.HasPrefix(r.stdout, userAddr+" ") {
		t.Errorf("a certificate for %s/32 used from there: want accepted and SSH_CONNECTION from it, got %v", userAddr, r)
	}
}

// testRateLimit: 20 failed logins from rateLimitAddr, then that address
// is refused even with a good certificate, on both ports, and told why and
// until when, while user's own address still gets through.
func (s *gatewaySuite) testRateLimit(t *testing.T) {
	ipCmd(t, "-n", s.c.topo.user.name, "addr", "add", rateLimitAddr+prefixLength, "dev", fmt.Sprintf("bw%duc", os.Getpid()))
	key := filepath.Join(t.TempDir(), "unregistered")
	keygen(t, key, "gw-unregistered")
	bad := s.keyConfig(t, key, "")
	direct := func(config, port string) result {
		return s.ssh(config, "-b", rateLimitAddr, "-p", port, "jump@"+ctlUserAddr)
	}
	// At once: the bucket refills a token every 3 s.
	start := time.Now()
	results := make([]result, gatewayMaxFailed)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = direct(bad, gatewaySSHPort) }()
	}
	wg.Wait()
	t.Logf("%d failed logins from %s in %v", gatewayMaxFailed, rateLimitAddr, time.Since(start).Round(time.Millisecond))
	for i, r := range results {
		if r.exitCode != refusedStatus || !strings.Contains(r.stderr, "this key is not registered") {
			t.Fatalf("failed login %d of %d: want refused for the key: %v", i+1, gatewayMaxFailed, r)
		}
	}
	for _, port := range []string{gatewaySSHPort, controllerPort} {
		r := direct(s.config, port)
		if r.exitCode != refusedStatus || strings.Contains(r.stdout, "burrow gateway: you are") {
			t.Errorf("port %s, login %d from %s with a good certificate: want refused, got %v", port, gatewayMaxFailed+1, rateLimitAddr, r)
		} else {
			t.Logf("port %s: refused as it must be: %s", port, strings.Join(strings.Fields(strings.TrimSpace(r.stderr)), " "))
		}
		if !strings.Contains(r.stderr, "too many failed logins from "+rateLimitAddr) || !strings.Contains(r.stderr, "refused until") {
			t.Errorf("port %s: a blocked address was not told why, and until when: %v", port, r)
		}
		if strings.Contains(r.stderr, "not registered") || strings.Contains(r.stderr, "burrow: ") {
			t.Errorf("port %s: a blocked address got as far as a check of its key: %v", port, r)
		}
	}
	if n, err := s.c.controllerMetric(`burrow_ssh_gateway_connections_refused_total{reason="rate_limited"}`); err != nil || n < 2 {
		t.Errorf("the controller's metrics do not count the 2 rate-limited connections: %d, %v", n, err)
	}
	if n, err := s.c.controllerMetric(`burrow_ssh_gateway_logins_total{result="refused"}`); err != nil || n < gatewayMaxFailed {
		t.Errorf("the controller's metrics do not count %d refused logins: %d, %v", gatewayMaxFailed, n, err)
	}
	if !strings.Contains(s.c.controller.output(), "too many failed logins") {
		t.Errorf("the controller did not log the block:\n%s", tail(s.c.controller.output()))
	}
	// Another client, from user's own address, is not affected.
	if r := s.mustJump(t, s.config, "root@"+targetName, "echo still-open"); strings.TrimSpace(r.stdout) != "still-open" {
		t.Errorf("ssh -J from %s after %s was blocked: %v", userAddr, rateLimitAddr, r)
	}
	jump := "jump@" + net.JoinHostPort(ctlUserAddr, controllerPort)
	if r := s.ssh(s.config, "-J", jump, "root@"+targetName, "true"); r.err != nil {
		t.Errorf("ssh -J on the main port from %s: %v", userAddr, r)
	}
}
