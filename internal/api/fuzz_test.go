package api

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/store"
	"github.com/burrow-dev/burrow/internal/store/sqlite"
)

// fakeBackend holds one online target, "web-1", that allows every port and
// never gets dialled successfully (the fuzzer must not open sessions).
type fakeBackend struct{}

var _ dial.Backend = fakeBackend{}

func (fakeBackend) Route(target string) (dial.Route, bool) {
	return dial.Route{AgentID: "a1", Deny: "25"}, target == "web-1"
}

func (fakeBackend) DialTarget(ctx context.Context, session, target string, port int) (net.Conn, error) {
	return nil, apitype.Errorf(apitype.CodeUnavailable, "fake: %s:%d refused", target, port)
}

func newFuzzAPI(f *testing.F) (*API, string) {
	st, err := sqlite.Open(":memory:")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	secret := auth.NewSecret(auth.PrefixAPI)
	if err := st.CreateToken(context.Background(), store.Token{ID: "t1", Name: "m", Hash: auth.Hash(secret), Subject: "m", Role: apitype.RoleMember, CreatedAt: time.Now()}); err != nil {
		f.Fatal(err)
	}
	d := dial.New(dial.Options{Store: st, Backend: fakeBackend{}, Logger: discard()})
	f.Cleanup(func() { d.Close() })
	return New(Options{Store: st, Dialer: d, Backend: fakeBackend{}, Logger: discard()}), secret
}

// FuzzPortForwardRequest throws hostile target names, ports, upgrade
// headers and tickets at the port-forward route: every answer must be a
// JSON error with a mapped status, and nothing may panic.
func FuzzPortForwardRequest(f *testing.F) {
	a, secret := newFuzzAPI(f)
	f.Add("web-1", "22", "Upgrade", "burrow-tcp/1", "", true)
	f.Add("web-1", "25", "keep-alive, Upgrade", "websocket", "", true)
	f.Add("../../etc/passwd", "80", "Upgrade", "burrow-tcp/1", "", true)
	f.Add("web-1", "-1", "upgrade", "BURROW-TCP/1", "", false)
	f.Add("web-1", "99999999999999999999", "Upgrade", "h2c", "brwt_x", false)
	f.Add("%00", "0x16", "", "", "", true)
	f.Fuzz(func(t *testing.T, name, port, connection, upgrade, ticket string, withToken bool) {
		q := url.Values{"port": {port}}
		if ticket != "" {
			q.Set("ticket", ticket)
		}
		u := &url.URL{Path: "/v1/targets/" + url.PathEscape(name) + "/port-forward", RawQuery: q.Encode()}
		r := httptest.NewRequest("GET", u.String(), nil)
		r.Header.Set("Connection", connection)
		r.Header.Set("Upgrade", upgrade)
		if withToken {
			r.Header.Set("Authorization", "Bearer "+secret)
		}
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		if path.Clean(u.Path) != u.Path && w.Code == http.StatusTemporaryRedirect {
			return // ServeMux sends unclean paths to their clean form
		}
		switch w.Code {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusServiceUnavailable:
		default:
			t.Fatalf("%s: status %d body %s", u, w.Code, w.Body)
		}
		if w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: not a JSON error: %q", u, w.Body)
		}
	})
}
