package sshd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// echoServer listens on loopback and, for each connection, reads until
// EOF, then writes everything back and closes: it answers only once the
// client half-closed.
func echoServer(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write(b)
			}()
		}
	}()
	return ln
}

// roundTrip writes msg to c, half-closes it, and reads the answer to EOF.
func roundTrip(tb testing.TB, c net.Conn, msg []byte) []byte {
	tb.Helper()
	var got []byte
	err := waitFor(tb, "echo", func() error {
		errc := make(chan error, 1)
		go func() {
			_, err := c.Write(msg)
			if err == nil {
				err = c.(interface{ CloseWrite() error }).CloseWrite()
			}
			errc <- err
		}()
		var err error
		got, err = io.ReadAll(c)
		return errors.Join(err, <-errc)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

func TestDirectTCPIP(t *testing.T) {
	echo := echoServer(t)
	var mu sync.Mutex
	var asked []string
	e := newEnv(t, func(o *Options) {
		o.DialTCP = func(ctx context.Context, host string, port int) (net.Conn, error) {
			mu.Lock()
			asked = append(asked, net.JoinHostPort(host, strconv.Itoa(port)))
			mu.Unlock()
			if host != "db.internal" {
				return nil, errors.New(host + " is not one of the targets of agent web-1")
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", echo.Addr().String())
		}
	})
	c := e.dial(t)

	t.Run("half-close", func(t *testing.T) {
		conn, err := c.Dial("tcp", "db.internal:5432")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		msg := make([]byte, 1<<20)
		rand.Read(msg)
		if got := roundTrip(t, conn, msg); !bytes.Equal(got, msg) {
			t.Errorf("echo returned %d bytes, not the %d sent", len(got), len(msg))
		}
		mu.Lock()
		defer mu.Unlock()
		if len(asked) == 0 || asked[0] != "db.internal:5432" {
			t.Errorf("DialTCP asked for %q", asked)
		}
	})
	t.Run("refused by policy", func(t *testing.T) {
		_, err := c.Dial("tcp", "10.0.0.1:22")
		var oe *ssh.OpenChannelError
		if !errors.As(err, &oe) || oe.Reason != ssh.ConnectionFailed ||
			oe.Message != "burrow: 10.0.0.1 is not one of the targets of agent web-1" {
			t.Errorf("dial refused with %v", err)
		}
	})
	t.Run("port 0", func(t *testing.T) {
		if _, err := c.Dial("tcp", "db.internal:0"); err == nil || !strings.Contains(err.Error(), "bad port") {
			t.Errorf("dial port 0: %v", err)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		_, _, err := c.OpenChannel("direct-tcpip", []byte("\x00\x00\x00\x09short"))
		if err == nil || !strings.Contains(err.Error(), "malformed direct-tcpip") {
			t.Errorf("malformed direct-tcpip: %v", err)
		}
	})
	t.Run("unknown channel", func(t *testing.T) {
		_, _, err := c.OpenChannel("x11", nil)
		var oe *ssh.OpenChannelError
		if !errors.As(err, &oe) || oe.Reason != ssh.UnknownChannelType {
			t.Errorf("x11 channel: %v", err)
		}
	})
}

// TestDirectTCPIPPeerCloses closes the channel while the far end keeps
// its side open, as many servers do after a client's EOF: the agent's
// connection to it is closed, not left open for ever.
func TestDirectTCPIPPeerCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed := make(chan struct{})
	e := newEnv(t, func(o *Options) {
		o.DialTCP = func(ctx context.Context, host string, port int) (net.Conn, error) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return nil, err
			}
			return &closeWatch{TCPConn: c.(*net.TCPConn), closed: closed}, nil
		}
	})
	c := e.dial(t)
	conn, err := c.Dial("tcp", "localhost:80")
	if err != nil {
		t.Fatal(err)
	}
	far, err := ln.Accept() // says nothing, and never closes until the end
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	go conn.Write([]byte("hello"))
	got := make([]byte, 5)
	if _, err := io.ReadFull(far, got); err != nil || string(got) != "hello" {
		t.Fatalf("far end read %q, %v", got, err)
	}
	conn.Close() // a full close, not a half-close
	waitFor(t, "the agent's connection closed", func() error { <-closed; return nil })
}

type closeWatch struct {
	*net.TCPConn
	once   sync.Once
	closed chan struct{}
}

func (c *closeWatch) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.TCPConn.Close()
}

func TestDirectTCPIPOff(t *testing.T) {
	e := newEnv(t, nil) // no DialTCP
	c := e.dial(t)
	if _, err := c.Dial("tcp", "localhost:80"); err == nil || !strings.Contains(err.Error(), "port forwarding is off") {
		t.Errorf("dial without DialTCP: %v", err)
	}
	key := e.certFor(t, e.ca, func(c *ssh.Certificate) { delete(c.Extensions, "permit-port-forwarding") })
	c, _, err := e.connect(t, e.login, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dial("tcp", "localhost:80"); err == nil || !strings.Contains(err.Error(), "does not permit port forwarding") {
		t.Errorf("dial without permit-port-forwarding: %v", err)
	}
	if _, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		t.Error("remote forward without permit-port-forwarding accepted")
	}
}

func TestTCPIPForward(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(t)
	ln, err := c.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if port == 0 {
		t.Fatal("no port allocated")
	}
	// The client's end: an echo on the forwarded connections.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			fc, err := ln.Accept()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(fc)
			fc.Write(b)
			fc.Close()
		}
	}()
	for i := range 3 {
		conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte(strings.Repeat("ping ", 1000*(i+1)))
		if got := roundTrip(t, conn, msg); !bytes.Equal(got, msg) {
			t.Errorf("forwarded echo returned %d bytes, not %d", len(got), len(msg))
		}
		conn.Close()
	}
	// A second forward of the same port is refused; cancelling works once.
	if _, err := c.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
		t.Error("a second forward of the same port was accepted")
	}
	if err := ln.Close(); err != nil {
		t.Errorf("cancel-tcpip-forward: %v", err)
	}
	wg.Wait()
	m := ssh.Marshal(tcpipForwardMsg{Addr: "127.0.0.1", Port: uint32(port)})
	if ok, _, err := c.SendRequest("cancel-tcpip-forward", true, m); ok || err != nil {
		t.Errorf("second cancel: %v, %v; want refused", ok, err)
	}
	for _, bad := range [][]byte{nil, []byte("junk"), ssh.Marshal(tcpipForwardMsg{Addr: "127.0.0.1", Port: 70000})} {
		if ok, _, err := c.SendRequest("tcpip-forward", true, bad); ok || err != nil {
			t.Errorf("tcpip-forward %q: %v, %v; want refused", bad, ok, err)
		}
	}
}

