//go:build e2e && linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	certValidity  = "5m"             // certificates the tests mint to log in
	shortCertTTL  = "1s"             // the one that must expire
	certExpiry    = 10 * time.Second // for it to expire
	nonRootTarget = "priv-nonroot"   // the agent that runs as the created user
	foreignLogin  = "alice"          // a login no certificate of the admin names
	loginShell    = "/bin/bash"      // of the created user
	homeRoot      = "/home"          // where useradd -m puts homes
	userPrefix    = "bwe2e"          // of the users this test creates
	refusedStatus = 255              // OpenSSH's exit status when it cannot log in
)

// refused runs `touch MARKER` as dest with config and checks that OpenSSH
// could not log in, that its stderr says want, and that nothing ran.
func (s *sshSuite) refused(t *testing.T, config, dest, want string) {
	t.Helper()
	marker := s.marker(strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	r := s.ssh(config, nil, dest, "touch "+marker)
	if r.exitCode != refusedStatus || !strings.Contains(r.stderr, want) {
		t.Errorf("ssh %s: want exit %d and %q on stderr, got exit %d: %v", dest, refusedStatus, want, r.exitCode, r)
	} else {
		t.Logf("refused as it must be: %s", strings.Join(strings.Fields(strings.TrimSpace(r.stderr)), " "))
	}
	noFile(t, marker)
}

func (s *sshSuite) testRefusals(t *testing.T) {
	t.Run("expired-certificate", s.testExpiredCert)
	t.Run("certificate-of-another-ca", s.testForeignCA)
	t.Run("principal-not-allowed", s.testPrincipal)
	t.Run("plain-key", s.testPlainKey)
	t.Run("revoked-api-token", s.testRevokedToken)
	t.Run("revoked-certificate-token", s.testRevokedCertToken) // rotation_test.go
}

func (s *sshSuite) testExpiredCert(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	keygen(t, key, "e2e-expiring")
	// The same key with a valid certificate logs in: only the expiry
	// differs below.
	s.c.signSSHCert(t, s.c.adminToken, key+".pub", key+"-ok-cert.pub", []string{"root"}, certValidity)
	ok := variantConfig(t, s.config, filepath.Join(dir, "ok.config"), key, key+"-ok-cert.pub")
	s.mustSSH(t, ok, targetName, "true")

	cert := s.c.signSSHCert(t, s.c.adminToken, key+".pub", key+"-cert.pub", []string{"root"}, shortCertTTL)
	eventually(t, certExpiry, "the "+shortCertTTL+" certificate expires", func() error {
		if left := time.Until(cert.ValidBefore); left >= 0 {
			return fmt.Errorf("valid for %v more", left)
		}
		return nil
	})
	expired := variantConfig(t, s.config, filepath.Join(dir, "expired.config"), key, key+"-cert.pub")
	s.refused(t, expired, targetName, "expired")
}

func (s *sshSuite) testForeignCA(t *testing.T) {
	dir := t.TempDir()
	ca, key := filepath.Join(dir, "ca"), filepath.Join(dir, "id")
	keygen(t, ca, "e2e-foreign-ca")
	keygen(t, key, "e2e-foreign-user")
	cmd := exec.Command("ssh-keygen", "-q", "-s", ca, "-I", "e2e-foreign", "-n", "root", "-V", "-5m:+1h", key+".pub")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -s: %v\n%s", err, b)
	}
	config := variantConfig(t, s.config, filepath.Join(dir, "config"), key, key+"-cert.pub")
	s.refused(t, config, targetName, "not signed by a CA this target trusts")
}

func (s *sshSuite) testPrincipal(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	keygen(t, key, "e2e-alice")
	tok := s.c.createToken(t, s.env, "--name", "e2e-"+foreignLogin, "--role", "member", "--login", foreignLogin)
	s.c.signSSHCert(t, tok.Secret, key+".pub", key+"-cert.pub", []string{foreignLogin}, certValidity)
	config := variantConfig(t, s.config, filepath.Join(dir, "config"), key, key+"-cert.pub")
	s.refused(t, config, "root@"+targetName, fmt.Sprintf("does not allow logging in as %q", "root"))
	// The login it names does not exist on the target: said as clearly.
	s.refused(t, config, foreignLogin+"@"+targetName, fmt.Sprintf("user %q does not exist on %s", foreignLogin, targetName))
}

func (s *sshSuite) testPlainKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	keygen(t, key, "e2e-plain")
	config := variantConfig(t, s.config, filepath.Join(dir, "config"), key, "")
	s.refused(t, config, targetName, "only burrow certificates are accepted")
}

// testRevokedToken revokes the token of the context whose `burrow proxy`
// OpenSSH runs: the certificate on disk is still valid, the tunnel is not.
func (s *sshSuite) testRevokedToken(t *testing.T) {
	const ctxName = "e2e-revoke"
	tok := s.c.createToken(t, s.env, "--name", ctxName, "--role", "admin")
	s.c.loginContext(t, s.env, ctxName, tok.Secret)
	config := filepath.Join(t.TempDir(), "ssh_config")
	s.c.writeSSHConfig(t, s.env, config, ctxName)
	s.mustSSH(t, config, targetName, "true")
	if r := s.burrow("", "token", "revoke", tok.ID); r.err != nil {
		t.Fatalf("%v", r)
	}
	s.refused(t, config, targetName, fmt.Sprintf("API token %s was revoked", tok.ID))
}

