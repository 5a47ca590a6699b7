package client

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/tlsutil"
)

// newTestClient returns a Client of a TLS test server running h, pinned by
// fingerprint, with token "secret".
func newTestClient(t *testing.T, h http.Handler) *Client {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	c, err := New(Config{URL: srv.URL, Token: "secret",
		TLS: tlsutil.ClientOptions{Fingerprint: tlsutil.Fingerprint(srv.Certificate().Raw)}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSessionEvents(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	status := 2
	want := []apitype.SessionEvent{
		{SessionID: "a/b", At: at, Kind: apitype.EventSSHLogin, Login: "root"},
		{SessionID: "a/b", At: at, Kind: apitype.EventSSHExit, Login: "root", ExitStatus: &status},
	}
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		switch r.URL.EscapedPath() {
		case "/v1/sessions/a%2Fb/events":
			json.NewEncoder(w).Encode(want)
		default:
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(apitype.Errorf(apitype.CodeNotFound, "no session at %s", r.URL.EscapedPath()))
		}
	}))

	got, err := c.SessionEvents(t.Context(), "a/b")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Kind != want[0].Kind || got[1].ExitStatus == nil || *got[1].ExitStatus != status || !got[1].At.Equal(at) {
		t.Errorf("SessionEvents = %+v, want %+v", got, want)
	}

	_, err = c.SessionEvents(t.Context(), "nope")
	var e *apitype.Error
	if !errors.As(err, &e) || e.Code != apitype.CodeNotFound {
		t.Errorf("SessionEvents unknown: err = %v, want a not_found *apitype.Error", err)
	}
}
