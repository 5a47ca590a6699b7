package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/store"
)

// Session events.

// event returns an event of session id at at(d).
func event(id string, d time.Duration, kind, detail string) store.SessionEvent {
	return store.SessionEvent{SessionID: id, At: at(d), Kind: kind, Login: "alice", Detail: detail}
}

// exited returns an "ssh-exit" event of session id at at(d) with status.
func exited(id string, d time.Duration, status int, detail string) store.SessionEvent {
	e := event(id, d, "ssh-exit", detail)
	e.ExitStatus = &status
	return e
}

func checkSessionEvents(t *testing.T, s store.Store, id string, want []store.SessionEvent) {
	t.Helper()
	got, err := s.SessionEvents(t.Context(), id)
	must(t, "SessionEvents "+id, err)
	if len(got) != len(want) {
		t.Fatalf("SessionEvents(%q) returned %d events, want %d: %+v", id, len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.SessionID != w.SessionID || g.Kind != w.Kind || g.Login != w.Login || g.Detail != w.Detail {
			t.Errorf("event #%d of %s = %+v, want %+v", i, id, g, w)
		}
		if (g.ExitStatus == nil) != (w.ExitStatus == nil) || g.ExitStatus != nil && *g.ExitStatus != *w.ExitStatus {
			t.Errorf("event #%d of %s ExitStatus = %s, want %s", i, id, fmtIntPtr(g.ExitStatus), fmtIntPtr(w.ExitStatus))
		}
		checkTime(t, fmt.Sprintf("event #%d of %s At", i, id), g.At, w.At)
	}
}

func fmtIntPtr(n *int) string {
	if n == nil {
		return "nil"
	}
	return fmt.Sprint(*n)
}

// testSessionEventsOrder adds events out of time order, in two batches,
// some at the same time: they come back by time, then insertion, each
// session's alone.
func testSessionEventsOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "StartSessions", s.StartSessions(ctx, []store.Session{session("s1", 0), session("s2", 0)}))
	login := event("s1", time.Second, "ssh-login", "")
	exec := event("s1", 2*time.Second, "ssh-exec", "ls -l /")
	fwd := event("s1", 2*time.Second, "ssh-forward", "127.0.0.1:5432")
	exit0 := exited("s1", 3*time.Second, 0, "")
	shell := event("s2", time.Second, "ssh-shell", "")
	killed := exited("s2", time.Minute, 128+15, "signal TERM")
	sftp := event("s1", 2*time.Second, "ssh-sftp", "sftp")
	must(t, "AddSessionEvents first", s.AddSessionEvents(ctx, []store.SessionEvent{exec, shell, fwd, exit0, login}))
	must(t, "AddSessionEvents second", s.AddSessionEvents(ctx, []store.SessionEvent{killed, sftp}))
	checkSessionEvents(t, s, "s1", []store.SessionEvent{login, exec, fwd, sftp, exit0})
	checkSessionEvents(t, s, "s2", []store.SessionEvent{shell, killed})
}

func testSessionEventsNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.SessionEvents(ctx, "nope")
	checkErr(t, "SessionEvents unknown", err, store.ErrNotFound)

	must(t, "StartSessions", s.StartSessions(ctx, []store.Session{session("quiet", 0)}))
	got, err := s.SessionEvents(ctx, "quiet")
	must(t, "SessionEvents without events", err)
	if len(got) != 0 {
		t.Errorf("SessionEvents of a session without events = %+v, want none", got)
	}

	// An event may land before its session's start row.
	early := event("early", 0, "ssh-login", "")
	must(t, "AddSessionEvents", s.AddSessionEvents(ctx, []store.SessionEvent{early}))
	checkSessionEvents(t, s, "early", []store.SessionEvent{early})

	must(t, "AddSessionEvents nil", s.AddSessionEvents(ctx, nil))
}

// testSessionEventsClean checks that text from agents is stored as
// store.SessionEvent.Clean says: bounded, valid UTF-8, without NULs.
func testSessionEventsClean(t *testing.T, s store.Store) {
	ctx := t.Context()
	long := strings.Repeat("é", store.MaxEventDetail) // two bytes each
	in := []store.SessionEvent{
		event("s1", 0, "ssh-exec", long),
		event("s1", time.Second, "ssh-exec", "printf 'a\x00b' \xff\xfe; echo \x00"),
		{SessionID: "s1", At: at(2 * time.Second), Kind: strings.Repeat("k", 1000), Login: "r\x00oot\xc3", Detail: "ünï\tcode\n"},
	}
	must(t, "StartSessions", s.StartSessions(ctx, []store.Session{session("s1", 0)}))
	must(t, "AddSessionEvents", s.AddSessionEvents(ctx, in))
	want := make([]store.SessionEvent, len(in))
	for i, e := range in {
		want[i] = e.Clean()
		if len(want[i].Detail) > store.MaxEventDetail || len(want[i].Kind) > store.MaxEventName {
			t.Fatalf("Clean left %d bytes of detail, %d of kind", len(want[i].Detail), len(want[i].Kind))
		}
	}
	if want[2].Detail != in[2].Detail {
		t.Errorf("Clean changed clean text %q to %q", in[2].Detail, want[2].Detail)
	}
	checkSessionEvents(t, s, "s1", want)
}

func testSessionEventsLargeBatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	const sessions, each = 5, 100
	var batch []store.SessionEvent
	want := map[string][]store.SessionEvent{}
	for i := range each {
		for j := range sessions {
			id := fmt.Sprintf("s%d", j)
			e := event(id, time.Duration(i)*time.Millisecond, "ssh-exec", fmt.Sprintf("cmd %d", i))
			batch = append(batch, e)
			want[id] = append(want[id], e)
		}
	}
	must(t, "AddSessionEvents", s.AddSessionEvents(ctx, batch))
	for id, w := range want {
		checkSessionEvents(t, s, id, w)
	}
}
