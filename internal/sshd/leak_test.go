package sshd

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/ssh"
)

// TestManySessions runs 200 sessions of every kind, on 50 connections
// served two at a time: afterwards the process has the goroutines and
// file descriptors it had before.
func TestManySessions(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	echo := echoServer(t)
	env := func() *testEnv {
		return newEnv(t, func(o *Options) {
			o.DialTCP = func(ctx context.Context, host string, port int) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", echo.Addr().String())
			}
		})
	}
	var n atomic.Int32
	once := func(e *testEnv) {
		client, _, err := e.connect(t, e.login, e.certFor(t, e.ca, nil))
		if err != nil {
			t.Error(err)
			return
		}
		defer client.Close()
		manySessions(t, client, n.Add(1)%2 == 0)
	}
	// Warm up what the runtime keeps (the poller, the signal loop), on a
	// server of its own closed before counting.
	e := env()
	needShell(t, e)
	once(e)
	e.srv.Close()
	ignore := goleak.IgnoreCurrent()
	fds := openFDs(t)

	e = env()
	var wg sync.WaitGroup
	work := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for range work {
				once(e)
			}
		})
	}
	for range 50 {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	e.srv.Close() // waits for every ServeConn

	if err := goleak.Find(ignore); err != nil {
		t.Error(err)
	}
	if got := openFDs(t); got != fds {
		t.Errorf("%d file descriptors open after 200 sessions, %d before", got, fds)
	}
}

// manySessions runs four sessions on c: a command (on a terminal if
// pty), sftp, a local forward, and one closed before it ran anything.
func manySessions(t *testing.T, c *ssh.Client, pty bool) {
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	quiet(t, s)
	if pty {
		if err := s.RequestPty("xterm", 24, 80, nil); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := s.Output("echo $$"); err != nil || len(out) < 2 {
		t.Errorf("echo $$: %q, %v", out, err)
	}
	s.Close()
	if r := runRequest(t, c, "subsystem", "sftp"); r.exit != "status 0" {
		t.Errorf("sftp: %s %q", r.exit, r.stderr)
	}
	conn, err := c.Dial("tcp", "localhost:80")
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, conn, []byte("hello")); string(got) != "hello" {
		t.Errorf("forward echoed %q", got)
	}
	conn.Close()
	if s, err = c.NewSession(); err != nil {
		t.Fatal(err)
	}
	s.Setenv("LANG", "C")
	s.Close()
}

func openFDs(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// TestClose checks Close ends served connections and later ones, and
// waits for them.
func TestClose(t *testing.T) {
	e := newEnv(t, nil)
	needShell(t, e)
	c := e.dial(t)
	s := newSession(t, c)
	stdout, _ := s.StdoutPipe()
	if err := s.Start("echo ready; exec sleep 100"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, stdout, "ready\n")
	closed := make(chan struct{})
	go func() { e.srv.Close(); close(closed) }()
	if err := waitFor(t, "session", s.Wait); err == nil {
		t.Error("the session ended well when the server closed")
	}
	waitFor(t, "Close", func() error { <-closed; return nil })
	e.srv.Close() // again: no effect

	// A connection served after Close is closed at once.
	cc, sc := tcpPair(t)
	defer cc.Close()
	waitFor(t, "ServeConn after Close", func() error { e.srv.ServeConn(context.Background(), sc); return nil })
	cc.SetReadDeadline(time.Now().Add(waitLong))
	if n, err := cc.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("after Close, a new connection read %d bytes, %v", n, err)
	}
}

// TestCloseDuringHandshake closes the server while a client has connected
// but not yet authenticated: the connection ends.
func TestCloseDuringHandshake(t *testing.T) {
	e := newEnv(t, nil)
	cc, sc := tcpPair(t)
	defer cc.Close()
	served := make(chan struct{})
	go func() { e.srv.ServeConn(context.Background(), sc); close(served) }()
	// The server's version line shows ServeConn has started.
	readUntil(t, cc, ServerVersion+"\r\n")
	e.srv.Close()
	waitFor(t, "ServeConn", func() error { <-served; return nil })
}

func TestHandshakeTimeout(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.HandshakeTimeout = time.Millisecond })
	cc, sc := tcpPair(t)
	defer cc.Close()
	waitFor(t, "ServeConn of a silent client", func() error {
		e.srv.ServeConn(context.Background(), sc)
		return nil
	})
}

// TestContextEnds cancels the context of a served connection.
func TestContextEnds(t *testing.T) {
	e := newEnv(t, nil)
	cc, sc := tcpPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { e.srv.ServeConn(ctx, sc); close(served) }()
	conn, chans, reqs, err := ssh.NewClientConn(cc, "web-1", &ssh.ClientConfig{
		User:            e.login,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(e.certFor(t, e.ca, nil))},
		HostKeyCallback: ssh.FixedHostKey(e.hostKey.PublicKey()),
	})
	if err != nil {
		t.Fatal(err)
	}
	client := ssh.NewClient(conn, chans, reqs)
	defer client.Close()
	cancel()
	waitFor(t, "ServeConn after cancel", func() error { <-served; return nil })
	waitFor(t, "client sees the end", client.Wait)
}
