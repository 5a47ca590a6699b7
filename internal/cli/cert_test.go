package cli

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/burrowtest"
	"github.com/burrow-dev/burrow/internal/controller"
	"github.com/burrow-dev/burrow/internal/sshca"
)

// fakeSSHAgent serves an in-memory keyring at a Unix socket named by
// SSH_AUTH_SOCK for the test.
func fakeSSHAgent(t *testing.T) agent.Agent {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	keyring := agent.NewKeyring()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				agent.ServeAgent(keyring, c)
			}()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
	return keyring
}

func TestCertIssueToAgent(t *testing.T) {
	s := burrowtest.Start(t)
	cliEnv(t, s)
	keyring := fakeSSHAgent(t)

	out, errb, code := burrowCLI(t, "cert", "issue", "--ttl", "1h", "--login", "root")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	keys, err := keyring.List()
	if err != nil || len(keys) != 1 {
		t.Fatalf("agent holds %d keys (%v), want 1", len(keys), err)
	}
	pub, err := ssh.ParsePublicKey(keys[0].Blob)
	if err != nil {
		t.Fatal(err)
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok {
		t.Fatalf("the agent holds a %T, want a certificate", pub)
	}
	if !slices.Equal(cert.ValidPrincipals, []string{"root"}) || keys[0].Comment != cert.KeyId {
		t.Errorf("principals %q, comment %q (key id %q)", cert.ValidPrincipals, keys[0].Comment, cert.KeyId)
	}
	if left := time.Until(time.Unix(int64(cert.ValidBefore), 0)); left < 59*time.Minute || left > time.Hour {
		t.Errorf("certificate valid for %v more, want about 1h", left)
	}
	for _, want := range []string{cert.KeyId, "for root,", "added to the ssh-agent at " + os.Getenv("SSH_AUTH_SOCK")} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "note:") || strings.Contains(out, "shorter than") {
		t.Errorf("output %q has a note it does not need", out)
	}

	// Behind six other keys, OpenSSH may never offer it: say so.
	for range 6 {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		keyring.Add(agent.AddedKey{PrivateKey: k})
	}
	out, errb, code = burrowCLI(t, "cert", "issue", "--ttl", "1h", "--login", "root")
	if code != 0 || !strings.Contains(out, "note: the agent holds 8 keys") {
		t.Errorf("with 7 keys in the agent before it: exit %d, %q %q", code, out, errb)
	}
}

// TestCertIssueCappedByToken: a certificate ends with its token, and
// cert issue says so when that is sooner than the lifetime asked for.
func TestCertIssueCappedByToken(t *testing.T) {
	s := burrowtest.Start(t)
	cliEnv(t, s)
	t.Setenv("SSH_AUTH_SOCK", "")
	secret, _, code := burrowCLI(t, "token", "create", "--name", "short", "--role", "admin", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("token create: exit %d", code)
	}
	t.Setenv("BURROW_TOKEN", strings.TrimSpace(secret))
	out, errb, code := burrowCLI(t, "cert", "issue", "--ttl", "3h", "--out", t.TempDir())
	if code != 0 || !strings.Contains(out, "shorter than the 3h0m0s asked for") {
		t.Errorf("cert issue --ttl 3h with a 1h token: exit %d, %q %q", code, out, errb)
	}
}

func TestCertIssueOut(t *testing.T) {
	s := burrowtest.Start(t)
	cliEnv(t, s)
	t.Setenv("SSH_AUTH_SOCK", "")
	dir := filepath.Join(t.TempDir(), "keys")

	_, errb, code := burrowCLI(t, "cert", "issue", "--out", dir, "--source-address", "10.0.0.0/8, 192.0.2.1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	key := filepath.Join(dir, "id_ed25519")
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v, mode %v; want 0600", err, fi.Mode())
	}
	b, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	cert := readCert(t, key+"-cert.pub")
	if !bytes.Equal(cert.Key.Marshal(), signer.PublicKey().Marshal()) {
		t.Error("the certificate is not for the written key")
	}
	if got := cert.CriticalOptions["source-address"]; got != "10.0.0.0/8,192.0.2.1" {
		t.Errorf("source-address %q", got)
	}
	if !slices.Equal(cert.ValidPrincipals, burrowtest.AdminLogins()) {
		t.Errorf("principals %q, want all the token's logins %q", cert.ValidPrincipals, burrowtest.AdminLogins())
	}
	if left := time.Until(time.Unix(int64(cert.ValidBefore), 0)); left < 7*time.Hour+59*time.Minute {
		t.Errorf("certificate valid for %v more, want the default 8h", left)
	}
	if _, err := os.Stat(key + ".pub"); err != nil {
		t.Error(err)
	}
}

