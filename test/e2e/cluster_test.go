//go:build e2e && linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	controllerPort = "7443"
	targetName     = "priv" // the agent's name, and so its own target's name

	// Ports of targetsrv inside priv.
	echoPort   = 7001
	hashPort   = 7002
	sourcePort = 7003

	controllerReadyTimeout = 30 * time.Second // controller prints its fingerprint and accepts
	targetsrvReadyTimeout  = 10 * time.Second
	agentOnlineTimeout     = 30 * time.Second // a (re)started agent shows online
	forwardReadyTimeout    = 15 * time.Second // port-forward prints its listeners
	dialTimeout            = 5 * time.Second  // one TCP connect
)

var (
	fingerprintRE = regexp.MustCompile(`sha256:[0-9A-Za-z+/=:_-]{16,}`)
	forwardRE     = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)
)

// cluster is one topology with a controller, an agent and targetsrv.
type cluster struct {
	topo     *topology
	procs    *procs
	dir      string
	ctlDir   string // controller's --data-dir
	agentDir string // agent's --data-dir
	env      []string

	controller  *proc
	agent       *proc
	targetsrv   *proc
	fingerprint string
	adminToken  string
	serverArgs  []string // more arguments of `burrow server`, set before startController
}

func newCluster(t *testing.T, topo *topology) *cluster {
	dir := t.TempDir()
	c := &cluster{
		topo:     topo,
		dir:      dir,
		ctlDir:   filepath.Join(dir, "controller"),
		agentDir: filepath.Join(dir, "agent"),
	}
	home := filepath.Join(dir, "home")
	for _, d := range []string{c.ctlDir, c.agentDir, home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BURROW_") && !strings.HasPrefix(kv, "HOME=") {
			c.env = append(c.env, kv)
		}
	}
	c.env = append(c.env, "HOME="+home, "BURROW_CONFIG="+filepath.Join(dir, "config.yaml"))
	c.procs = newProcs(t, c.env)
	return c
}

func (c *cluster) userURL() string { return "https://" + net.JoinHostPort(ctlUserAddr, controllerPort) }
func (c *cluster) agentURL() string {
	return "https://" + net.JoinHostPort(ctlPrivAddr, controllerPort)
}

// burrow runs a short burrow command in user with the logged-in context.
func (c *cluster) burrow(args ...string) result {
	return run(c.topo.user, c.env, nil, burrowBin, args...)
}

// mustBurrow is burrow that fails t unless the command exits 0.
func (c *cluster) mustBurrow(t *testing.T, args ...string) result {
	t.Helper()
	r := c.burrow(args...)
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	return r
}

// startTargetsrv starts the target service in priv and checks it answers
// on loopback.
func (c *cluster) startTargetsrv(t *testing.T) {
	t.Helper()
	c.targetsrv = c.procs.start(t, c.topo.priv, "targetsrv", nil, targetsrvBin,
		"-echo", strconv.Itoa(echoPort), "-hash", strconv.Itoa(hashPort), "-source", strconv.Itoa(sourcePort))
	eventually(t, targetsrvReadyTimeout, "targetsrv echoes in priv", func() error {
		return c.echoVia(c.topo.priv, net.JoinHostPort("127.0.0.1", strconv.Itoa(echoPort)))
	})
}

