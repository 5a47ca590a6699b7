package dial

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/store"
	"github.com/burrow-dev/burrow/internal/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitShort bounds every wait of these tests.
const waitShort = 10 * time.Second

// fakeBackend routes every target to agent, and serves dials with one end
// of a net.Pipe (an AgentConn naming connAgent if that is set).
type fakeBackend struct {
	agent, connAgent string
}

var _ Backend = fakeBackend{}

func (b fakeBackend) Route(target string) (Route, bool) { return Route{AgentID: b.agent}, true }

func (b fakeBackend) DialTarget(ctx context.Context, session, target string, port int) (net.Conn, error) {
	c, far := net.Pipe()
	go func() { io.Copy(io.Discard, far); far.Close() }()
	if b.connAgent != "" {
		return agentConn{c, b.connAgent}, nil
	}
	return c, nil
}

type agentConn struct {
	net.Conn
	agent string
}

func (c agentConn) AgentID() string { return c.agent }

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testDialer is a Dialer on a fresh in-memory store, with its metrics
// registry and clock.
type testDialer struct {
	*Dialer
	st    store.Store
	reg   *prometheus.Registry
	clock *clock
}

func newTestDialer(t *testing.T, b Backend, st store.Store) *testDialer {
	t.Helper()
	if st == nil {
		db, err := sqlite.Open(":memory:")
		if err != nil {
			t.Fatal(err)
		}
		st = db
	}
	t.Cleanup(func() { st.Close() })
	td := &testDialer{st: st, reg: prometheus.NewRegistry(), clock: &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}}
	td.Dialer = New(Options{Store: st, Backend: b, Logger: slog.New(slog.DiscardHandler),
		Metrics: NewMetrics(td.reg), Now: td.clock.Now, EventGrace: time.Minute})
	t.Cleanup(func() { td.Close() })
	return td
}

// dial opens a session as an admin and closes it when the test ends.
func (td *testDialer) dial(t *testing.T) *Conn {
	t.Helper()
	p := Principal{Subject: "alice", Role: apitype.RoleAdmin, TokenID: "t1"}
	c, err := td.Dial(t.Context(), p, "web", 22, "upgrade")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*Conn)
}

// dropped returns burrow_session_events_dropped_total by reason.
func (td *testDialer) dropped(t *testing.T) map[string]int {
	t.Helper()
	mfs, err := td.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != "burrow_session_events_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = int(m.GetCounter().GetValue())
		}
	}
	return out
}

func ev(session, kind, detail string) store.SessionEvent {
	return store.SessionEvent{SessionID: session, Kind: kind, Login: "root", Detail: detail}
}

// events returns the stored kind:detail of a session's events.
func events(t *testing.T, st store.Store, session string) []string {
	t.Helper()
	es, err := st.SessionEvents(t.Context(), session)
	if err != nil {
		t.Fatalf("SessionEvents %s: %v", session, err)
	}
	out := []string{}
	for _, e := range es {
		out = append(out, e.Kind+":"+e.Detail)
	}
	return out
}

func checkEvents(t *testing.T, st store.Store, session string, want ...string) {
	t.Helper()
	got := events(t, st, session)
	if len(want) == 0 {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("events of %s = %q, want %q", session, got, want)
	}
}

// TestSessionEventFromServingAgentOnly checks that an agent can add events
// to the sessions it serves, while they are open and for EventGrace after,
// and to no other.
func TestSessionEventFromServingAgentOnly(t *testing.T) {
	td := newTestDialer(t, fakeBackend{agent: "a1"}, nil)
	mine, other := td.dial(t), td.dial(t)
	td.track(&Conn{s: store.Session{ID: "elsewhere", TokenID: "t2"}, agentID: "a2"}) // a2's session

	tests := []struct {
		name  string
		agent string
		ev    store.SessionEvent
		want  bool
	}{
		{"own session", "a1", ev(mine.SessionID(), apitype.EventSSHLogin, ""), true},
		{"own session again", "a1", ev(mine.SessionID(), apitype.EventSSHExec, "id"), true},
		{"another agent's session", "a1", ev("elsewhere", apitype.EventSSHLogin, ""), false},
		{"not its session", "a2", ev(mine.SessionID(), apitype.EventSSHExec, "rm -rf /"), false},
		{"unknown session", "a1", ev("nope", apitype.EventSSHLogin, ""), false},
		{"no session id", "a1", ev("", apitype.EventSSHLogin, ""), false},
		{"no agent id", "", ev(mine.SessionID(), apitype.EventSSHLogin, ""), false},
		{"no kind", "a1", ev(mine.SessionID(), "", "x"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := td.SessionEvent(tt.agent, tt.ev); got != tt.want {
				t.Errorf("SessionEvent(%q, %+v) = %v, want %v", tt.agent, tt.ev, got, tt.want)
			}
		})
	}

	// After the session closes: accepted within the grace period only.
	mine.Close()
	td.clock.Add(time.Minute - time.Second)
	if !td.SessionEvent("a1", ev(mine.SessionID(), apitype.EventSSHExit, "late")) {
		t.Error("event within EventGrace of the close was dropped")
	}
	td.clock.Add(time.Second)
	if td.SessionEvent("a1", ev(mine.SessionID(), apitype.EventSSHExit, "too late")) {
		t.Error("event EventGrace after the close was accepted")
	}
	if !td.SessionEvent("a1", ev(other.SessionID(), apitype.EventSSHShell, "")) {
		t.Error("event of a session still open was dropped")
	}

	td.Close() // flushes
	checkEvents(t, td.st, mine.SessionID(), "ssh-login:", "ssh-exec:id", "ssh-exit:late")
	checkEvents(t, td.st, other.SessionID(), "ssh-shell:")
	for _, id := range []string{"elsewhere", "nope"} {
		if _, err := td.st.SessionEvents(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SessionEvents(%s): err = %v, want %v", id, err, store.ErrNotFound)
		}
	}
	want := map[string]int{dropOtherAgent: 2, dropUnknown: 3, dropInvalid: 2}
	if got := td.dropped(t); !maps.Equal(got, want) {
		t.Errorf("dropped = %v, want %v", got, want)
	}
	if td.SessionEvent("a1", ev(other.SessionID(), apitype.EventSSHExit, "")) {
		t.Error("event after Close was accepted")
	}
}

