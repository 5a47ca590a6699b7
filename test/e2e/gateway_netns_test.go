//go:build e2e && linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A second private network: ctl ⇄ priv2, reachable from neither priv nor
// user.
const (
	ctlPriv2Addr = "10.77.3.1"
	priv2Addr    = "10.77.3.2"
	target2Name  = "priv2"
)

// addPriv2 makes a namespace linked to ctl only, as newTopology links priv.
func addPriv2(t *testing.T, topo *topology) netns {
	t.Helper()
	pid := os.Getpid()
	ns := netns{fmt.Sprintf("%s%d-priv2", nsPrefix, pid)}
	ipCmd(t, "netns", "add", ns.name)
	t.Cleanup(func() { ipCleanup(t, "netns", "del", ns.name) })
	ipCmd(t, "-n", ns.name, "link", "set", "lo", "up")
	a, b := fmt.Sprintf("bw%dcq", pid), fmt.Sprintf("bw%dqc", pid)
	ipCmd(t, "link", "add", a, "type", "veth", "peer", "name", b)
	t.Cleanup(func() { ipCleanupQuiet("link", "del", a) })
	ipCmd(t, "link", "set", a, "netns", topo.ctl.name)
	ipCmd(t, "link", "set", b, "netns", ns.name)
	ipCmd(t, "-n", topo.ctl.name, "addr", "add", ctlPriv2Addr+prefixLength, "dev", a)
	ipCmd(t, "-n", ns.name, "addr", "add", priv2Addr+prefixLength, "dev", b)
	ipCmd(t, "-n", topo.ctl.name, "link", "set", a, "up")
	ipCmd(t, "-n", ns.name, "link", "set", b, "up")
	ipCmd(t, "-n", ns.name, "route", "add", "default", "via", ctlPriv2Addr)
	return ns
}

// testSecondNamespace runs a second agent in its own private namespace
// and reaches its target with ssh -J, on both gateway ports.
func (s *gatewaySuite) testSecondNamespace(t *testing.T) {
	c := s.c
	ns := addPriv2(t, c.topo)
	// A service in the second network: ctl reaches it, user and priv must
	// not, or the test below proves nothing.
	const probePort = 7401
	probe := net.JoinHostPort(priv2Addr, strconv.Itoa(probePort))
	c.procs.start(t, ns, "targetsrv-priv2", nil, targetsrvBin, "-host", priv2Addr,
		"-echo", strconv.Itoa(probePort), "-hash", strconv.Itoa(probePort+1), "-source", strconv.Itoa(probePort+2))
	eventually(t, targetsrvReadyTimeout, "ctl reaches "+probe, func() error { return c.echoVia(c.topo.ctl, probe) })
	for _, from := range []netns{c.topo.user, c.topo.priv} {
		ctx, cancel := context.WithTimeout(context.Background(), isolationDialTimeout)
		conn, err := from.dial(ctx, probe)
		cancel()
		if err == nil {
			conn.Close()
			t.Fatalf("%s reaches %s: the second network is not private", from.name, probe)
		}
	}
	join := c.createJoinToken(t, 1)
	dir := filepath.Join(c.dir, "agent2")
	c.procs.start(t, ns, "agent2", nil, burrowBin, "agent",
		"--url", "https://"+net.JoinHostPort(ctlPriv2Addr, controllerPort), "--data-dir", dir, "--name", target2Name, "--token", join)
	eventually(t, agentOnlineTimeout, target2Name+" online", func() error {
		tg, err := c.target(target2Name)
		if err == nil && !tg.Online {
			err = fmt.Errorf("%s is offline", target2Name)
		}
		return err
	})

	// Its host key, as burrow ssh-config maintains the known hosts.
	burrowConfig := filepath.Join(t.TempDir(), "burrow_ssh_config")
	c.writeSSHConfig(t, s.env, burrowConfig, "")
	b, err := os.ReadFile(burrowConfig)
	if err != nil {
		t.Fatal(err)
	}
	m := knownHostsLine.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("%s names no UserKnownHostsFile", burrowConfig)
	}
	key := filepath.Join(s.dir, "id_ed25519")
	config := s.writeConfig(t, "ssh_config_priv2", key, key+"-cert.pub",
		filepath.Join(s.dir, "gateway_known_hosts"), strings.Trim(m[1], `"`))

	for _, port := range []string{gatewaySSHPort, controllerPort} {
		jump := "jump@" + net.JoinHostPort(ctlUserAddr, port)
		r := s.ssh(config, "-J", jump, "root@"+target2Name, "ip -4 -o addr show")
		if r.err != nil {
			t.Fatalf("ssh -J %s root@%s: %v", jump, target2Name, r)
		}
		if !strings.Contains(r.stdout, priv2Addr+"/") || strings.Contains(r.stdout, privAddr+"/") {
			t.Errorf("ssh -J %s root@%s ran outside %s: %v", jump, target2Name, ns.name, r)
		}
	}
}
