//go:build e2e && linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	ioTimeout              = 30 * time.Second       // one small exchange
	isolationDialTimeout   = 3 * time.Second        // user → priv must fail within it
	bigTransferSize        = int64(1 << 30)         // bytes each way in the big transfer
	bigTransferTimeout     = 10 * time.Minute       // both directions together
	halfCloseSize          = 4 << 20                // bytes sent before CloseWrite
	parallelConns          = 200                    // connections through one forward
	parallelPayload        = 32 << 10               // bytes each of them echoes
	parallelTimeout        = 2 * time.Minute        // all of them together
	agentOfflineDeadline   = 2 * time.Second        // SIGKILLed agent shows offline, from the kill
	lastSeenMaxAge         = time.Minute            // an offline target's last_seen is at most this old
	halfCloseEchoSize      = 64 << 10               // bytes echoed around a CloseWrite
	topologyCheckSize      = 1 << 20                // bytes per targetsrv mode in TestTopology
	forwardFailTimeout     = 10 * time.Second       // a forward to an offline target gives up
	agentReconnectTimeout  = 60 * time.Second       // agent reconnects to a restarted controller
	proxyPayloadSize       = 256 << 10              // bytes sent through burrow proxy
	portForwardLocalOffset = 10000                  // fixed local port = remote + offset
	unknownTarget          = "no-such-target-e2e"   // a name the controller does not know
	memberTokenName        = "e2e-member"           // token created by the token subtest
	bogusTokenID           = "no-such-token-id-e2e" // an ID the controller does not know
)