func readCert(t *testing.T, path string) *ssh.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok {
		t.Fatalf("%s holds a %T", path, pub)
	}
	return cert
}

// TestCertIssueKey certifies an existing, passphrase-protected key: only
// its public half is needed.
func TestCertIssueKey(t *testing.T) {
	s := burrowtest.Start(t)
	cliEnv(t, s)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "me", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "id_work")
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errb, code := burrowCLI(t, "cert", "issue", "--key", key, "--ttl", "10m"); code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	cert := readCert(t, key+"-cert.pub")
	if !bytes.Equal(cert.Key.(ssh.CryptoPublicKey).CryptoPublicKey().(ed25519.PublicKey), priv.Public().(ed25519.PublicKey)) {
		t.Error("the certificate is not for --key's key")
	}
	outDir := t.TempDir()
	if _, errb, code := burrowCLI(t, "cert", "issue", "--key", key, "--out", outDir); code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	readCert(t, filepath.Join(outDir, "id_work-cert.pub"))
}

func TestCertIssueRefused(t *testing.T) {
	s := burrowtest.Start(t)
	cliEnv(t, s)
	tests := []struct {
		name string
		sock string
		args []string
		want string
	}{
		{"no agent", "", nil, "eval $(ssh-agent)"},
		{"agent gone", filepath.Join(t.TempDir(), "nothing"), nil, "eval $(ssh-agent)"},
		{"ttl over the maximum", "", []string{"--ttl", "13h", "--out", t.TempDir()}, "at most 12h"},
		{"login not allowed", "", []string{"--login", "nobody-here", "--out", t.TempDir()}, `may not log in as "nobody-here"`},
		{"bad source address", "", []string{"--source-address", "example.com", "--out", t.TempDir()}, "neither an IP address"},
		{"missing key", "", []string{"--key", filepath.Join(t.TempDir(), "none")}, "--key"},
		{"ttl under a second", "", []string{"--ttl", "500ms", "--out", t.TempDir()}, "at least 1s"},
		{"empty login", "", []string{"--login", "", "--out", t.TempDir()}, "give a login name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SSH_AUTH_SOCK", tt.sock)
			_, errb, code := burrowCLI(t, append([]string{"cert", "issue"}, tt.args...)...)
			if code != 1 || !strings.Contains(errb, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errb, tt.want)
			}
		})
	}
}