// createUser adds a user with a home and a login shell, removed when t
// ends. Users left by earlier runs that were killed are removed first.
func createUser(t *testing.T) *user.User {
	t.Helper()
	pruneStaleUsers(t)
	name := userPrefix + strconv.Itoa(os.Getpid())
	args := []string{"-m", "-d", filepath.Join(homeRoot, name), "-s", loginShell}
	if _, err := user.LookupGroup(supplementaryGroup); err == nil {
		args = append(args, "-G", supplementaryGroup)
	}
	if b, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, b)
	}
	t.Cleanup(func() {
		if b, err := exec.Command("userdel", "-r", "-f", name).CombinedOutput(); err != nil {
			t.Logf("userdel %s: %v\n%s", name, err, b)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var staleUser = regexp.MustCompile(`^` + userPrefix + `(\d+)$`)

// pruneStaleUsers deletes the users this test created in runs whose
// process is gone, as pruneStaleNamespaces does for namespaces.
func pruneStaleUsers(t *testing.T) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, _, _ := strings.Cut(line, ":")
		m := staleUser.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); pid != os.Getpid() && syscall.Kill(pid, 0) == nil {
			continue
		}
		t.Logf("deleting user %s left by an earlier run", name)
		if out, err := exec.Command("userdel", "-r", "-f", name).CombinedOutput(); err != nil {
			t.Logf("userdel %s: %v\n%s", name, err, out)
		}
	}
}

// otherUser is a created user and an API token that may log in as it,
// with an ssh_config of its own context.
type otherUser struct {
	*user.User
	uid    uint32
	token  apiToken
	config string
	ctx    string
}

func (s *sshSuite) testOtherUser(t *testing.T) {
	u := createUser(t)
	uid, _ := strconv.Atoi(u.Uid)
	o := &otherUser{User: u, uid: uint32(uid), ctx: "e2e-" + u.Username}
	o.token = s.c.createToken(t, s.env, "--name", o.ctx, "--role", "member", "--login", u.Username)
	s.c.loginContext(t, s.env, o.ctx, o.token.Secret)
	o.config = filepath.Join(s.dir, "ssh_config-"+u.Username)
	s.c.writeSSHConfig(t, s.env, o.config, o.ctx)

	t.Run("login", func(t *testing.T) { s.testOtherLogin(t, o) })
	t.Run("files-owned-by-the-login", func(t *testing.T) { s.testOtherFiles(t, o) })
	t.Run("burrow-ssh", func(t *testing.T) { s.testOtherBurrowSSH(t, o) })
	t.Run("burrow-cp-read-only-folder", func(t *testing.T) { s.testOtherCpReadOnly(t, o) })
	t.Run("not-as-root", func(t *testing.T) {
		s.refused(t, o.config, "root@"+targetName, fmt.Sprintf("does not allow logging in as %q", "root"))
	})
	t.Run("non-root-agent", func(t *testing.T) { s.testNonRootAgent(t, o) })
}

func (s *sshSuite) testOtherLogin(t *testing.T, o *otherUser) {
	r := s.mustSSH(t, o.config, o.Username+"@"+targetName, `id -un; echo "$HOME $USER $SHELL $PWD"`)
	want := fmt.Sprintf("%s\n%s %s %s %s\n", o.Username, o.HomeDir, o.Username, loginShell, o.HomeDir)
	if r.stdout != want {
		t.Errorf("as %s: got %q, want %q", o.Username, r.stdout, want)
	}
	// The process runs with the login's groups, supplementary ones too,
	// exactly as the system lists them.
	wantGroups := run(s.c.topo.priv, nil, nil, "id", "-G", o.Username)
	r = s.mustSSH(t, o.config, o.Username+"@"+targetName, "id -G")
	if wantGroups.err != nil || strings.Fields(r.stdout) == nil || strings.Join(strings.Fields(r.stdout), " ") != strings.Join(strings.Fields(wantGroups.stdout), " ") {
		t.Errorf("as %s: groups %q, want %q (id -G %s)", o.Username, r.stdout, wantGroups.stdout, o.Username)
	}
	if g, err := user.LookupGroup(supplementaryGroup); err == nil && !slices.Contains(strings.Fields(r.stdout), g.Gid) {
		t.Errorf("as %s: groups %q lack the supplementary group %s (%s)", o.Username, r.stdout, supplementaryGroup, g.Gid)
	}
}

// supplementaryGroup is a group the test user is added to, when it exists.
const supplementaryGroup = "users"

