//go:build e2e && linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	sysTarget      = "sys"            // declared target in priv whose own sshd answers port 22
	sshdPath       = "/usr/sbin/sshd" // Debian's openssh-server
	sshdReady      = 10 * time.Second // sshd accepts connections
	agentShortTTL  = 5 * time.Second  // the certificate that must leave the ssh-agent
	agentForgetMax = 15 * time.Second // for the ssh-agent to drop it, from issue
	certSource     = "10.77.2.0/24,192.0.2.1"
)

// certSuite is a cluster whose agent in priv declares sysTarget, served by
// a real OpenSSH sshd on priv's loopback that trusts what
// `burrow ca export --user` prints.
type certSuite struct {
	c       *cluster
	env     []string // of burrow, ssh and ssh-add in user
	procs   *procs
	dir     string
	caFile  string // sshd's TrustedUserCAKeys
	krlFile string // sshd's RevokedKeys, as `burrow ca krl --out` writes it
	sshd    *proc
}

// TestCert covers `burrow cert issue` (ssh-agent and files) and
// `burrow ca export --user` with the real OpenSSH tools.
func TestCert(t *testing.T) {
	requireSSHTools(t)
	if _, err := os.Stat(sshdPath); err != nil {
		t.Skipf("needs openssh-server: %v", err)
	}
	s := newCertSuite(t)
	t.Run("issue-into-ssh-agent", s.testAgent)
	t.Run("ssh-keygen-L", s.testKeygenL)
	t.Run("real-sshd-trusts-ca-export", s.testRealSSHD)
}

func newCertSuite(t *testing.T) *certSuite {
	topo := newTopology(t)
	c := newCluster(t, topo)
	s := &certSuite{c: c, env: sshEnv(c.env), dir: t.TempDir()}
	s.procs = newProcs(t, s.env)
	c.startController(t)
	joinToken := c.createJoinToken(t, 1)
	c.login(t)
	c.startAgent(t, joinToken, "--target", sysTarget+"=127.0.0.1,ssh=system")
	c.waitOnline(t, true, agentOnlineTimeout)
	return s
}

// burrow runs the CLI in user with the suite's environment plus env.
func (s *certSuite) burrow(t *testing.T, env []string, args ...string) result {
	t.Helper()
	r := run(s.c.topo.user, withEnv(s.env, env...), nil, burrowBin, args...)
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	return r
}

// startSSHAgent runs ssh-agent in user and returns its SSH_AUTH_SOCK=…
func (s *certSuite) startSSHAgent(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := s.procs.start(t, s.c.topo.user, "ssh-agent", nil, "ssh-agent", "-D", "-a", sock)
	t.Cleanup(agent.kill)
	env := "SSH_AUTH_SOCK=" + sock
	eventually(t, forwardReadyTimeout, "ssh-agent answers", func() error {
		if !agent.running() {
			t.Fatalf("ssh-agent exited: %v\n%s", agent.exitErr(), agent.output())
		}
		if r := s.sshAdd(env, "-l"); r.exitCode != 0 && r.exitCode != 1 { // 1: no keys
			return fmt.Errorf("%v", r)
		}
		return nil
	})
	return env
}

func (s *certSuite) sshAdd(env string, args ...string) result {
	return run(s.c.topo.user, withEnv(s.env, env), nil, "ssh-add", args...)
}

var keyIDRE = regexp.MustCompile(`certificate (burrow:\S+) for`)

// testAgent issues two certificates into one ssh-agent: the short one
// leaves it when it expires, the long one stays.
func (s *certSuite) testAgent(t *testing.T) {
	env := s.startSSHAgent(t)
	long := s.burrow(t, []string{env}, "cert", "issue", "--ttl", "1h")
	short := s.burrow(t, []string{env}, "cert", "issue", "--ttl", agentShortTTL.String())
	issued := time.Now()
	longID, shortID := keyIDRE.FindStringSubmatch(long.stdout), keyIDRE.FindStringSubmatch(short.stdout)
	if longID == nil || shortID == nil || !strings.Contains(long.stdout, "added to the ssh-agent") {
		t.Fatalf("cert issue: want the key id and the agent named:\n%s\n%s", long.stdout, short.stdout)
	}
	r := s.sshAdd(env, "-l")
	if r.err != nil || strings.Count(r.stdout, longID[1]+" (ED25519-CERT)") != 2 {
		t.Fatalf("ssh-add -l: want two certificates commented %s: %v", longID[1], r)
	}
	t.Logf("ssh-add -l:\n%s", r.stdout)
	// The key ids are the same (one token); the lifetime tells them apart.
	waited := eventually(t, agentForgetMax, "the ssh-agent drops the 5s certificate", func() error {
		if r := s.sshAdd(env, "-L"); strings.Count(r.stdout, "-cert-v01@openssh.com") != 1 {
			return fmt.Errorf("%d certificates listed: %v", strings.Count(r.stdout, "-cert-v01@openssh.com"), r)
		}
		return nil
	})
	if since := time.Since(issued); since < agentShortTTL-2*time.Second {
		t.Errorf("the certificate left the agent %v after issue (waited %v), before its %v lifetime", since, waited, agentShortTTL)
	}
	left := s.agentCert(t, env)
	if d := time.Until(time.Unix(int64(left.ValidBefore), 0)); d < 55*time.Minute {
		t.Errorf("the certificate left in the agent is valid for %v, want the 1h one", d)
	}
}

