//go:build e2e && linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	loadDuration     = 10 * time.Second
	loadSSHWorkers   = 4
	loadHTTPWorkers  = 2
	muxHandshake     = 10 * time.Second // controller.HandshakeTimeout: sniffing and TLS
	gatewayHandshake = 30 * time.Second // gateway.LoginGraceTime: SSH handshake and login
	closeMargin      = 3 * time.Second  // scheduling slack on top of a server timeout
	slowClients      = 8                // of each slow kind
)

// slowKind is a client that never completes a handshake on the main port.
type slowKind struct {
	name    string
	drip    []byte        // sent one byte a second; nil: silent
	minLife time.Duration // it must not be dropped before (0: no lower bound)
	maxLife time.Duration // it must be dropped by then
}

var slowKinds = []slowKind{
	{name: "silent", minLife: muxHandshake - closeMargin, maxLife: muxHandshake + closeMargin},
	// A TLS record header, then a ClientHello that never ends.
	{name: "tls-drip", drip: append([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, make([]byte, 64)...),
		minLife: muxHandshake - closeMargin, maxLife: muxHandshake + closeMargin},
	// Four bytes that are neither TLS nor SSH: closed once they are in.
	{name: "junk-drip", drip: []byte("SSH_junk-at-one-byte-a-second"), maxLife: 4*time.Second + closeMargin},
	// An SSH version line that never ends: once its first four bytes are
	// in, the gateway's own login timeout applies.
	{name: "ssh-drip", drip: []byte("SSH-2.0-slowloris-" + strings.Repeat("x", 64)),
		minLife: gatewayHandshake, maxLife: 4*time.Second + gatewayHandshake + closeMargin},
}

// loadCounts counts what each kind of client got done.
type loadCounts struct{ ssh, https, forward, junk atomic.Int64 }

// testOnePortLoad puts SSH (ssh -J), HTTPS (the API) and gRPC (the
// agent, and port-forwards over both transports) on the main port at
// once for loadDuration, next to junk and slow clients, which must be
// dropped within the handshake timeouts without failing the others.
func (s *gatewaySuite) testOnePortLoad(t *testing.T) {
	c := s.c
	c.startTargetsrv(t)
	var ports []int
	for _, transport := range []string{"upgrade", "gateway"} {
		ports = append(ports, s.startForward(t, transport))
	}

	lives := make([][]time.Duration, len(slowKinds))
	slowErrs := make([][]error, len(slowKinds))
	var slowWG sync.WaitGroup
	for j, k := range slowKinds {
		lives[j], slowErrs[j] = make([]time.Duration, slowClients), make([]error, slowClients)
		for i := range slowClients {
			slowWG.Add(1)
			go func() { defer slowWG.Done(); lives[j][i], slowErrs[j][i] = c.slowClient(k, i) }()
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), loadDuration)
	defer cancel()
	var n loadCounts
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	worker := func(what string, count *atomic.Int64, once func(i int) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if err := once(i); err != nil {
					if ctx.Err() == nil || !errors.Is(err, context.DeadlineExceeded) {
						errs <- fmt.Errorf("%s #%d: %w", what, i, err)
					}
					return
				}
				count.Add(1)
			}
		}()
	}
	for w := range loadSSHWorkers {
		worker(fmt.Sprintf("ssh worker %d", w), &n.ssh, func(i int) error { return s.loadSSH(w, i) })
	}
	for w := range loadHTTPWorkers {
		worker(fmt.Sprintf("https worker %d", w), &n.https, func(int) error { return c.loadHTTPS(ctx) })
	}
	for w, port := range ports {
		worker(fmt.Sprintf("forward worker %d", w), &n.forward, func(i int) error { return c.loadForward(port, i) })
	}
	worker("junk", &n.junk, func(i int) error { return c.junkClient(i) })
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("in %v on port %s: %d ssh -J sessions, %d HTTPS API calls, %d forwarded echoes (2 transports), %d junk connections closed",
		loadDuration, controllerPort, n.ssh.Load(), n.https.Load(), n.forward.Load(), n.junk.Load())
	for what, v := range map[string]int64{"ssh": n.ssh.Load(), "https": n.https.Load(), "forward": n.forward.Load(), "junk": n.junk.Load()} {
		if v == 0 {
			t.Errorf("no %s client got anything done under load", what)
		}
	}

	slowWG.Wait()
	for j, k := range slowKinds {
		t.Logf("%d %s clients dropped after %v", slowClients, k.name, lives[j])
		for _, err := range slowErrs[j] {
			if err != nil {
				t.Error(err)
			}
		}
	}
	if tg, err := c.target(targetName); err != nil || !tg.Online {
		t.Errorf("the agent's gRPC connection on the same port did not survive: %+v %v", tg, err)
	}
}