// echoVia dials addr from ns and checks a short echo exchange.
func (c *cluster) echoVia(ns netns, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	conn, err := ns.dial(ctx, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	return echoExact(conn, []byte("hello through "+addr+"\n"), ioTimeout)
}

// startController starts the controller and waits until it printed its
// fingerprint, wrote the admin token and accepts connections from user.
// e2eOrg is the controller's org: in key ids, and targets are also
// NAME.<org>.burrow.
const e2eOrg = "e2e-org"

func (c *cluster) startController(t *testing.T) {
	t.Helper()
	c.controller = c.procs.start(t, c.topo.ctl, "controller", nil, burrowBin,
		append([]string{"server", "--listen", net.JoinHostPort("0.0.0.0", controllerPort), "--data-dir", c.ctlDir, "--org", e2eOrg}, c.serverArgs...)...)
	ctl := c.controller
	eventually(t, controllerReadyTimeout, "controller prints its TLS fingerprint", func() error {
		if !ctl.running() {
			t.Fatalf("controller exited: %v\n%s", ctl.exitErr(), ctl.output())
		}
		if fp := fingerprintRE.FindString(ctl.output()); fp != "" {
			c.fingerprint = fp
			return nil
		}
		return fmt.Errorf("no sha256:... in its output")
	})
	tokenFile := filepath.Join(c.ctlDir, "admin-token")
	eventually(t, controllerReadyTimeout, "controller writes "+tokenFile, func() error {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return err
		}
		if c.adminToken = strings.TrimSpace(string(b)); c.adminToken == "" {
			return fmt.Errorf("%s is empty", tokenFile)
		}
		return nil
	})
	if fi, err := os.Stat(tokenFile); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", tokenFile, fi.Mode().Perm())
	}
	eventually(t, controllerReadyTimeout, "controller accepts TCP from user", func() error {
		if !ctl.running() {
			t.Fatalf("controller exited: %v\n%s", ctl.exitErr(), ctl.output())
		}
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		defer cancel()
		conn, err := c.topo.user.dial(ctx, net.JoinHostPort(ctlUserAddr, controllerPort))
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// adminEnv authenticates by environment only, with no config file.
func (c *cluster) adminEnv() []string {
	env := make([]string, 0, len(c.env)+4)
	for _, kv := range c.env {
		if !strings.HasPrefix(kv, "BURROW_CONFIG=") {
			env = append(env, kv)
		}
	}
	return append(env,
		"BURROW_CONFIG="+filepath.Join(c.dir, "no-such-config.yaml"),
		"BURROW_URL="+c.userURL(),
		"BURROW_TOKEN="+c.adminToken,
		"BURROW_FINGERPRINT="+c.fingerprint)
}

// createJoinToken makes a join token with the admin token from the
// environment.
func (c *cluster) createJoinToken(t *testing.T, uses int) string {
	t.Helper()
	r := run(c.topo.user, c.adminEnv(), nil, burrowBin, "join-token", "create", "--uses", strconv.Itoa(uses), "--ttl", "1h")
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	tok := strings.TrimSpace(r.stdout)
	if tok == "" || strings.Contains(tok, "\n") {
		t.Fatalf("join-token create: want one line on stdout, got %q", r.stdout)
	}
	return tok
}

// login writes the admin context to BURROW_CONFIG.
func (c *cluster) login(t *testing.T) {
	t.Helper()
	c.mustBurrow(t, "login", c.userURL(), "--token", c.adminToken, "--fingerprint", c.fingerprint)
}

// startAgent starts the agent in priv; joinToken "" restarts it from its
// data dir.
func (c *cluster) startAgent(t *testing.T, joinToken string, extra ...string) {
	t.Helper()
	args := []string{"agent", "--url", c.agentURL(), "--data-dir", c.agentDir, "--name", targetName}
	if joinToken != "" {
		args = append(args, "--token", joinToken)
	}
	args = append(args, extra...)
	c.agent = c.procs.start(t, c.topo.priv, "agent", nil, burrowBin, args...)
}

// target is one element of `burrow targets -o json`.
type target struct {
	Name     string    `json:"name"`
	Online   bool      `json:"online"`
	LastSeen time.Time `json:"last_seen"`
}

// target returns the named target as the controller lists it.
func (c *cluster) target(name string) (target, error) {
	r := c.burrow("targets", "-o", "json")
	if r.err != nil {
		return target{}, fmt.Errorf("%v", r)
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		return target{}, fmt.Errorf("targets -o json: %v in %q", err, r.stdout)
	}
	for _, m := range raw {
		for _, k := range []string{"name", "online", "last_seen"} {
			if _, ok := m[k]; !ok {
				return target{}, fmt.Errorf("targets -o json: an object lacks %q: %s", k, r.stdout)
			}
		}
	}
	var ts []target
	if err := json.Unmarshal([]byte(r.stdout), &ts); err != nil {
		return target{}, fmt.Errorf("targets -o json: %v in %q", err, r.stdout)
	}
	for _, tg := range ts {
		if tg.Name == name {
			return tg, nil
		}
	}
	return target{}, fmt.Errorf("no target %q in %s", name, r.stdout)
}

// waitOnline waits until the target is listed with the wanted state.
func (c *cluster) waitOnline(t *testing.T, want bool, timeout time.Duration) time.Duration {
	t.Helper()
	return eventually(t, timeout, fmt.Sprintf("target %s online=%v", targetName, want), func() error {
		tg, err := c.target(targetName)
		if err != nil {
			return err
		}
		if tg.Online != want {
			return fmt.Errorf("target %s: online=%v, last_seen=%v", targetName, tg.Online, tg.LastSeen)
		}
		return nil
	})
}

// portForward is a running `burrow port-forward` in user.
type portForward struct {
	*proc
	ports []int // local ports, in the order they were printed
}

// startPortForward runs `burrow port-forward TARGET pairs...` and waits
// until it printed one 127.0.0.1:PORT per pair.
func (c *cluster) startPortForward(t *testing.T, name string, pairs ...string) *portForward {
	t.Helper()
	args := append([]string{"port-forward", targetName}, pairs...)
	args = append(args, "--address", "127.0.0.1")
	pf := &portForward{proc: c.procs.start(t, c.topo.user, name, nil, burrowBin, args...)}
	eventually(t, forwardReadyTimeout, name+" prints its listeners", func() error {
		if !pf.running() {
			t.Fatalf("%s exited: %v\n%s", name, pf.exitErr(), pf.output())
		}
		ms := forwardRE.FindAllStringSubmatch(pf.output(), -1)
		if len(ms) < len(pairs) {
			return fmt.Errorf("%d of %d 127.0.0.1:PORT in its output %q", len(ms), len(pairs), pf.output())
		}
		pf.ports = pf.ports[:0]
		for _, m := range ms[:len(pairs)] {
			p, _ := strconv.Atoi(m[1])
			pf.ports = append(pf.ports, p)
		}
		return nil
	})
	return pf
}

// dialUser connects from user to 127.0.0.1:port (a forward's listener).
func (c *cluster) dialUser(port int) (*net.TCPConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	return c.topo.user.dial(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}