// agentCert is the one certificate `ssh-add -L` lists.
func (s *certSuite) agentCert(t *testing.T, env string) *ssh.Certificate {
	t.Helper()
	r := s.sshAdd(env, "-L")
	for _, line := range strings.Split(r.stdout, "\n") {
		if pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil {
			if cert, ok := pub.(*ssh.Certificate); ok {
				return cert
			}
		}
	}
	t.Fatalf("ssh-add -L lists no certificate: %v", r)
	return nil
}

// adminToken is the admin's token record (`burrow token list -o json`).
func (s *certSuite) adminToken(t *testing.T) (id, subject string, logins []string) {
	t.Helper()
	var ts []struct {
		ID, Subject string
		Logins      []string
	}
	r := s.burrow(t, nil, "token", "list", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &ts); err != nil || len(ts) != 1 {
		t.Fatalf("token list -o json: want one token, got %q (%v)", r.stdout, err)
	}
	return ts[0].ID, ts[0].Subject, ts[0].Logins
}

// issueOut runs `cert issue --out` into a new directory and returns the
// key's path.
func (s *certSuite) issueOut(t *testing.T, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	r := s.burrow(t, []string{"SSH_AUTH_SOCK="}, append([]string{"cert", "issue", "--out", dir}, args...)...)
	key := filepath.Join(dir, "id_ed25519")
	if !strings.Contains(r.stdout, key) {
		t.Errorf("cert issue --out: want %s named, got %q", key, r.stdout)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, want mode 0600", key, err)
	}
	return key
}

// testKeygenL checks the fields of a certificate as ssh-keygen -L shows
// them.
func (s *certSuite) testKeygenL(t *testing.T) {
	id, subject, logins := s.adminToken(t)
	before := time.Now().Truncate(time.Second)
	key := s.issueOut(t, "--ttl", "2h", "--source-address", certSource)
	after := time.Now()
	raw := keygenL(t, key+"-cert.pub")
	t.Logf("ssh-keygen -L:\n%s", raw)
	out := trimLines(raw)
	cert := readCertFile(t, key+"-cert.pub")
	from, to := time.Unix(int64(cert.ValidAfter), 0), time.Unix(int64(cert.ValidBefore), 0)
	if from.Before(before.Add(-time.Minute)) || from.After(after.Add(-time.Minute)) {
		t.Errorf("valid from %v, want a minute before the issue (%v…%v)", from, before, after)
	}
	if to.Before(before.Add(2*time.Hour)) || to.After(after.Add(2*time.Hour)) {
		t.Errorf("valid to %v, want 2h after the issue (%v…%v)", to, before, after)
	}
	want := []string{
		"Type: ssh-ed25519-cert-v01@openssh.com user certificate",
		fmt.Sprintf("Key ID: \"burrow:%s:%s:%s\"", e2eOrg, subject, id),
		fmt.Sprintf("Valid: from %s to %s", from.UTC().Format("2006-01-02T15:04:05"), to.UTC().Format("2006-01-02T15:04:05")),
		"\nPrincipals:\n" + lines(logins) + "Critical Options:\n",
		"\nCritical Options:\nsource-address " + certSource + "\nExtensions:\n",
		"\nExtensions:\n" + lines([]string{"permit-agent-forwarding", "permit-port-forwarding", "permit-pty", "permit-user-rc"}),
		"Signing CA: " + s.caFingerprint(t),
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("ssh-keygen -L lacks %q", w)
		}
	}
}