// TestSessionEventAgentConn checks that the agent an AgentConn names is
// trusted over the one Route gave.
func TestSessionEventAgentConn(t *testing.T) {
	td := newTestDialer(t, fakeBackend{agent: "a1", connAgent: "a2"}, nil)
	c := td.dial(t)
	if td.SessionEvent("a1", ev(c.SessionID(), apitype.EventSSHLogin, "a1")) {
		t.Error("event from the routed agent accepted; the connection names a2")
	}
	if !td.SessionEvent("a2", ev(c.SessionID(), apitype.EventSSHLogin, "a2")) {
		t.Error("event from the agent serving the connection dropped")
	}
	td.Close()
	checkEvents(t, td.st, c.SessionID(), "ssh-login:a2")
}

// blockingStore holds AddSessionEvents until release is closed, telling
// entered when it first waits.
type blockingStore struct {
	store.Store
	entered, release chan struct{}
	once             sync.Once
}

func (s *blockingStore) AddSessionEvents(ctx context.Context, es []store.SessionEvent) error {
	s.once.Do(func() { close(s.entered) })
	select {
	case <-s.release:
	case <-time.After(waitShort):
		return errors.New("blockingStore: never released")
	}
	return s.Store.AddSessionEvents(ctx, es)
}

// TestSessionEventQueueFull checks that events are dropped, not waited
// for, while the store is slow, and that the queued ones are written.
func TestSessionEventQueueFull(t *testing.T) {
	db, err := sqlite.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	st := &blockingStore{Store: db, entered: make(chan struct{}), release: make(chan struct{})}
	td := newTestDialer(t, fakeBackend{agent: "a1"}, st)
	id := td.dial(t).SessionID()

	if !td.SessionEvent("a1", ev(id, apitype.EventSSHLogin, "")) {
		t.Fatal("first event dropped")
	}
	select { // the writer now waits in the store with the first event
	case <-st.entered:
	case <-time.After(waitShort):
		t.Fatal("the audit writer never wrote the first event")
	}
	for i := range eventQueue {
		if !td.SessionEvent("a1", ev(id, apitype.EventSSHExec, "")) {
			t.Fatalf("event %d of a queue of %d dropped", i+1, eventQueue)
		}
	}
	done := make(chan bool)
	go func() { done <- td.SessionEvent("a1", ev(id, apitype.EventSSHExec, "overflow")) }()
	select {
	case ok := <-done:
		if ok {
			t.Error("event beyond the queue accepted")
		}
	case <-time.After(waitShort):
		t.Fatal("SessionEvent waited for the store")
	}
	close(st.release)
	td.Close()
	if got, want := len(events(t, td.st, id)), 1+eventQueue; got != want {
		t.Errorf("%d events stored, want %d", got, want)
	}
	if got := td.dropped(t)[dropQueueFull]; got != 1 {
		t.Errorf("dropped queue_full = %d, want 1", got)
	}
}

// TestSessionEventDuringClose reports events from many goroutines while
// the Dialer closes: nothing may panic or race.
func TestSessionEventDuringClose(t *testing.T) {
	td := newTestDialer(t, fakeBackend{agent: "a1"}, nil)
	id := td.dial(t).SessionID()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				td.SessionEvent("a1", ev(id, apitype.EventSSHExec, ""))
			}
		})
	}
	td.Close()
	wg.Wait()
}
