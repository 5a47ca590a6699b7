//go:build e2e && linux

package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	rotationOverlap = 10 * time.Second // of the rotated user CA: long enough for two logins
	onlineTarget    = "priv-online"    // the second agent, online through the rotation
	overlapPushMax  = 15 * time.Second // for agents to refuse the old CA once the overlap ended
	foreignCAReason = "not signed by a CA this target trusts"
)

var (
	trustedUntilRE = regexp.MustCompile(`the previous key is trusted until (\S+)`)
	signsFromRE    = regexp.MustCompile(`it signs from (\S+);`)
)

// hostRotationOverlap is the staged host CA rotation's overlap: long
// enough for a few logins before the switch.
const hostRotationOverlap = 8 * time.Second

// rotationSuite is a cluster with two agents in priv: the cluster's own
// (targetName), which is offline during the rotation, and onlineTarget,
// which stays connected; OpenSSH in user reaches both through
// `burrow ssh-config`.
type rotationSuite struct {
	*sshSuite
	online *proc // onlineTarget's agent
}

// TestRotation rotates the user CA with `burrow ca rotate --user` and
// logs in with the real OpenSSH client: certificates of the old and the
// new CA both work during the overlap; after it the old one is refused
// with a clear message and runs nothing, by the agent that stayed
// connected and by one that was offline during the rotation and
// reconnected after the overlap.
func TestRotation(t *testing.T) {
	requireSSHTools(t)
	s := newRotationSuite(t)
	old := s.certConfig(t, "old-ca")
	for _, target := range []string{targetName, onlineTarget} {
		s.mustSSH(t, old.config, target, "true")
	}

	if err := s.c.agent.stop(t, syscall.SIGTERM); err != nil {
		t.Logf("agent after SIGTERM: %v", err)
	}
	s.c.waitOnline(t, false, agentOfflineDeadline)
	r := s.c.mustBurrow(t, "ca", "rotate", "--user", "--overlap", rotationOverlap.String())
	m := trustedUntilRE.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("ca rotate printed no end of the overlap: %q", r.stdout)
	}
	until, err := time.Parse(time.RFC3339, m[1])
	if err != nil {
		t.Fatal(err)
	}
	overlapEnd := until.Add(time.Second) // the printed time has no fraction of a second
	fresh := s.certConfig(t, "new-ca")
	if string(old.ca.Marshal()) == string(fresh.ca.Marshal()) {
		t.Fatalf("the certificate issued after the rotation is signed by the old CA %s", ssh.FingerprintSHA256(old.ca))
	}

	t.Run("both-during-the-overlap", func(t *testing.T) {
		s.mustSSH(t, old.config, onlineTarget, "true")
		s.mustSSH(t, fresh.config, onlineTarget, "true")
		if time.Now().After(until) {
			t.Fatalf("the logins took longer than the %v overlap: this machine is too slow for the test", rotationOverlap)
		}
	})
	t.Run("old-refused-after-the-overlap", func(t *testing.T) {
		eventually(t, time.Until(overlapEnd)+overlapPushMax, onlineTarget+" refuses the old CA", func() error {
			if r := s.ssh(old.config, nil, onlineTarget, "true"); r.exitCode != refusedStatus {
				return fmt.Errorf("%v", r)
			}
			return nil
		})
		s.refused(t, old.config, onlineTarget, foreignCAReason)
		s.mustSSH(t, fresh.config, onlineTarget, "true")
	})
	t.Run("offline-agent-catches-up", func(t *testing.T) {
		if left := time.Until(overlapEnd); left > 0 { // the agent is offline: only the clock tells
			eventually(t, left+time.Second, "the overlap ends", func() error {
				if !time.Now().After(overlapEnd) {
					return fmt.Errorf("%v left", time.Until(overlapEnd))
				}
				return nil
			})
		}
		s.c.startAgent(t, "")
		s.c.waitOnline(t, true, agentOnlineTimeout)
		s.refused(t, old.config, targetName, foreignCAReason)
		s.mustSSH(t, fresh.config, targetName, "true")
	})
}