// lines is items sorted, one a line, as ssh-keygen -L lists them under a
// heading (after trimLines).
func lines(items []string) string {
	var b strings.Builder
	for _, l := range slices.Sorted(slices.Values(items)) {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// trimLines drops the spaces around every line of s.
func trimLines(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		b.WriteString(strings.TrimSpace(l) + "\n")
	}
	return b.String()
}

func keygenL(t *testing.T, certFile string) string {
	t.Helper()
	cmd := exec.Command("ssh-keygen", "-L", "-f", certFile)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -L -f %s: %v\n%s", certFile, err, b)
	}
	return string(b)
}

func readCertFile(t *testing.T, path string) *ssh.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok {
		t.Fatalf("%s holds a %T, not a certificate", path, pub)
	}
	return cert
}

// caExport is `burrow ca export --user`.
func (s *certSuite) caExport(t *testing.T) string {
	t.Helper()
	return s.burrow(t, nil, "ca", "export", "--user").stdout
}

// caFingerprint is "ED25519 SHA256:…" of the one exported user CA key.
func (s *certSuite) caFingerprint(t *testing.T) string {
	t.Helper()
	for _, line := range strings.Split(s.caExport(t), "\n") {
		if pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil {
			return "ED25519 " + ssh.FingerprintSHA256(pub)
		}
	}
	t.Fatal("ca export --user printed no key")
	return ""
}

