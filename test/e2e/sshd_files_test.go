//go:build e2e && linux

package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	trustPushMax  = 15 * time.Second // for a revocation or a rotation to reach the agent's sshd files
	sshdFilesWait = 30 * time.Second // for a (re)started agent to write them
)

// sshdFilesSuite is a cluster whose agent in priv declares sysTarget,
// served by Debian's sshd on priv's loopback, and keeps that sshd's
// TrustedUserCAKeys and RevokedKeys files itself (--sshd-user-ca-file,
// --sshd-krl-file). OpenSSH in user reaches sshd with `ssh -J` through
// the gateway on the controller's main port, logging in to the gateway
// with the admin's certificate and to sshd with the certificate under
// test, so that a refusal is sshd's own.
type sshdFilesSuite struct {
	c         *cluster
	env       []string
	procs     *procs
	dir       string
	caFile    string // written by the agent
	krlFile   string // written by the agent
	agentArgs []string
	sshd      *proc
	known     string // known_hosts: the gateway's and sshd's host keys
	jump      string // -J argument
	jumpKey   string // the admin's key, with its certificate, for the gateway
}

// TestSSHDFiles: a revocation, and a user CA rotation, reach a machine's
// own sshd within seconds through the files the agent keeps for it.
func TestSSHDFiles(t *testing.T) {
	requireSSHTools(t)
	if _, err := os.Stat(sshdPath); err != nil {
		t.Skipf("needs openssh-server: %v", err)
	}
	s := newSSHDFilesSuite(t)

	revokedTok := s.c.createToken(t, s.env, "--name", "sshd-files-revoked", "--role", "member", "--login", "root")
	revoked := s.certKey(t, "revoked", revokedTok.Secret)
	liveTok := s.c.createToken(t, s.env, "--name", "sshd-files-live", "--role", "member", "--login", "root")
	live := s.certKey(t, "live", liveTok.Secret)

	t.Run("certificate-logs-in", func(t *testing.T) {
		for _, key := range []string{revoked, live} {
			if r := s.ssh(t, key, "echo logged-in"); r.err != nil || strings.TrimSpace(r.stdout) != "logged-in" {
				t.Fatalf("ssh -J with %s to sshd trusting the agent's CA file: %v\n--- sshd:\n%s", filepath.Base(key), r, tail(s.sshd.output()))
			}
		}
		if !strings.Contains(s.sshd.output(), "ID burrow:") {
			t.Errorf("sshd did not log the certificate's key id:\n%s", tail(s.sshd.output()))
		}
	})

	t.Run("burrow-ssh-to-its-own-sshd", func(t *testing.T) { s.testBurrowSSH(t) })
	t.Run("revoked-token-refused-by-sshd", func(t *testing.T) {
		s.c.mustBurrow(t, "token", "revoke", revokedTok.ID)
		eventually(t, trustPushMax, "sshd refuses the revoked token's certificate", func() error {
			if r := s.ssh(t, revoked, "true"); r.exitCode != refusedStatus {
				return fmt.Errorf("still logs in: %v", r)
			}
			return nil
		})
		marker := filepath.Join(s.dir, "revoked-must-not-exist")
		if r := s.ssh(t, revoked, "touch "+marker); r.exitCode != refusedStatus {
			t.Errorf("the revoked token's certificate: want refused, got %v", r)
		}
		noFile(t, marker)
		if !strings.Contains(s.sshd.output(), "revoked by file "+s.krlFile) {
			t.Errorf("sshd did not refuse for the agent's KRL:\n%s", tail(s.sshd.output()))
		}
		if r := run(s.c.topo.user, s.env, nil, "ssh-keygen", "-Q", "-f", s.krlFile, revoked+"-cert.pub"); r.exitCode != 1 || !strings.Contains(r.stdout, "REVOKED") {
			t.Errorf("ssh-keygen -Q of the revoked token's certificate: want exit 1 and REVOKED, got %v", r)
		}
		if !strings.Contains(s.c.agent.output(), "wrote sshd's RevokedKeys file") {
			t.Errorf("the agent did not log writing the KRL:\n%s", tail(s.c.agent.output()))
		}
		if r := s.ssh(t, live, "echo still-live"); r.err != nil || strings.TrimSpace(r.stdout) != "still-live" {
			t.Errorf("another token's certificate after the revocation: %v\n--- sshd:\n%s", r, tail(s.sshd.output()))
		}
	})

	t.Run("rotation-reaches-sshd", func(t *testing.T) {
		s.c.mustBurrow(t, "ca", "rotate", "--user", "--overlap", "1h")
		want := s.exportedCAKeys(t)
		if len(want) != 2 {
			t.Fatalf("ca export --user after a rotation with overlap: want 2 keys, got %d", len(want))
		}
		eventually(t, trustPushMax, "the agent's CA file lists both CA keys", func() error {
			return s.caFileHolds(want)
		})
		fresh := s.certKey(t, "new-ca", liveTok.Secret)
		if ca := readCertFile(t, fresh+"-cert.pub").SignatureKey; bytes.Equal(ca.Marshal(), readCertFile(t, live+"-cert.pub").SignatureKey.Marshal()) {
			t.Fatalf("the certificate issued after the rotation is signed by the old CA")
		}
		for _, key := range []string{fresh, live} {
			if r := s.ssh(t, key, "true"); r.err != nil {
				t.Errorf("%s during the overlap: %v\n--- sshd:\n%s", filepath.Base(key), r, tail(s.sshd.output()))
			}
		}
	})

	t.Run("overlap-ends-while-controller-down", func(t *testing.T) {
		// The trust carries each retired key's overlap end, so the agent
		// drops the key on time by its own clock, controller or not.
		s.c.mustBurrow(t, "ca", "rotate", "--user", "--overlap", "6s")
		all := s.exportedCAKeys(t) // oldest first: the 1 h overlap, the 6 s one, the new key
		if len(all) != 3 {
			t.Fatalf("ca export --user after a second rotation: want 3 keys, got %d", len(all))
		}
		eventually(t, trustPushMax, "the agent's CA file lists all three CA keys", func() error {
			return s.caFileHolds(all)
		})
		if err := s.c.controller.stop(t, syscall.SIGTERM); err != nil {
			t.Logf("controller after SIGTERM: %v", err)
		}
		took := eventually(t, 30*time.Second, "the agent drops the key whose 6 s overlap ended, with the controller down", func() error {
			return s.caFileHolds([]ssh.PublicKey{all[0], all[2]})
		})
		t.Logf("dropped %v after the controller stopped", took.Round(time.Millisecond))
	})

	t.Run("restart-without-controller", func(t *testing.T) {
		// The agent rewrites both files from agent.json at start, even with
		// the controller down.
		caBefore, err := os.ReadFile(s.caFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.c.agent.stop(t, syscall.SIGTERM); err != nil {
			t.Logf("agent after SIGTERM: %v", err)
		}
		if err := s.c.controller.stop(t, syscall.SIGTERM); err != nil {
			t.Logf("controller after SIGTERM: %v", err)
		}
		for _, p := range []string{s.caFile, s.krlFile} {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
		s.c.startAgent(t, "", s.agentArgs...)
		s.waitFiles(t)
		if b, err := os.ReadFile(s.caFile); err != nil || !bytes.Equal(b, caBefore) {
			t.Errorf("the CA file written from the cache differs (%v):\n%s\nwant\n%s", err, b, caBefore)
		}
		if r := run(s.c.topo.user, s.env, nil, "ssh-keygen", "-Q", "-f", s.krlFile, revoked+"-cert.pub"); r.exitCode != 1 || !strings.Contains(r.stdout, "REVOKED") {
			t.Errorf("the KRL written from the cache: want the revoked certificate REVOKED, got %v", r)
		}
		if r := run(s.c.topo.user, s.env, nil, "ssh-keygen", "-Q", "-f", s.krlFile, live+"-cert.pub"); r.err != nil {
			t.Errorf("the KRL written from the cache revokes a live token's certificate: %v", r)
		}
	})
}

func newSSHDFilesSuite(t *testing.T) *sshdFilesSuite {
	topo := newTopology(t)
	c := newCluster(t, topo)
	s := &sshdFilesSuite{c: c, env: sshEnv(c.env), dir: t.TempDir(),
		jump: "jump@" + net.JoinHostPort(ctlUserAddr, controllerPort)}
	s.procs = newProcs(t, s.env)
	s.caFile = filepath.Join(s.dir, "burrow_user_ca.pub")
	s.krlFile = filepath.Join(s.dir, "burrow_revoked.krl")
	s.agentArgs = []string{"--target", sysTarget + "=127.0.0.1,ssh=system",
		"--sshd-user-ca-file", s.caFile, "--sshd-krl-file", s.krlFile}
	c.startController(t)
	joinToken := c.createJoinToken(t, 1)
	c.login(t)
	c.startAgent(t, joinToken, s.agentArgs...)
	c.waitOnline(t, true, agentOnlineTimeout)
	s.waitFiles(t)
	if err := s.caFileHolds(s.exportedCAKeys(t)); err != nil {
		t.Fatalf("the agent's CA file: %v", err)
	}
	for _, p := range []string{s.caFile, s.krlFile} {
		if fi, err := os.Stat(p); err != nil {
			t.Fatal(err)
		} else if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", p, fi.Mode().Perm())
		}
	}
	s.startSSHD(t)

	// The gateway's host key on the main port and sshd's as sysTarget's.
	gwPub, err := exec.Command("ssh-keygen", "-y", "-f", filepath.Join(c.ctlDir, "ssh_gateway_ed25519_key")).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -y of the gateway host key: %v", err)
	}
	sshdPub, err := os.ReadFile(filepath.Join(s.dir, "ssh_host_ed25519_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	s.known = filepath.Join(s.dir, "known_hosts")
	known := fmt.Sprintf("[%s]:%s %s%s %s", ctlUserAddr, controllerPort, gwPub, sysTarget, sshdPub)
	if err := os.WriteFile(s.known, []byte(known), 0o644); err != nil {
		t.Fatal(err)
	}
	s.jumpKey = s.certKey(t, "jump", c.adminToken)
	return s
}

// waitFiles waits for the agent to have written both files.
func (s *sshdFilesSuite) waitFiles(t *testing.T) {
	t.Helper()
	eventually(t, sshdFilesWait, "the agent writes sshd's files", func() error {
		if !s.c.agent.running() {
			t.Fatalf("agent exited: %v\n%s", s.c.agent.exitErr(), s.c.agent.output())
		}
		for _, p := range []string{s.caFile, s.krlFile} {
			if _, err := os.Stat(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// exportedCAKeys are the user CA keys of `burrow ca export --user`.
func (s *sshdFilesSuite) exportedCAKeys(t *testing.T) []ssh.PublicKey {
	t.Helper()
	return authorizedKeys(s.c.mustBurrow(t, "ca", "export", "--user").stdout)
}

// caFileHolds checks that the agent's CA file lists exactly want.
func (s *sshdFilesSuite) caFileHolds(want []ssh.PublicKey) error {
	b, err := os.ReadFile(s.caFile)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(b), "# burrow") {
		return fmt.Errorf("%s does not start with a comment naming burrow:\n%s", s.caFile, b)
	}
	got := authorizedKeys(string(b))
	if len(got) != len(want) {
		return fmt.Errorf("%s lists %d keys, want %d:\n%s", s.caFile, len(got), len(want), b)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || bytes.Equal(g.Marshal(), w.Marshal())
		}
		if !found {
			return fmt.Errorf("%s lacks %s:\n%s", s.caFile, ssh.FingerprintSHA256(w), b)
		}
	}
	return nil
}

// authorizedKeys parses the key lines of an authorized_keys text.
func authorizedKeys(text string) []ssh.PublicKey {
	var keys []ssh.PublicKey
	for line := range strings.Lines(text) {
		if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil {
			keys = append(keys, k)
		}
	}
	return keys
}

// certKey makes a key named name and has the controller certify it for
// root with token.
func (s *sshdFilesSuite) certKey(t *testing.T, name, token string) string {
	t.Helper()
	key := filepath.Join(s.dir, "id_"+name)
	keygen(t, key, "sshd-files-"+name)
	s.c.signSSHCert(t, token, key+".pub", key+"-cert.pub", []string{"root"}, "10m")
	return key
}

// testBurrowSSH: burrow ssh reaches a target that runs its own sshd and
// checks sshd's host key against ~/.ssh/known_hosts, saying what to do
// when it is not there.
func (s *sshdFilesSuite) testBurrowSSH(t *testing.T) {
	home := ""
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, "HOME="); ok {
			home = v
		}
	}
	kh := filepath.Join(home, ".ssh", "known_hosts")
	os.Remove(kh)
	r := runTimeout(s.c.topo.user, s.env, nil, sshTimeout, burrowBin, "ssh", "root@"+sysTarget, "--", "echo via-burrow-ssh")
	if r.exitCode == 0 || !strings.Contains(r.stderr, "must be in ~/.ssh/known_hosts") {
		t.Errorf("burrow ssh %s without its key in known_hosts: want a clear refusal, got %v", sysTarget, r)
	}
	sshdPub, err := os.ReadFile(filepath.Join(s.dir, "ssh_host_ed25519_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(kh), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kh, []byte(sysTarget+" "+string(sshdPub)), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(kh)
	r = runTimeout(s.c.topo.user, s.env, nil, sshTimeout, burrowBin, "ssh", "root@"+sysTarget, "--", "echo via-burrow-ssh; exit 3")
	if r.exitCode != 3 || strings.TrimSpace(r.stdout) != "via-burrow-ssh" {
		t.Errorf("burrow ssh %s: want its output and exit 3, got exit %d: %v\n--- sshd:\n%s", sysTarget, r.exitCode, r, tail(s.sshd.output()))
	}
}

// ssh runs command as root on sysTarget through the gateway: the admin's
// certificate for the gateway, key and its certificate for sshd.
func (s *sshdFilesSuite) ssh(t *testing.T, key, command string) result {
	t.Helper()
	config := filepath.Join(s.dir, "ssh_config-"+filepath.Base(key))
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "Host %s\n    IdentityFile %s\n    CertificateFile %s-cert.pub\n", ctlUserAddr, s.jumpKey, s.jumpKey)
	fmt.Fprintf(&cfg, "Host %s\n    IdentityFile %s\n    CertificateFile %s-cert.pub\n", sysTarget, key, key)
	fmt.Fprintf(&cfg, "Host *\n    IdentitiesOnly yes\n    IdentityAgent none\n    UserKnownHostsFile %s\n    GlobalKnownHostsFile /dev/null\n", s.known)
	cfg.WriteString("    StrictHostKeyChecking yes\n    BatchMode yes\n    ConnectTimeout 20\n")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return runTimeout(s.c.topo.user, s.env, nil, sshTimeout, "ssh", "-F", config, "-J", s.jump, "root@"+sysTarget, command)
}

// startSSHD runs sshd on priv's loopback port 22 with the agent's files
// as its TrustedUserCAKeys and RevokedKeys, and no other way to log in.
func (s *sshdFilesSuite) startSSHD(t *testing.T) {
	t.Helper()
	s.sshd = startCASSHD(t, s.procs, s.c.topo.priv, s.dir, s.caFile, s.krlFile)
}