func TestKeepalive(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(t)
	for _, name := range []string{"keepalive@openssh.com", "no-more-sessions@openssh.com"} {
		if ok, _, err := c.SendRequest(name, true, nil); !ok || err != nil {
			t.Errorf("global %s: %v, %v; want true", name, ok, err)
		}
	}
	if ok, _, err := c.SendRequest("x-unknown@example.com", true, nil); ok || err != nil {
		t.Errorf("unknown global request: %v, %v; want false", ok, err)
	}
	s := newSession(t, c)
	if ok, err := s.SendRequest("keepalive@openssh.com", true, nil); !ok || err != nil {
		t.Errorf("session keepalive: %v, %v; want true", ok, err)
	}
}

func TestAgentForwarding(t *testing.T) {
	e := newEnv(t, nil)
	needShell(t, e)
	c := e.dial(t)
	keyring := agent.NewKeyring()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv, Comment: "burrow-test-key"}); err != nil {
		t.Fatal(err)
	}
	if err := agent.ForwardToAgent(c, keyring); err != nil {
		t.Fatal(err)
	}
	keys, _ := keyring.List()
	fingerprint := ssh.FingerprintSHA256(keys[0])

	var sockPath string
	t.Run("socket", func(t *testing.T) {
		s := newSession(t, c)
		if err := agent.RequestAgentForwarding(s); err != nil {
			t.Fatal(err)
		}
		stdin, _ := s.StdinPipe()
		stdout, _ := s.StdoutPipe()
		if err := s.Start(`echo "$SSH_AUTH_SOCK"; cat >/dev/null`); err != nil {
			t.Fatal(err)
		}
		path := strings.TrimSpace(readUntil(t, stdout, "\n"))
		sockPath = path
		// The test runs as the session's user: it may use the socket.
		conn, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := agent.NewClient(conn).List()
		conn.Close()
		if err != nil || len(got) != 1 || ssh.FingerprintSHA256(got[0]) != fingerprint || got[0].Comment != "burrow-test-key" {
			t.Errorf("agent keys through %s: %v, %v", path, got, err)
		}
		stdin.Close()
		if err := waitFor(t, "session", s.Wait); err != nil {
			t.Error(err)
		}
		s.Close()
	})
	t.Run("ssh-add", func(t *testing.T) {
		if _, err := exec.LookPath("ssh-add"); err != nil {
			t.Skip("no ssh-add")
		}
		s := newSession(t, c)
		if err := agent.RequestAgentForwarding(s); err != nil {
			t.Fatal(err)
		}
		out, err := s.CombinedOutput("ssh-add -l")
		if err != nil || !strings.Contains(string(out), fingerprint) || !strings.Contains(string(out), "burrow-test-key") {
			t.Errorf("ssh-add -l: %q, %v; want %s", out, err, fingerprint)
		}
	})
	t.Run("not permitted", func(t *testing.T) {
		key := e.certFor(t, e.ca, func(c *ssh.Certificate) { delete(c.Extensions, "permit-agent-forwarding") })
		c, _, err := e.connect(t, e.login, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := agent.RequestAgentForwarding(newSession(t, c)); err == nil {
			t.Error("agent forwarding granted without permit-agent-forwarding")
		}
	})
	e.srv.Close() // waits for the sessions' cleanup
	if sockPath == "" {
		return
	}
	if _, err := os.Stat(filepath.Dir(sockPath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("agent socket directory %s left behind: %v", filepath.Dir(sockPath), err)
	}
}