// TestPrivateNetwork runs burrow across three network namespaces: user
// reaches a service in priv only through the controller in ctl.
func TestPrivateNetwork(t *testing.T) {
	requireBurrow(t)
	start := time.Now()
	topo := newTopology(t)
	c := newCluster(t, topo)
	c.startTargetsrv(t)

	t.Run("isolation", func(t *testing.T) { checkIsolation(t, c) })

	c.startController(t)
	t.Logf("controller up, fingerprint %s", c.fingerprint)
	joinToken := c.createJoinToken(t, 1)
	c.login(t)
	c.startAgent(t, joinToken)
	d := c.waitOnline(t, true, agentOnlineTimeout)
	t.Logf("agent online %v after start; setup took %v", d, time.Since(start))

	// One forward of all three services, on fixed local ports (user is a
	// fresh namespace, so they are free).
	var pairs []string
	for _, p := range []int{echoPort, hashPort, sourcePort} {
		pairs = append(pairs, fmt.Sprintf("%d:%d", p+portForwardLocalOffset, p))
	}
	pf := c.startPortForward(t, "port-forward", pairs...)
	for i, p := range []int{echoPort, hashPort, sourcePort} {
		if want := p + portForwardLocalOffset; i >= len(pf.ports) || pf.ports[i] != want {
			t.Fatalf("port-forward printed ports %v, want %d at position %d:\n%s", pf.ports, want, i, pf.output())
		}
	}
	local := func(remote int) int { return remote + portForwardLocalOffset }

	t.Run("port-forward-echo", func(t *testing.T) {
		conn, err := c.dialUser(local(echoPort))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for i := range 3 {
			msg := []byte(fmt.Sprintf("hello %d from user\n", i))
			if err := echoExact(conn, msg, ioTimeout); err != nil {
				t.Fatalf("echo %d: %v", i, err)
			}
		}
		// 0:REMOTE picks a free port and prints it.
		pf0 := c.startPortForward(t, "port-forward-0", fmt.Sprintf("0:%d", echoPort))
		defer pf0.kill()
		if err := c.echoVia(topo.user, net.JoinHostPort("127.0.0.1", strconv.Itoa(pf0.ports[0]))); err != nil {
			t.Fatalf("through 0:%d (printed port %d): %v", echoPort, pf0.ports[0], err)
		}
	})

	t.Run("proxy", func(t *testing.T) {
		payload := randomBytes("proxy", proxyPayloadSize)
		r := run(topo.user, c.env, bytes.NewReader(payload), burrowBin, "proxy", targetName, strconv.Itoa(echoPort))
		if r.err != nil {
			t.Fatalf("%v", r)
		}
		if err := sameBytes([]byte(r.stdout), payload); err != nil {
			t.Fatalf("proxy to echo: stdout differs from stdin: %v\nstderr: %s", err, r.stderr)
		}
		// stdin's EOF must reach the target as a half-close.
		want, _, _ := sha256Hex(bytes.NewReader(payload))
		r = run(topo.user, c.env, bytes.NewReader(payload), burrowBin, "proxy", targetName, strconv.Itoa(hashPort))
		if r.err != nil {
			t.Fatalf("%v", r)
		}
		if got := strings.TrimSpace(r.stdout); got != want {
			t.Fatalf("proxy to hash: got %q, want %q\nstderr: %s", got, want, r.stderr)
		}
		r = run(topo.user, c.env, strings.NewReader("x"), burrowBin, "proxy", unknownTarget, strconv.Itoa(echoPort))
		if r.exitCode == 0 || !strings.Contains(r.stderr, unknownTarget) {
			t.Errorf("proxy to an unknown target: want a non-zero exit and an error naming %s, got %v", unknownTarget, r)
		}
	})

	t.Run("1GiB-both-directions", func(t *testing.T) {
		var wg sync.WaitGroup
		var upErr, downErr error
		wg.Go(func() { upErr = upload(c, local(hashPort), bigTransferSize, bigTransferTimeout, t) })
		wg.Go(func() { downErr = download(c, local(sourcePort), bigTransferSize, bigTransferTimeout, t) })
		wg.Wait()
		if upErr != nil {
			t.Errorf("client → target: %v", upErr)
		}
		if downErr != nil {
			t.Errorf("target → client: %v", downErr)
		}
	})

	t.Run("half-close", func(t *testing.T) {
		if err := upload(c, local(hashPort), halfCloseSize, ioTimeout, t); err != nil {
			t.Errorf("%d bytes then CloseWrite: %v", halfCloseSize, err)
		}
		if err := upload(c, local(hashPort), 0, ioTimeout, t); err != nil {
			t.Errorf("CloseWrite at once: %v", err)
		}
		conn, err := c.dialUser(local(echoPort))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := echoHalfClose(conn, randomBytes("half-close-echo", halfCloseEchoSize), ioTimeout); err != nil {
			t.Errorf("echo after CloseWrite: %v", err)
		}
	})

	t.Run("200-parallel", func(t *testing.T) {
		conns := make([]*net.TCPConn, parallelConns)
		errs := make([]error, parallelConns)
		var wg sync.WaitGroup
		for i := range conns {
			wg.Go(func() { conns[i], errs[i] = c.dialUser(local(echoPort)) })
		}
		wg.Wait()
		defer func() {
			for _, conn := range conns {
				if conn != nil {
					conn.Close()
				}
			}
		}()
		start := time.Now()
		for i, conn := range conns {
			if conn == nil {
				continue
			}
			wg.Go(func() {
				errs[i] = echoExact(conn, randomBytes(fmt.Sprintf("parallel-%d", i), parallelPayload), parallelTimeout)
			})
		}
		wg.Wait()
		failed := 0
		for i, err := range errs {
			if err != nil {
				failed++
				if failed <= 5 {
					t.Errorf("connection %d: %v", i, err)
				}
			}
		}
		if failed > 0 {
			t.Fatalf("%d of %d connections failed", failed, parallelConns)
		}
		t.Logf("%d connections × %d KiB echoed in %v", parallelConns, parallelPayload>>10, time.Since(start))
	})

	t.Run("agent-killed-and-restarted", func(t *testing.T) {
		// A connection open when the agent dies must end, not hang.
		established, err := c.dialUser(local(echoPort))
		if err != nil {
			t.Fatal(err)
		}
		defer established.Close()
		if err := echoExact(established, []byte("before the kill\n"), ioTimeout); err != nil {
			t.Fatalf("established connection: %v", err)
		}
		pfErrBefore := pf.stderr.Len()
		killed := time.Now()
		if err := c.agent.stop(t, syscall.SIGKILL); err == nil {
			t.Fatalf("agent exited with status 0 after SIGKILL")
		}
		c.waitOnline(t, false, agentOfflineDeadline-time.Since(killed))
		t.Logf("target offline %v after SIGKILL", time.Since(killed))
		if tg, err := c.target(targetName); err != nil {
			t.Error(err)
		} else if tg.LastSeen.IsZero() || time.Since(tg.LastSeen) > lastSeenMaxAge {
			t.Errorf("offline target's last_seen is %v, want within the last %v", tg.LastSeen, lastSeenMaxAge)
		}

		if err := connectionEnds(established, forwardFailTimeout); err != nil {
			t.Errorf("connection established before the kill: %v", err)
		} else {
			t.Logf("connection established before the kill ended %v after it", time.Since(killed))
		}
		// A new connection through the running forward must fail, not hang.
		if err := forwardFails(c, local(echoPort)); err != nil {
			t.Error(err)
		}
		if err := poll(forwardFailTimeout, func() error {
			if s := pf.stderr.String()[pfErrBefore:]; !strings.Contains(s, targetName) {
				return fmt.Errorf("port-forward's stderr since the kill does not name %s: %q", targetName, s)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		r := run(topo.user, c.env, strings.NewReader("ping\n"), burrowBin, "proxy", targetName, strconv.Itoa(echoPort))
		if r.exitCode == 0 || !strings.Contains(r.stderr, targetName) || !strings.Contains(r.stderr, "last seen") {
			t.Errorf("proxy to the offline target: want a non-zero exit and an error naming %s with \"last seen\", got %v", targetName, r)
		} else {
			t.Logf("proxy to the offline target: exit %d: %s", r.exitCode, strings.TrimSpace(r.stderr))
		}

		restarted := time.Now()
		c.startAgent(t, "") // no token: the credential is in the data dir
		c.waitOnline(t, true, agentOnlineTimeout)
		t.Logf("restarted agent online after %v", time.Since(restarted))
		if err := c.echoVia(topo.user, net.JoinHostPort("127.0.0.1", strconv.Itoa(local(echoPort)))); err != nil {
			t.Fatalf("forward after the agent came back: %v", err)
		}
		payload := []byte("back again\n")
		if r := run(topo.user, c.env, bytes.NewReader(payload), burrowBin, "proxy", targetName, strconv.Itoa(echoPort)); r.err != nil || r.stdout != string(payload) {
			t.Fatalf("proxy after the agent came back: want %q on stdout, got %v", payload, r)
		}
	})

	t.Run("controller-restarted", func(t *testing.T) {
		oldFingerprint, oldToken := c.fingerprint, c.adminToken
		if err := c.controller.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("controller after SIGTERM: %v (want exit status 0)", err)
		}
		stopped := time.Now()
		c.startController(t)
		if c.fingerprint != oldFingerprint {
			t.Errorf("fingerprint changed across restart: %s, was %s", c.fingerprint, oldFingerprint)
		}
		if c.adminToken != oldToken {
			t.Errorf("admin token changed across restart")
		}
		// The agent reconnects by itself; a new forward proves it.
		eventually(t, agentReconnectTimeout, "proxy through the restarted controller", func() error {
			payload := []byte("after controller restart\n")
			r := run(topo.user, c.env, bytes.NewReader(payload), burrowBin, "proxy", targetName, strconv.Itoa(echoPort))
			if r.err != nil {
				return fmt.Errorf("%v", r)
			}
			if r.stdout != string(payload) {
				return fmt.Errorf("stdout %q, want %q", r.stdout, payload)
			}
			return nil
		})
		t.Logf("agent reachable %v after the controller stopped", time.Since(stopped))
		c.waitOnline(t, true, agentOnlineTimeout)
		pf2 := c.startPortForward(t, "port-forward-after-restart", fmt.Sprintf("0:%d", echoPort))
		defer pf2.kill()
		if err := c.echoVia(topo.user, net.JoinHostPort("127.0.0.1", strconv.Itoa(pf2.ports[0]))); err != nil {
			t.Fatalf("new port-forward after the controller restart: %v", err)
		}
		// The forward started before the restart: report, do not require.
		if err := c.echoVia(topo.user, net.JoinHostPort("127.0.0.1", strconv.Itoa(local(echoPort)))); err != nil {
			t.Logf("port-forward started before the restart no longer works (running=%v): %v", pf.running(), err)
		} else {
			t.Logf("port-forward started before the restart still works")
		}
	})

	t.Run("tokens", func(t *testing.T) {
		r := c.mustBurrow(t, "token", "create", "--name", memberTokenName, "--role", "member")
		secret := strings.TrimSpace(r.stdout)
		if secret == "" || strings.Contains(secret, "\n") {
			t.Fatalf("token create: want the secret as one line on stdout: %v", r)
		}
		memberEnv := append(c.adminEnv(), "BURROW_TOKEN="+secret) // later entries win
		if r := run(topo.user, memberEnv, nil, burrowBin, "targets", "-o", "json"); r.err != nil {
			t.Errorf("member lists targets: %v", r)
		}
		r = c.burrow("token", "revoke", bogusTokenID)
		if r.exitCode != 1 || strings.TrimSpace(r.stderr) == "" || strings.TrimSpace(r.stdout) != "" {
			t.Errorf("token revoke of an unknown ID: want exit status 1, an error on stderr and nothing on stdout, got exit %d: %v", r.exitCode, r)
		}
		id := tokenID(t, c, memberTokenName)
		c.mustBurrow(t, "token", "revoke", id)
		r = run(topo.user, memberEnv, nil, burrowBin, "targets", "-o", "json")
		if r.exitCode != 1 || strings.TrimSpace(r.stderr) == "" {
			t.Errorf("revoked member token: want exit status 1 and an error on stderr, got exit %d: %v", r.exitCode, r)
		}
	})

	t.Run("agent-allow-ports", func(t *testing.T) {
		if err := c.agent.stop(t, syscall.SIGTERM); err != nil {
			t.Logf("agent after SIGTERM: %v", err)
		}
		c.waitOnline(t, false, agentOfflineDeadline)
		allowed := fmt.Sprintf("%d,%d", echoPort, hashPort)
		c.startAgent(t, "", "--allow-ports", allowed)
		c.waitOnline(t, true, agentOnlineTimeout)
		payload := []byte("allowed\n")
		if r := run(topo.user, c.env, bytes.NewReader(payload), burrowBin, "proxy", targetName, strconv.Itoa(echoPort)); r.err != nil || r.stdout != string(payload) {
			t.Errorf("proxy to allowed port %d: want %q on stdout, got %v", echoPort, payload, r)
		}
		r := run(topo.user, c.env, strings.NewReader("1\n"), burrowBin, "proxy", targetName, strconv.Itoa(sourcePort))
		if r.exitCode == 0 || r.stdout != "" || !strings.Contains(r.stderr, strconv.Itoa(sourcePort)) {
			t.Errorf("proxy to port %d, not in --allow-ports %s: want a non-zero exit, no output and an error naming the port, got exit %d: %v", sourcePort, allowed, r.exitCode, r)
		} else {
			t.Logf("proxy to a port the agent does not allow: exit %d: %s", r.exitCode, strings.TrimSpace(r.stderr))
		}
	})
}

// TestTopology checks the harness alone: namespaces, links, routing and
// targetsrv, without burrow.
func TestTopology(t *testing.T) {
	requireEnv(t)
	topo := newTopology(t)
	c := newCluster(t, topo)
	c.startTargetsrv(t)
	checkIsolation(t, c)
	// targetsrv's modes, straight from priv's loopback.
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	for _, mode := range []struct {
		name string
		fn   func(*net.TCPConn) error
	}{
		{"hash", func(conn *net.TCPConn) error { return uploadConn(conn, topologyCheckSize, ioTimeout) }},
		{"source", func(conn *net.TCPConn) error { return downloadConn(conn, topologyCheckSize, ioTimeout) }},
		{"echo", func(conn *net.TCPConn) error {
			return echoHalfClose(conn, randomBytes("topology", topologyCheckSize), ioTimeout)
		}},
	} {
		port := map[string]int{"hash": hashPort, "source": sourcePort, "echo": echoPort}[mode.name]
		conn, err := topo.priv.dial(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		if err := mode.fn(conn); err != nil {
			t.Errorf("targetsrv %s: %v", mode.name, err)
		}
		conn.Close()
	}
}

// checkIsolation asserts that ctl reaches priv's service directly but
// user does not: the only way from user to priv is burrow.
func checkIsolation(t *testing.T, c *cluster) {
	t.Helper()
	target := net.JoinHostPort(privAddr, strconv.Itoa(echoPort))
	if err := c.echoVia(c.topo.ctl, target); err != nil {
		t.Fatalf("ctl cannot reach %s directly, so the check below proves nothing: %v", target, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), isolationDialTimeout)
	defer cancel()
	conn, err := c.topo.user.dial(ctx, target)
	if err == nil {
		conn.Close()
		t.Fatalf("user reached %s without burrow; ctl must not route", target)
	}
	t.Logf("user → %s fails as it must: %v", target, err)
}

// upload sends n bytes through the forward on port to the hash service
// and logs the throughput of big transfers.
func upload(c *cluster, port int, n int64, timeout time.Duration, t *testing.T) error {
	conn, err := c.dialUser(port)
	if err != nil {
		return err
	}
	defer conn.Close()
	start := time.Now()
	if err := uploadConn(conn, n, timeout); err != nil {
		return err
	}
	logThroughput(t, "client → target", n, time.Since(start))
	return nil
}

// download is upload's counterpart with the source service.
func download(c *cluster, port int, n int64, timeout time.Duration, t *testing.T) error {
	conn, err := c.dialUser(port)
	if err != nil {
		return err
	}
	defer conn.Close()
	start := time.Now()
	if err := downloadConn(conn, n, timeout); err != nil {
		return err
	}
	logThroughput(t, "target → client", n, time.Since(start))
	return nil
}

func logThroughput(t *testing.T, what string, n int64, d time.Duration) {
	if n >= 1<<20 {
		t.Logf("%s: %d MiB in %v (%.0f MiB/s)", what, n>>20, d.Round(time.Millisecond), float64(n)/(1<<20)/d.Seconds())
	}
}

// uploadConn sends n bytes to a hash service, half-closes, and checks the
// SHA-256 it answers.
func uploadConn(conn *net.TCPConn, n int64, timeout time.Duration) error {
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	h := newHashWriter()
	sent, err := io.CopyBuffer(conn, io.TeeReader(stream(fmt.Sprintf("upload-%d", n), n), h), make([]byte, 256<<10))
	if err != nil {
		return fmt.Errorf("write after %d of %d bytes: %w", sent, n, err)
	}
	if err := conn.CloseWrite(); err != nil {
		return fmt.Errorf("CloseWrite: %w", err)
	}
	reply, err := io.ReadAll(conn)
	if err != nil {
		return fmt.Errorf("read reply after CloseWrite (got %q): %w", reply, err)
	}
	if got, want := strings.TrimSpace(string(reply)), h.hex(); got != want {
		return fmt.Errorf("target hashed %q, sent %s", got, want)
	}
	return nil
}

// downloadConn asks a source service for n bytes and checks their SHA-256
// against the same stream generated here.
func downloadConn(conn *net.TCPConn, n int64, timeout time.Duration) error {
	wantc := make(chan string, 1)
	go func() {
		h, _, _ := sha256Hex(stream(sourceSeed, n))
		wantc <- h
	}()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(conn, "%d\n", n); err != nil {
		return err
	}
	got, m, err := sha256Hex(conn)
	if err != nil {
		return fmt.Errorf("read after %d of %d bytes: %w", m, n, err)
	}
	if m != n {
		return fmt.Errorf("got %d bytes, want %d", m, n)
	}
	if want := <-wantc; got != want {
		return fmt.Errorf("received stream hashes to %s, want %s", got, want)
	}
	return nil
}

// tokenID finds the ID of the API token named name in `burrow token list`.
func tokenID(t *testing.T, c *cluster, name string) string {
	t.Helper()
	r := c.mustBurrow(t, "token", "list")
	for _, line := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[1] == name {
			return f[0]
		}
	}
	t.Fatalf("no token named %s in `burrow token list`:\n%s", name, r.stdout)
	return ""
}

// connectionEnds checks that the peer closes or resets conn within
// timeout, without sending anything more.
func connectionEnds(conn net.Conn, timeout time.Duration) error {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	got, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return fmt.Errorf("still open %v later", timeout)
	}
	if len(got) > 0 {
		return fmt.Errorf("received %q", got)
	}
	return nil
}

// forwardFails checks that a connection through a forward to an offline
// target ends without echoing anything.
func forwardFails(c *cluster, port int) error {
	conn, err := c.dialUser(port)
	if err != nil {
		return nil // refusing the connection is failing too
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(forwardFailTimeout)); err != nil {
		return err
	}
	_, _ = conn.Write([]byte("ping\n"))
	got, err := io.ReadAll(conn)
	if len(got) > 0 {
		return fmt.Errorf("forward to the offline target echoed %q", got)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return fmt.Errorf("forward to the offline target neither failed nor answered within %v", forwardFailTimeout)
	}
	return nil
}
