// Package burrowtest runs a whole burrow — controller, agents, clients — in
// one process on 127.0.0.1:0 for tests. Readiness is awaited on signals
// (the agent's Welcome), never with sleeps.
package burrowtest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/agent"
	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/client"
	"github.com/burrow-dev/burrow/internal/controller"
	"github.com/burrow-dev/burrow/internal/tlsutil"
	"github.com/burrow-dev/burrow/internal/tunnel/tunnelpb"
)

// Test timeouts; every wait in the tests uses one of these.
const (
	WaitShort = 10 * time.Second
	WaitLong  = 60 * time.Second
)

// System is a controller with its data directory and an admin token.
type System struct {
	t          testing.TB
	DataDir    string
	Addr       string // host:port, stable across RestartController
	AdminToken string
	Log        *slog.Logger
	// Adjust, when set, changes the controller's options at each start.
	Adjust func(*controller.Options)

	mu     sync.Mutex
	ctl    *controller.Controller
	cancel context.CancelFunc
	done   chan error
}

// Logger for tests: quiet unless BURROW_TEST_LOG=1.
func Logger() *slog.Logger {
	if os.Getenv("BURROW_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Start runs a controller on 127.0.0.1:0; it stops at test cleanup.
func Start(t testing.TB) *System { return StartWith(t, nil) }

// StartWith is Start with adjust changing the controller's options (at
// every start, restarts included).
func StartWith(t testing.TB, adjust func(*controller.Options)) *System {
	t.Helper()
	s := &System{t: t, DataDir: t.TempDir(), Addr: "127.0.0.1:0", Log: Logger(), Adjust: adjust}
	s.startController()
	tok, err := s.Controller().CreateToken(context.Background(), apitype.CreateTokenRequest{
		Name: "admin", Role: apitype.RoleAdmin, Logins: AdminLogins(),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.AdminToken = tok
	t.Cleanup(s.StopController)
	return s
}

// AdminLogins are the SSH logins of AdminToken: the user running the tests
// (when its name is a valid login) and root, as with `burrow dev`.
func AdminLogins() []string {
	if u := auth.LocalLogin(); u != "" && u != "root" {
		return []string{u, "root"}
	}
	return []string{"root"}
}

func (s *System) startController() {
	o := controller.Options{
		Listen: s.Addr, DataDir: s.DataDir, Logger: s.Log, DrainTimeout: time.Second, PingInterval: 2 * time.Second,
	}
	if s.Adjust != nil {
		s.Adjust(&o)
	}
	c, err := controller.New(o)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	s.mu.Lock()
	s.ctl, s.cancel, s.done, s.Addr = c, cancel, done, c.Addr().String()
	s.mu.Unlock()
}

// Controller is the running controller.
func (s *System) Controller() *controller.Controller {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctl
}

// StopController shuts the controller down and waits for it.
func (s *System) StopController() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel = nil
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// RestartController stops the controller and starts a new one on the same
// address and data directory.
func (s *System) RestartController() {
	s.StopController()
	s.startController()
}

// URL of the controller.
func (s *System) URL() string { return "https://" + s.Addr }

// Client returns an API client using token.
func (s *System) Client(token string) *client.Client {
	c, err := client.New(client.Config{URL: s.URL(), Token: token, TLS: tlsutil.ClientOptions{Fingerprint: s.Controller().Fingerprint()}})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// Agent is an agent run by the test.
type Agent struct {
	Opts    agent.Options
	Agent   *agent.Agent
	welcome chan *tunnelpb.Welcome
	cancel  context.CancelFunc
	done    chan struct{} // closed when Run returned; Err is then set
	Err     error
}

// StartAgent joins and runs an agent named name and waits until the
// controller welcomed it. extra may adjust the options.
func (s *System) StartAgent(name string, extra func(*agent.Options)) *Agent {
	s.t.Helper()
	join, err := s.Controller().CreateJoinToken(context.Background(), time.Hour, 1)
	if err != nil {
		s.t.Fatal(err)
	}
	o := agent.Options{
		URL: s.URL(), Token: join, DataDir: filepath.Join(s.t.TempDir(), name), Name: name, Logger: s.Log,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, IdleTimeout: 10 * time.Second,
	}
	if extra != nil {
		extra(&o)
	}
	a := &Agent{Opts: o}
	a.Run(s.t)
	s.t.Cleanup(a.Stop)
	a.WaitWelcome(s.t)
	return a
}

// Run (re)starts the agent with its options; a restarted agent reuses the
// credential saved in its data directory.
func (a *Agent) Run(t testing.TB) {
	t.Helper()
	a.welcome = make(chan *tunnelpb.Welcome, 16)
	o := a.Opts
	o.OnWelcome = func(w *tunnelpb.Welcome) {
		select {
		case a.welcome <- w:
		default:
		}
	}
	ag, err := agent.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.Agent, a.cancel, a.done, a.Err = ag, cancel, make(chan struct{}), nil
	go func() { a.Err = ag.Run(ctx); close(a.done) }()
}

// WaitWelcome waits until the controller (re)accepts the agent.
func (a *Agent) WaitWelcome(t testing.TB) *tunnelpb.Welcome {
	t.Helper()
	select {
	case w := <-a.welcome:
		return w
	case <-a.done:
		t.Fatalf("agent stopped before the controller welcomed it: %v", a.Err)
	case <-time.After(WaitShort):
		t.Fatal("agent was not welcomed in time")
	}
	return nil
}

// Done is closed when the agent's Run has returned (Err says why).
func (a *Agent) Done() <-chan struct{} { return a.done }

// Stop stops the agent and waits for it.
func (a *Agent) Stop() {
	if a.cancel == nil {
		return
	}
	a.cancel()
	<-a.done
	a.cancel = nil
}

// ClosedPort returns a port on 127.0.0.1 that nothing listens on (one
// just released; good enough for a test that expects a refusal).
func ClosedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Echo starts a TCP echo server on 127.0.0.1:0 and returns its port. A
// client's half-close is answered with a half-close after echoing.
func Echo(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// Plain reader/writer: io.Copy between TCP conns would splice
				// and cache pipes, which leak checks would count.
				io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 32<<10))
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}