// startForward runs `burrow port-forward priv 0:echoPort --transport T`
// and returns its local port.
func (s *gatewaySuite) startForward(t *testing.T, transport string) int {
	t.Helper()
	name := "port-forward-" + transport
	p := s.c.procs.start(t, s.c.topo.user, name, nil, burrowBin, "port-forward", targetName,
		fmt.Sprintf("0:%d", echoPort), "--address", "127.0.0.1", "--transport", transport)
	var port int
	eventually(t, forwardReadyTimeout, name+" prints its listener", func() error {
		if !p.running() {
			t.Fatalf("%s exited: %v\n%s", name, p.exitErr(), p.output())
		}
		m := forwardRE.FindStringSubmatch(p.output())
		if m == nil {
			return fmt.Errorf("no 127.0.0.1:PORT in %q", p.output())
		}
		port, _ = strconv.Atoi(m[1])
		return nil
	})
	return port
}

func (s *gatewaySuite) loadSSH(w, i int) error {
	jump := "jump@" + net.JoinHostPort(ctlUserAddr, controllerPort)
	want := fmt.Sprintf("load-%d-%d", w, i)
	r := s.ssh(s.config, "-J", jump, "root@"+targetName, "echo "+want)
	if r.err != nil || strings.TrimSpace(r.stdout) != want {
		return fmt.Errorf("want %q: %v", want, r)
	}
	return nil
}

func (c *cluster) loadHTTPS(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.userURL()+"/v1/targets", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.adminToken)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), targetName) {
		return fmt.Errorf("GET /v1/targets: %s: %.200s", resp.Status, b)
	}
	return nil
}

func (c *cluster) loadForward(port, i int) error {
	conn, err := c.dialUser(port)
	if err != nil {
		return err
	}
	defer conn.Close()
	return echoExact(conn, randomBytes(fmt.Sprintf("load-%d-%d", port, i), 16<<10), ioTimeout)
}

// junkClient sends random bytes that are neither TLS nor SSH to the main
// port and wants the connection closed at once.
func (c *cluster) junkClient(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	conn, err := c.topo.user.dial(ctx, net.JoinHostPort(ctlUserAddr, controllerPort))
	if err != nil {
		return err
	}
	defer conn.Close()
	junk := randomBytes(fmt.Sprintf("junk-%d", i), 256)
	junk[0] = 'x' // neither 0x16 (TLS) nor 'S' (SSH-)
	start := time.Now()
	if _, err := conn.Write(junk); err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(closeMargin))
	if n, err := io.Copy(io.Discard, conn); err != nil || n != 0 {
		return fmt.Errorf("want closed without an answer within %v, got %d bytes, %v after %v", closeMargin, n, err, time.Since(start))
	}
	return nil
}

// slowClient connects to the main port as kind k and checks it is
// dropped within the kind's bounds.
func (c *cluster) slowClient(k slowKind, i int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	conn, err := c.topo.user.dial(ctx, net.JoinHostPort(ctlUserAddr, controllerPort))
	if err != nil {
		return 0, fmt.Errorf("%s client %d: %w", k.name, i, err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		conn.SetReadDeadline(start.Add(k.maxLife + closeMargin))
		io.Copy(io.Discard, conn) // until the server closes, or the deadline
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
drip:
	for _, b := range k.drip {
		select {
		case <-closed:
			break drip
		case <-tick.C:
			conn.Write([]byte{b}) // fails once the server closed; the reader sees it
		}
	}
	<-closed
	life := time.Since(start).Round(time.Millisecond)
	switch {
	case life > k.maxLife:
		return life, fmt.Errorf("%s client %d: held for %v, want dropped within %v", k.name, i, life, k.maxLife)
	case life < k.minLife:
		return life, fmt.Errorf("%s client %d: dropped after %v, before the handshake timeout (%v)", k.name, i, life, k.minLife)
	}
	return life, nil
}