// testRealSSHD logs in to Debian's sshd, which trusts the exported CA,
// through burrow (ProxyCommand burrow proxy) with --out certificates.
func (s *certSuite) testRealSSHD(t *testing.T) {
	export := s.caExport(t)
	s.startSSHD(t, export)
	key := s.issueOut(t, "--ttl", "10m")
	knownHosts := s.sshdKnownHosts(t)
	if r := s.sshTo(key, knownHosts); r.err != nil {
		t.Fatalf("ssh with a burrow certificate to an sshd trusting `ca export --user`: %v\n--- sshd:\n%s", r, tail(s.sshd.output()))
	}
	if !strings.Contains(s.sshd.output(), "ID burrow:") {
		t.Errorf("sshd did not log the certificate's key id:\n%s", tail(s.sshd.output()))
	}
	t.Run("source-address-mismatch", func(t *testing.T) {
		// sshd sees the agent's connection from 127.0.0.1.
		key := s.issueOut(t, "--ttl", "10m", "--source-address", certSource)
		if r := s.sshTo(key, knownHosts); r.exitCode != refusedStatus {
			t.Errorf("a certificate for %s only: want refused, got %v", certSource, r)
		}
		if !strings.Contains(s.sshd.output(), "not from a permitted source address (127.0.0.1)") {
			t.Errorf("sshd did not refuse for the source address:\n%s", tail(s.sshd.output()))
		}
	})
	t.Run("krl-revoked-token", func(t *testing.T) { s.testKRL(t, key, knownHosts) })
	t.Run("without-the-ca", func(t *testing.T) {
		header, _, _ := strings.Cut(export, "\nssh-")
		if err := os.WriteFile(s.caFile, []byte(header+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := s.sshTo(key, knownHosts); r.exitCode != refusedStatus {
			t.Errorf("sshd whose TrustedUserCAKeys lacks the CA: want refused, got %v", r)
		}
	})
}

// testKRL: once `burrow ca krl` wrote the KRL again after a token's
// revocation, sshd refuses that token's certificate (and runs nothing)
// while the certificate of a live token, key, still logs in.
func (s *certSuite) testKRL(t *testing.T, key, knownHosts string) {
	tok := s.c.createToken(t, s.env, "--name", "krl-revoked", "--role", "member", "--login", "root")
	revoked := filepath.Join(t.TempDir(), "id_ed25519")
	keygen(t, revoked, "krl-revoked")
	s.c.signSSHCert(t, tok.Secret, revoked+".pub", revoked+"-cert.pub", []string{"root"}, "10m")
	if r := s.sshTo(revoked, knownHosts); r.err != nil {
		t.Fatalf("before the revocation: %v\n--- sshd:\n%s", r, tail(s.sshd.output()))
	}
	s.burrow(t, nil, "token", "revoke", tok.ID)
	if r := s.burrow(t, nil, "ca", "krl", "--out", s.krlFile); !strings.Contains(r.stdout, "RevokedKeys "+s.krlFile) {
		t.Errorf("ca krl --out: want the sshd_config line, got %q", r.stdout)
	}
	if r := run(s.c.topo.user, s.env, nil, "ssh-keygen", "-Q", "-f", s.krlFile, revoked+"-cert.pub"); r.exitCode != 1 || !strings.Contains(r.stdout, "REVOKED") {
		t.Errorf("ssh-keygen -Q of the revoked token's certificate: want exit 1 and REVOKED, got %v", r)
	}
	if r := run(s.c.topo.user, s.env, nil, "ssh-keygen", "-Q", "-f", s.krlFile, key+"-cert.pub"); r.err != nil {
		t.Errorf("ssh-keygen -Q of a live token's certificate: want exit 0, got %v", r)
	}
	marker := filepath.Join(s.dir, "krl-must-not-exist")
	if r := s.sshRun(revoked, knownHosts, "touch "+marker); r.exitCode != refusedStatus {
		t.Errorf("the revoked token's certificate with RevokedKeys listing it: want refused, got %v", r)
	}
	noFile(t, marker)
	if !strings.Contains(s.sshd.output(), "revoked by file "+s.krlFile) {
		t.Errorf("sshd did not refuse for the KRL:\n%s", tail(s.sshd.output()))
	}
	if r := s.sshTo(key, knownHosts); r.err != nil {
		t.Errorf("a live token's certificate with the KRL in place: %v", r)
	}
}

// startSSHD runs sshd on priv's loopback port 22 with caExport as its
// TrustedUserCAKeys, the KRL of `burrow ca krl` as its RevokedKeys, and
// no other way to log in.
func (s *certSuite) startSSHD(t *testing.T, caExport string) {
	t.Helper()
	s.caFile = filepath.Join(s.dir, "burrow_user_ca.pub")
	s.krlFile = filepath.Join(s.dir, "burrow_revoked.krl")
	s.burrow(t, nil, "ca", "krl", "--out", s.krlFile) // first: sshd refuses every key while it is missing
	if err := os.WriteFile(s.caFile, []byte(caExport), 0o644); err != nil {
		t.Fatal(err)
	}
	s.sshd = startCASSHD(t, s.procs, s.c.topo.priv, s.dir, s.caFile, s.krlFile)
}

// startCASSHD runs Debian's sshd on ns's loopback port 22, trusting
// burrow certificates through caFile (TrustedUserCAKeys) and refusing those
// in krlFile (RevokedKeys), with no other way to log in; it returns once
// sshd accepts connections.
func startCASSHD(t *testing.T, ps *procs, ns netns, dir, caFile, krlFile string) *proc {
	t.Helper()
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	keygen(t, hostKey, "e2e-sshd")
	conf := filepath.Join(dir, "sshd_config")
	confText := fmt.Sprintf(`ListenAddress 127.0.0.1
HostKey %s
TrustedUserCAKeys %s
RevokedKeys %s
AuthorizedKeysFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
PidFile none
LogLevel VERBOSE
`, hostKey, caFile, krlFile)
	if err := os.WriteFile(conf, []byte(confText), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // its privilege separation directory
		t.Fatal(err)
	}
	sshd := ps.start(t, ns, "sshd", nil, sshdPath, "-D", "-e", "-f", conf, "-p", "22")
	eventually(t, sshdReady, "sshd accepts", func() error {
		if !sshd.running() {
			t.Fatalf("sshd exited: %v\n%s", sshd.exitErr(), sshd.output())
		}
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		defer cancel()
		conn, err := ns.dial(ctx, "127.0.0.1:22")
		if err != nil {
			return err
		}
		return conn.Close()
	})
	return sshd
}

// sshdKnownHosts writes a known_hosts file naming sshd's host key as
// sysTarget's.
func (s *certSuite) sshdKnownHosts(t *testing.T) string {
	t.Helper()
	pub, err := os.ReadFile(filepath.Join(s.dir, "ssh_host_ed25519_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.dir, "known_hosts")
	if err := os.WriteFile(path, []byte(sysTarget+" "+string(pub)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sshTo runs `ssh root@sysTarget true` from user through burrow with key
// and its certificate only.
func (s *certSuite) sshTo(key, knownHosts string) result { return s.sshRun(key, knownHosts, "true") }

// sshRun is sshTo running command.
func (s *certSuite) sshRun(key, knownHosts, command string) result {
	return runTimeout(s.c.topo.user, s.env, nil, sshTimeout, "ssh", "-F", "/dev/null",
		"-i", key, "-o", "CertificateFile="+key+"-cert.pub", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts,
		"-o", "ProxyCommand="+burrowBin+" proxy %n %p", "root@"+sysTarget, command)
}