// TestHostRotation rotates the host CA with `burrow ca rotate --host`:
// staged, so OpenSSH with StrictHostKeyChecking=yes and nothing but the
// old @cert-authority line keeps connecting while the new key is only
// published; `burrow ca known-hosts` lists both keys then. When the
// overlap ends the targets present certificates from the new key, which a
// known_hosts holding only the new line accepts, without an agent
// reconnecting.
func TestHostRotation(t *testing.T) {
	requireSSHTools(t)
	s := newRotationSuite(t)
	before := s.c.mustBurrow(t, "ca", "known-hosts").stdout
	oldOnly := knownHostsConfig(t, s.config, before)
	for _, target := range []string{targetName, onlineTarget} {
		if r := s.strictSSH(oldOnly, target); r.err != nil {
			t.Fatalf("ssh %s before the rotation: %v", target, r)
		}
	}

	r := s.c.mustBurrow(t, "ca", "rotate", "--host", "--overlap", hostRotationOverlap.String())
	m := signsFromRE.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("ca rotate --host printed no time the new key signs from: %q", r.stdout)
	}
	switchAt, err := time.Parse(time.RFC3339, m[1])
	if err != nil {
		t.Fatal(err)
	}
	switchAt = switchAt.Add(time.Second) // the printed time has no fraction of a second
	both := s.c.mustBurrow(t, "ca", "known-hosts").stdout
	lines := strings.Split(strings.TrimSpace(both), "\n")
	if len(lines) != 2 || lines[0] != strings.TrimSpace(before) {
		t.Fatalf("ca known-hosts during the overlap printed %q, want the old line and a new one", both)
	}
	newOnly := knownHostsConfig(t, s.config, lines[1]+"\n")

	t.Run("old-line-works-until-the-switch", func(t *testing.T) {
		for _, target := range []string{targetName, onlineTarget} {
			if r := s.strictSSH(oldOnly, target); r.err != nil {
				t.Errorf("ssh %s with the old line during the overlap: %v", target, r)
			}
		}
		if time.Now().After(switchAt) {
			t.Fatalf("the logins took longer than the %v overlap: this machine is too slow for the test", hostRotationOverlap)
		}
	})
	t.Run("new-line-works-after-the-switch", func(t *testing.T) {
		eventually(t, time.Until(switchAt)+overlapPushMax, onlineTarget+" presents a certificate from the new key", func() error {
			if r := s.strictSSH(newOnly, onlineTarget); r.err != nil {
				return fmt.Errorf("%v", r)
			}
			return nil
		})
		bothCfg := knownHostsConfig(t, s.config, both)
		for _, target := range []string{targetName, onlineTarget} {
			if r := s.strictSSH(bothCfg, target); r.err != nil {
				t.Errorf("ssh %s with both lines after the switch: %v", target, r)
			}
		}
	})
}

func newRotationSuite(t *testing.T) *rotationSuite {
	topo := newTopology(t)
	c := newCluster(t, topo)
	s := &rotationSuite{sshSuite: &sshSuite{c: c, env: sshEnv(c.env), dir: t.TempDir()}}
	s.procs = newProcs(t, s.env)
	c.startController(t)
	joinToken := c.createJoinToken(t, 2)
	c.login(t)
	c.startAgent(t, joinToken)
	s.online = s.procs.start(t, topo.priv, "agent-"+onlineTarget, nil, burrowBin, "agent", "--url", c.agentURL(),
		"--data-dir", filepath.Join(s.dir, "agent-"+onlineTarget), "--name", onlineTarget, "--token", joinToken)
	c.waitOnline(t, true, agentOnlineTimeout)
	eventually(t, agentOnlineTimeout, onlineTarget+" online", func() error {
		if !s.online.running() {
			t.Fatalf("agent %s exited: %v\n%s", onlineTarget, s.online.exitErr(), s.online.output())
		}
		if tg, err := c.target(onlineTarget); err != nil || !tg.Online {
			return fmt.Errorf("%+v %v", tg, err)
		}
		return nil
	})
	s.config = filepath.Join(s.dir, "ssh_config")
	c.writeSSHConfig(t, s.env, s.config, "") // both host keys
	return s
}

// certLogin is an ssh_config that logs in with one certificate.
type certLogin struct {
	config string
	ca     ssh.PublicKey // that signed the certificate
}

// certConfig makes a key, has the controller certify it for root with the
// admin's token, and writes a config that uses it.
func (s *rotationSuite) certConfig(t *testing.T, name string) certLogin {
	t.Helper()
	key := filepath.Join(s.dir, name)
	keygen(t, key, "rotation-"+name)
	s.c.signSSHCert(t, s.c.adminToken, key+".pub", key+"-cert.pub", []string{"root"}, certValidity)
	config := variantConfig(t, s.config, filepath.Join(s.dir, "ssh_config-"+name), key, key+"-cert.pub")
	return certLogin{config: config, ca: readCertFile(t, key+"-cert.pub").SignatureKey}
}

// testRevokedCertToken: revoking a token makes its certificate useless at
// the agent at once, though the certificate is still valid and the
// tunnel (the admin's `burrow proxy`) is not affected.
func (s *sshSuite) testRevokedCertToken(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	keygen(t, key, "e2e-revoked-cert")
	tok := s.c.createToken(t, s.env, "--name", "e2e-revoked-cert", "--role", "member", "--login", "root")
	s.c.signSSHCert(t, tok.Secret, key+".pub", key+"-cert.pub", []string{"root"}, certValidity)
	config := variantConfig(t, s.config, filepath.Join(dir, "config"), key, key+"-cert.pub")
	s.mustSSH(t, config, "root@"+targetName, "true")
	if r := s.burrow("", "token", "revoke", tok.ID); r.err != nil {
		t.Fatalf("%v", r)
	}
	s.refused(t, config, "root@"+targetName, "this certificate's token was revoked")
	if r := s.mustSSH(t, s.config, targetName, "echo tunnel-open"); !strings.Contains(r.stdout, "tunnel-open") {
		t.Errorf("the admin's own certificate after another token's revocation: %v", r)
	}
}