func TestCAExport(t *testing.T) {
	s := burrowtest.Start(t)
	cliEnv(t, s)
	if _, errb, code := burrowCLI(t, "ca", "export"); code != 1 || !strings.Contains(errb, "--user") {
		t.Errorf("without --user: exit %d, stderr %q; want 1 and a hint at --user", code, errb)
	}
	out, errb, code := burrowCLI(t, "ca", "export", "--user")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	ca, err := s.Client(s.AdminToken).SSHCA(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	if !slices.Equal(keys, ca.UserCAKeys) {
		t.Errorf("key lines %q, want %q", keys, ca.UserCAKeys)
	}
	for _, want := range []string{"TrustedUserCAKeys /etc/ssh/burrow_user_ca.pub", "AuthorizedPrincipalsFile"} {
		if !strings.Contains(out, want) {
			t.Errorf("header lacks %q:\n%s", want, out)
		}
	}
}

// TestCAKRL: `burrow ca krl` lists the key ids of revoked tokens only,
// to standard output or, with --out, into a file it names with the
// sshd_config line.
func TestCAKRL(t *testing.T) {
	s := burrowtest.Start(t)
	cliEnv(t, s)
	admin := s.Client(s.AdminToken)
	var toks []apitype.Token
	for _, name := range []string{"kept", "revoked"} {
		tok, err := admin.CreateToken(t.Context(), apitype.CreateTokenRequest{Name: name, Subject: name, Role: apitype.RoleMember})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	if err := admin.RevokeToken(t.Context(), toks[1].ID); err != nil {
		t.Fatal(err)
	}
	kept, revoked := sshca.UserKeyID(controller.DefaultOrg, "kept", toks[0].ID), sshca.UserKeyID(controller.DefaultOrg, "revoked", toks[1].ID)

	out, errb, code := burrowCLI(t, "ca", "krl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	if !strings.HasPrefix(out, "SSHKRL\n\x00") || !strings.Contains(out, revoked) || strings.Contains(out, kept) {
		t.Errorf("ca krl wrote %q: want a KRL naming %s and not %s", out, revoked, kept)
	}

	path := filepath.Join(t.TempDir(), "revoked.krl")
	out, errb, code = burrowCLI(t, "ca", "krl", "--out", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	if !strings.Contains(out, "RevokedKeys "+path) {
		t.Errorf("ca krl --out printed %q, want the RevokedKeys line", out)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(b, []byte(revoked)) {
		t.Errorf("%s: %v, holds %q", path, err, b)
	}

	t.Setenv("BURROW_TOKEN", toks[0].Secret) // a member's
	if _, errb, code := burrowCLI(t, "ca", "krl"); code != 1 || !strings.Contains(errb, "admin") {
		t.Errorf("as a member: exit %d, stderr %q; want 1 and a word about admin", code, errb)
	}
}

// TestCertPolicyMaxTTL: under a controller whose certificates live at most
// 30 minutes, cert issue's default asks for no more, burrow ssh works, an
// explicit longer --ttl gets a clear refusal, and ssh-config's certificate
// is held to the same maximum.
func TestCertPolicyMaxTTL(t *testing.T) {
	s := burrowtest.StartWith(t, func(o *controller.Options) { o.SSHCertPolicy = sshca.Policy{MaxTTL: 30 * time.Minute} })
	s.StartAgent("web-1", nil)
	cliEnv(t, s)
	t.Setenv("SSH_AUTH_SOCK", "")
	dir := filepath.Join(t.TempDir(), "keys")
	if _, errb, code := burrowCLI(t, "cert", "issue", "--out", dir); code != 0 {
		t.Fatalf("cert issue with the default ttl: exit %d: %s", code, errb)
	}
	cert := readCert(t, filepath.Join(dir, "id_ed25519-cert.pub"))
	if life := time.Duration(cert.ValidBefore-cert.ValidAfter) * time.Second; life > 30*time.Minute+sshca.ClockSkew {
		t.Errorf("default certificate lives %v under a 30m maximum", life)
	}
	if _, errb, code := burrowCLI(t, "cert", "issue", "--out", dir, "--ttl", "1h"); code == 0 || !strings.Contains(errb, "maximum 30m0s") {
		t.Errorf("cert issue --ttl 1h under a 30m maximum: exit %d: %s", code, errb)
	}
	if _, errb, code := burrowCLI(t, "ssh", "-l", burrowtest.AdminLogins()[0], "web-1", "--", "true"); code != 0 {
		t.Errorf("burrow ssh under a 30m maximum: exit %d: %s", code, errb)
	}
	// ssh-config's certificate (an hour by default) follows the same rule.
	if got := upToMax(managedCertTTL, apitype.SSHCA{MaxCertTTL: 1800}); got != 30*time.Minute {
		t.Errorf("upToMax(1h, 30m maximum) = %v", got)
	}
	if got := upToMax(managedCertTTL, apitype.SSHCA{}); got != managedCertTTL {
		t.Errorf("upToMax(1h, no maximum given) = %v", got)
	}
}

// TestSSHConfigRenews: ssh-config run by hand always gets a new
// certificate (its entries may hold one for a token since revoked), and
// `burrow login` drops the certificate issued for the context's old token.
func TestSSHConfigRenews(t *testing.T) {
	s := burrowtest.Start(t)
	s.StartAgent("web-1", nil)
	cliEnv(t, s)
	for _, k := range []string{"BURROW_URL", "BURROW_TOKEN", "BURROW_FINGERPRINT"} {
		t.Setenv(k, "")
	}
	login := func() {
		t.Helper()
		if _, errb, code := burrowCLI(t, "login", s.URL(), "--token", s.AdminToken, "--fingerprint", s.Controller().Fingerprint(), "--context", "c1"); code != 0 {
			t.Fatalf("login: exit %d: %s", code, errb)
		}
	}
	login()
	id, err := managedIdentity("c1")
	if err != nil {
		t.Fatal(err)
	}
	certs := map[string]bool{}
	for range 2 {
		if _, errb, code := burrowCLI(t, "ssh-config", "--context", "c1"); code != 0 {
			t.Fatalf("ssh-config: exit %d: %s", code, errb)
		}
		certs[string(readCert(t, id.cert()).Marshal())] = true
	}
	if len(certs) != 2 {
		t.Error("a second ssh-config kept the first certificate")
	}
	login()
	if _, err := os.Stat(id.cert()); !os.IsNotExist(err) {
		t.Errorf("after login, the old certificate is still there (%v)", err)
	}

	// Deleting the context takes its section out of ~/.ssh/config, whose
	// entries would only fail now.
	home := t.TempDir()
	t.Setenv("HOME", home)
	if _, errb, code := burrowCLI(t, "ssh-config", "--write", "--context", "c1"); code != 0 {
		t.Fatalf("ssh-config --write: exit %d: %s", code, errb)
	}
	cfg := filepath.Join(home, ".ssh", "config")
	if b, _ := os.ReadFile(cfg); !strings.Contains(string(b), "burrow c1 begin") || !strings.Contains(string(b), "\nMatch all\n") {
		t.Fatalf("~/.ssh/config after --write:\n%s", b)
	}
	out, errb, code := burrowCLI(t, "context", "delete", "c1")
	if code != 0 || !strings.Contains(out, "Removed its section from "+cfg) {
		t.Errorf("context delete: exit %d, %q %q", code, out, errb)
	}
	if b, _ := os.ReadFile(cfg); strings.Contains(string(b), "burrow c1") {
		t.Errorf("~/.ssh/config after context delete:\n%s", b)
	}
}

// TestCertIssueOutKeepsOwnKey: --out into a directory that holds the
// user's own id_ed25519 changes nothing and says how to certify that key;
// into one an earlier --out filled, it renews.
func TestCertIssueOutKeepsOwnKey(t *testing.T) {
	s := burrowtest.Start(t)
	cliEnv(t, s)
	t.Setenv("SSH_AUTH_SOCK", "")
	dir := t.TempDir()
	_, own, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(own, "me@laptop")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "id_ed25519")
	mine := pem.EncodeToMemory(block)
	if err := os.WriteFile(key, mine, 0o600); err != nil {
		t.Fatal(err)
	}
	_, errb, code := burrowCLI(t, "cert", "issue", "--out", dir)
	if code != 1 || !strings.Contains(errb, "--key "+key) {
		t.Errorf("cert issue --out over the user's key: exit %d, %q", code, errb)
	}
	if got, _ := os.ReadFile(key); !bytes.Equal(got, mine) {
		t.Error("the user's key was overwritten")
	}
	if _, err := os.Stat(key + "-cert.pub"); !os.IsNotExist(err) {
		t.Errorf("a certificate was written next to the user's key: %v", err)
	}

	ours := filepath.Join(t.TempDir(), "burrow")
	for i := range 2 {
		if _, errb, code := burrowCLI(t, "cert", "issue", "--out", ours); code != 0 {
			t.Fatalf("cert issue --out, time %d: exit %d, %s", i+1, code, errb)
		}
	}
}
