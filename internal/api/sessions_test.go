package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/store"
)

func TestSessionEvents(t *testing.T) {
	s := newSSHAPI(t)
	ctx := t.Context()
	started := sshNow.Add(-time.Minute)
	for _, id := range []string{"s1", "quiet"} {
		sess := store.Session{ID: id, Subject: "alice", TokenID: "alice", Target: "web-1", Port: 22, FrontDoor: "upgrade", StartedAt: started}
		if err := s.st.StartSessions(ctx, []store.Session{sess}); err != nil {
			t.Fatal(err)
		}
	}
	status := 128 + 15
	stored := []store.SessionEvent{
		{SessionID: "s1", At: started.Add(time.Second), Kind: apitype.EventSSHLogin, Login: "alice"},
		{SessionID: "s1", At: started.Add(2 * time.Second), Kind: apitype.EventSSHExec, Login: "alice", Detail: "tail -f /var/log/syslog"},
		{SessionID: "s1", At: started.Add(3 * time.Second), Kind: apitype.EventSSHExit, Login: "alice", Detail: "signal TERM", ExitStatus: &status},
	}
	if err := s.st.AddSessionEvents(ctx, stored); err != nil {
		t.Fatal(err)
	}

	got := decode[[]apitype.SessionEvent](t, s.call(t, "GET", "/v1/sessions/s1/events", "admin", nil), http.StatusOK)
	if len(got) != len(stored) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(stored), got)
	}
	for i, e := range stored {
		g := got[i]
		if g.SessionID != e.SessionID || !g.At.Equal(e.At) || g.Kind != e.Kind || g.Login != e.Login || g.Detail != e.Detail ||
			(g.ExitStatus == nil) != (e.ExitStatus == nil) || g.ExitStatus != nil && *g.ExitStatus != *e.ExitStatus {
			t.Errorf("event #%d = %+v, want %+v", i, g, e)
		}
	}

	tests := []struct {
		name, path, token string
		status            int
		body              string // a substring of the answer
	}{
		{"no events", "/v1/sessions/quiet/events", "admin", http.StatusOK, "[]"},
		{"exit status only on exits", "/v1/sessions/s1/events", "admin", http.StatusOK, `"exit_status": 143`},
		{"unknown session", "/v1/sessions/nope/events", "admin", http.StatusNotFound, `"not_found"`},
		{"member", "/v1/sessions/s1/events", "alice", http.StatusForbidden, `"forbidden"`},
		{"no token", "/v1/sessions/s1/events", "", http.StatusUnauthorized, `"unauthenticated"`},
		{"agent credential", "/v1/sessions/s1/events", "agent", http.StatusForbidden, `"forbidden"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := s.call(t, "GET", tt.path, tt.token, nil)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.body) {
				t.Errorf("GET %s as %q: %d %s; want %d with %s", tt.path, tt.token, w.Code, w.Body, tt.status, tt.body)
			}
		})
	}
	if n := strings.Count(s.call(t, "GET", "/v1/sessions/s1/events", "admin", nil).Body.String(), "exit_status"); n != 1 {
		t.Errorf("exit_status appears %d times, want once (only on the exit)", n)
	}
}