func (s *sshSuite) testOtherFiles(t *testing.T, o *otherUser) {
	src := filepath.Join(s.dir, "other-user.bin")
	sum := writeStream(t, src, "other-user", otherUserFileSz, 0o644)
	dest := o.Username + "@" + targetName
	batch := filepath.Join(t.TempDir(), "batch")
	batchText := fmt.Sprintf("put %s sftp-up.bin\nget sftp-up.bin %s\n", src, filepath.Join(s.dir, "other-sftp-down.bin"))
	if err := os.WriteFile(batch, []byte(batchText), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		bin  string
		args []string
	}{
		{"scp", []string{"-F", o.config, "-q", src, dest + ":scp-up.bin"}}, // relative to the login's home
		{"sftp", []string{"-F", o.config, "-q", "-b", batch, dest}},
		{burrowBin, []string{"cp", "-l", o.Username, src, targetName + ":cp-up.bin"}},
	} {
		env := s.env
		if c.bin == burrowBin {
			env = withEnv(s.env, "BURROW_TOKEN="+o.token.Secret)
		}
		if r := runTimeout(s.c.topo.user, env, nil, sshTimeout, c.bin, c.args...); r.err != nil {
			t.Fatalf("%v", r)
		}
	}
	for _, name := range []string{"scp-up.bin", "sftp-up.bin", "cp-up.bin"} {
		p := filepath.Join(o.HomeDir, name)
		checkFile(t, p, sum)
		if got := owner(t, p); got != o.uid {
			t.Errorf("%s is owned by uid %d, want %d (%s)", p, got, o.uid, o.Username)
		}
	}
	checkFile(t, filepath.Join(s.dir, "other-sftp-down.bin"), sum)
}

func (s *sshSuite) testOtherBurrowSSH(t *testing.T, o *otherUser) {
	env := withEnv(s.env, "BURROW_TOKEN="+o.token.Secret) // overrides the context's
	r := runTimeout(s.c.topo.user, env, nil, sshTimeout, burrowBin, "ssh", o.Username+"@"+targetName, "--", "id -un")
	if r.err != nil || r.stdout != o.Username+"\n" {
		t.Errorf("burrow ssh %s@%s id -un: want %q, got %v", o.Username, targetName, o.Username, r)
	}
	r = runTimeout(s.c.topo.user, env, nil, sshTimeout, burrowBin, "ssh", "root@"+targetName, "--", "true")
	if r.exitCode == 0 || !strings.Contains(r.stderr, "root") {
		t.Errorf("burrow ssh root@%s with a token for %s: want a refusal naming root, got %v", targetName, o.Username, r)
	} else {
		t.Logf("refused as it must be: %s", strings.TrimSpace(r.stderr))
	}
}

// testOtherCpReadOnly copies a tree holding a read-only folder as a login
// that, unlike root, cannot write into such a folder: the folder's mode
// must be set once its contents are in.
func (s *sshSuite) testOtherCpReadOnly(t *testing.T, o *otherUser) {
	tree := filepath.Join(t.TempDir(), "ro-tree")
	makeTree(t, tree, false)
	ro := filepath.Join(tree, "read-only")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	writeStream(t, filepath.Join(ro, "file"), "read-only-folder", 1000, 0o444)
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	env := withEnv(s.env, "BURROW_TOKEN="+o.token.Secret)
	r := runTimeout(s.c.topo.user, env, nil, sshTimeout, burrowBin, "cp", "-r", "-l", o.Username, tree, targetName+":ro-tree")
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	sameTree(t, tree, filepath.Join(o.HomeDir, "ro-tree"))
}

// testNonRootAgent runs a second agent as the created user: it logs in
// only that user and refuses root with a message that says why.
func (s *sshSuite) testNonRootAgent(t *testing.T, o *otherUser) {
	joinToken := s.c.createJoinToken(t, 1)
	env := withEnv(s.env, "HOME="+o.HomeDir, "USER="+o.Username, "LOGNAME="+o.Username)
	ps := newProcs(t, env) // its cleanup runs before the user's removal
	agent := ps.start(t, s.c.topo.priv, "agent-"+o.Username, nil, "setpriv",
		"--reuid", o.Username, "--regid", o.Username, "--init-groups", "--",
		burrowBin, "agent", "--url", s.c.agentURL(), "--data-dir", filepath.Join(o.HomeDir, "burrow-agent"),
		"--name", nonRootTarget, "--token", joinToken)
	eventually(t, agentOnlineTimeout, nonRootTarget+" online", func() error {
		if !agent.running() {
			t.Fatalf("agent as %s exited: %v\n%s", o.Username, agent.exitErr(), agent.output())
		}
		tg, err := s.c.target(nonRootTarget)
		if err != nil {
			return err
		}
		if !tg.Online {
			return fmt.Errorf("%s offline", nonRootTarget)
		}
		return nil
	})
	// The configs learn the new target and its host key.
	s.c.writeSSHConfig(t, s.env, s.config, "")
	s.c.writeSSHConfig(t, s.env, o.config, o.ctx)

	if r := s.mustSSH(t, o.config, o.Username+"@"+nonRootTarget, "id -un"); r.stdout != o.Username+"\n" {
		t.Errorf("as %s on its own agent: id -un printed %q", o.Username, r.stdout)
	}
	want := fmt.Sprintf("runs as %s, not root, so it can only log you in as %s", o.Username, o.Username)
	s.refused(t, s.config, "root@"+nonRootTarget, want)
}
