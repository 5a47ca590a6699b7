//go:build e2e && linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const gatewaySSHPort = "2222" // the controller's --ssh-listen port

var knownHostsLine = regexp.MustCompile(`(?m)^\s*UserKnownHostsFile (\S+)`)

// gatewaySuite is a cluster whose controller serves the SSH gateway, with
// an OpenSSH config in user that uses a burrow certificate and pins the
// gateway's host key.
type gatewaySuite struct {
	c      *cluster
	env    []string
	dir    string
	config string // ssh_config: key, certificate, known hosts, strict checking
	jump   string // -J argument
}

// TestGateway runs the real OpenSSH client from user through the
// controller's SSH front door: `ssh -J user@ctl:2222 root@priv`.
func TestGateway(t *testing.T) {
	requireSSHTools(t)
	s := newGatewaySuite(t)
	t.Run("jump-true", s.testJumpTrue)
	t.Run("jump-on-the-main-port", s.testJumpMainPort)
	t.Run("jump-with-only-the-host-ca", s.testJumpWithOnlyHostCA)
	t.Run("jump-over-tls", s.testJumpOverTLS)
	t.Run("ciphers", s.testCiphers)
	t.Run("session-banner", s.testSessionBanner)
	t.Run("refused-without-certificate", s.testNoCertificate)
	t.Run("unknown-target", s.testUnknownTarget)
	t.Run("jump-with-registered-key", s.testRegisteredKey) // gateway_keys_test.go
}

func newGatewaySuite(t *testing.T) *gatewaySuite {
	topo := newTopology(t)
	c := newCluster(t, topo)
	c.serverArgs = []string{"--ssh-listen", net.JoinHostPort("0.0.0.0", gatewaySSHPort)}
	s := &gatewaySuite{c: c, env: sshEnv(c.env), dir: t.TempDir(),
		jump: "jump@" + net.JoinHostPort(ctlUserAddr, gatewaySSHPort)}
	c.startController(t)
	joinToken := c.createJoinToken(t, 1)
	c.login(t)
	c.startAgent(t, joinToken)
	c.waitOnline(t, true, agentOnlineTimeout)
	eventually(t, controllerReadyTimeout, "gateway accepts TCP from user", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		defer cancel()
		conn, err := topo.user.dial(ctx, net.JoinHostPort(ctlUserAddr, gatewaySSHPort))
		if err != nil {
			return err
		}
		return conn.Close()
	})

	// The targets' known hosts as burrow maintains them.
	burrowConfig := filepath.Join(s.dir, "burrow_ssh_config")
	c.writeSSHConfig(t, s.env, burrowConfig, "")
	b, err := os.ReadFile(burrowConfig)
	if err != nil {
		t.Fatal(err)
	}
	m := knownHostsLine.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("%s names no UserKnownHostsFile:\n%s", burrowConfig, b)
	}
	targetsKnown := strings.Trim(m[1], `"`)

	// The gateway's host key, pinned.
	gwKnown := filepath.Join(s.dir, "gateway_known_hosts")
	pub, err := exec.Command("ssh-keygen", "-y", "-f", filepath.Join(c.ctlDir, "ssh_gateway_ed25519_key")).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -y of the gateway host key: %v", err)
	}
	// The same key answers on the plain SSH port and on the main port.
	line := fmt.Sprintf("[%s]:%s %s[%s]:%s %s", ctlUserAddr, gatewaySSHPort, pub, ctlUserAddr, controllerPort, pub)
	if err := os.WriteFile(gwKnown, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}

	key := filepath.Join(s.dir, "id_ed25519")
	keygen(t, key, "gateway-e2e")
	c.signSSHCert(t, c.adminToken, key+".pub", key+"-cert.pub", []string{"root"}, "10m")
	s.config = s.writeConfig(t, "ssh_config", key, key+"-cert.pub", gwKnown, targetsKnown)
	return s
}

// writeConfig writes an ssh_config for every host, read by the ProxyJump
// ssh too (OpenSSH passes -F on).
func (s *gatewaySuite) writeConfig(t *testing.T, name, key, cert string, known ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "Host *\n    IdentityFile %s\n    IdentitiesOnly yes\n", key)
	if cert != "" {
		fmt.Fprintf(&b, "    CertificateFile %s\n", cert)
	}
	fmt.Fprintf(&b, "    UserKnownHostsFile %s\n    GlobalKnownHostsFile /dev/null\n", strings.Join(known, " "))
	b.WriteString("    StrictHostKeyChecking yes\n    BatchMode yes\n    ConnectTimeout 20\n")
	path := filepath.Join(s.dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *gatewaySuite) ssh(config string, args ...string) result {
	return runTimeout(s.c.topo.user, s.env, nil, sshTimeout, "ssh", append([]string{"-F", config}, args...)...)
}

func (s *gatewaySuite) testJumpTrue(t *testing.T) {
	if r := s.ssh(s.config, "-J", s.jump, "root@"+targetName, "true"); r.err != nil {
		t.Fatalf("%v", r)
	}
	r := s.ssh(s.config, "-J", s.jump, "root@"+targetName, "echo through-the-gateway; exit 7")
	if r.exitCode != 7 || strings.TrimSpace(r.stdout) != "through-the-gateway" {
		t.Fatalf("want output through-the-gateway and exit 7: %v", r)
	}
}

var kexCipher = regexp.MustCompile(`kex: server->client cipher: (\S+)`)

// testCiphers: OpenSSH with its default order (CTR before GCM) gets
// AES-GCM on both layers of a jump, and one whose Ciphers leave GCM out
// still gets in (sshcert.PreferGCM).
func (s *gatewaySuite) testCiphers(t *testing.T) {
	ciphers := func(r result) []string {
		var got []string
		for _, m := range kexCipher.FindAllStringSubmatch(r.stderr, -1) {
			got = append(got, m[1])
		}
		return got
	}
	r := s.ssh(s.config, "-v", "-J", s.jump, "root@"+targetName, "true")
	if got := ciphers(r); r.err != nil || len(got) != 2 || got[0] != "aes128-gcm@openssh.com" || got[1] != "aes128-gcm@openssh.com" {
		t.Fatalf("default ciphers: negotiated %q, want aes128-gcm@openssh.com for the gateway and the target: %v", got, r)
	}
	// -o is not passed on to the jump ssh: only the target's layer is CTR.
	r = s.ssh(s.config, "-v", "-o", "Ciphers=aes256-ctr", "-J", s.jump, "root@"+targetName, "true")
	if got := ciphers(r); r.err != nil || len(got) != 2 || got[1] != "aes256-ctr" {
		t.Fatalf("Ciphers=aes256-ctr: negotiated %q, want aes256-ctr with the target: %v", got, r)
	}
}

// testJumpMainPort: the main port (TLS for agents and the API) tells SSH
// from TLS by the first bytes, so no second port is needed.
func (s *gatewaySuite) testJumpMainPort(t *testing.T) {
	jump := "jump@" + net.JoinHostPort(ctlUserAddr, controllerPort)
	if r := s.ssh(s.config, "-J", jump, "root@"+targetName, "echo main-port"); r.err != nil || strings.TrimSpace(r.stdout) != "main-port" {
		t.Fatalf("ssh -J on the main port: %v", r)
	}
}

// testJumpWithOnlyHostCA: with nothing in known_hosts but what `burrow ca
// known-hosts` prints, one @cert-authority line, OpenSSH with
// StrictHostKeyChecking=yes checks both hops of ssh -J without a prompt:
// the gateway's host certificate and the target's, on both ports.
func (s *gatewaySuite) testJumpWithOnlyHostCA(t *testing.T) {
	r := run(s.c.topo.user, s.env, nil, burrowBin, "ca", "known-hosts")
	if r.err != nil || strings.Count(strings.TrimSpace(r.stdout), "\n") != 0 || !strings.HasPrefix(r.stdout, "@cert-authority ") {
		t.Fatalf("burrow ca known-hosts: want one @cert-authority line: %v", r)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(s.dir, "id_ed25519")
	config := s.writeConfig(t, "ssh_config_host_ca_only", key, key+"-cert.pub", kh)
	for _, port := range []string{gatewaySSHPort, controllerPort} {
		jump := "jump@" + net.JoinHostPort(ctlUserAddr, port)
		r := s.ssh(config, "-v", "-J", jump, "root@"+targetName, "echo checked")
		if r.err != nil || strings.TrimSpace(r.stdout) != "checked" {
			t.Fatalf("ssh -J %s with only the host CA in known_hosts: %v", jump, r)
		}
		if n := strings.Count(r.stderr, "Server host certificate: "); n != 2 {
			t.Errorf("ssh -J %s: %d host certificates checked, want 2 (gateway and target):\n%s", jump, n, r.stderr)
		}
	}
}

// testJumpOverTLS: for networks that pass only TLS, SSH goes inside TLS to
// the main port (ALPN "ssh"), with openssl s_client as the ProxyCommand of
// the jump.
func (s *gatewaySuite) testJumpOverTLS(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	b, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(s.dir, "ssh_config_tls")
	extra := fmt.Sprintf("Host gw-tls\n    HostName %s\n    Port %s\n    HostKeyAlias [%s]:%s\n"+
		"    ProxyCommand openssl s_client -quiet -verify_quiet -alpn ssh -connect %%h:%%p 2>/dev/null\n",
		ctlUserAddr, controllerPort, ctlUserAddr, controllerPort)
	if err := os.WriteFile(cfg, append([]byte(extra), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := s.ssh(cfg, "-J", "jump@gw-tls", "root@"+targetName, "echo inside-tls"); r.err != nil || strings.TrimSpace(r.stdout) != "inside-tls" {
		t.Fatalf("ssh -J through SSH over TLS: %v", r)
	}
}

func (s *gatewaySuite) testSessionBanner(t *testing.T) {
	r := s.ssh(s.config, "-p", gatewaySSHPort, "jump@"+ctlUserAddr)
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	for _, want := range []string{"burrow gateway: you are", "SSH logins: root", targetName, "online", "ssh -J jump@"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("session output lacks %q: %v", want, r)
		}
	}
}

func (s *gatewaySuite) testNoCertificate(t *testing.T) {
	key := filepath.Join(s.dir, "plain_ed25519")
	keygen(t, key, "plain")
	gwKnown := filepath.Join(s.dir, "gateway_known_hosts")
	config := s.writeConfig(t, "ssh_config_plain", key, "", gwKnown)
	r := s.ssh(config, "-J", s.jump, "root@"+targetName, "touch /tmp/gateway-e2e-must-not-exist")
	if r.err == nil {
		t.Fatalf("a plain key got through the gateway: %v", r)
	}
	if !strings.Contains(r.stderr, "this key is not registered") {
		t.Errorf("stderr does not say why: %v", r)
	}
	noFile(t, "/tmp/gateway-e2e-must-not-exist")
}

func (s *gatewaySuite) testUnknownTarget(t *testing.T) {
	r := s.ssh(s.config, "-J", s.jump, "root@nope", "true")
	if r.err == nil {
		t.Fatalf("ssh to an unknown target succeeded: %v", r)
	}
	if !strings.Contains(r.stderr, "no target named nope") {
		t.Errorf("stderr does not say why: %v", r)
	}
}
