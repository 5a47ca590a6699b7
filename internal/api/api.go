// Package api serves burrow's REST API: targets, tokens, join tokens,
// tickets, audit sessions and their events, SSH user certificates, SSH keys
// registered for the gateway, and the port-forward
// endpoint that upgrades to a raw stream (Upgrade: burrow-tcp/1) or a
// WebSocket. It is the one place where domain errors become HTTP statuses
// (writeError).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/sshca"
	"github.com/burrow-dev/burrow/internal/store"
)

// Options configure the API.
type Options struct {
	Store   store.Store  // required
	Dialer  *dial.Dialer // required
	Backend dial.Backend // required: who is online
	// Fingerprint of the controller's self-signed certificate, embedded in
	// join tokens; empty with a certificate clients can verify.
	Fingerprint string
	Logger      *slog.Logger
	Metrics     http.Handler // served at /metrics if set
	// Org is the org's name, in every user certificate's key id.
	Org string
	// CA signs SSH user certificates; nil: the /v1/ssh routes answer 503.
	CA *sshca.Authority
	// HostCA signs agents' host keys; its keys are listed by GET /v1/ssh/ca.
	HostCA *sshca.Authority
	// CertPolicy is what user certificates may grant (lifetime, permit-*
	// extensions); the zero Policy grants everything for sshca.MaxTTL.
	CertPolicy sshca.Policy
	// GatewayHosts, if set, lists the names the SSH gateway's host
	// certificate holds (GET /v1/ssh/ca), for @cert-authority lines.
	GatewayHosts func() []string
	Now          func() time.Time
	// OnTrustChange, if set, is called after a CA rotation or a token
	// revocation, to tell agents at once (tunnel.Server.PushTrust).
	OnTrustChange func()
}

// API is the HTTP handler set.
type API struct {
	opts    Options
	log     *slog.Logger
	tickets *tickets
	mux     *http.ServeMux

	mu     sync.Mutex
	active map[*relaySession]struct{}
	wg     sync.WaitGroup
}

// access levels of routes
type access int

const (
	public access = iota
	member        // any valid user token (admin or member)
	admin
)

// Route is one entry of the API; the OpenAPI test walks this table.
type Route struct {
	Method, Path string
	access       access
	handle       func(*API, http.ResponseWriter, *http.Request, dial.Principal)
}

// Routes lists every route the API serves.
var Routes = []Route{
	{"GET", "/healthz", public, (*API).healthz},
	{"GET", "/readyz", public, (*API).readyz},
	{"GET", "/v1/whoami", member, (*API).whoami},
	{"GET", "/v1/targets", member, (*API).listTargets},
	{"GET", "/v1/targets/{name}/port-forward", member, (*API).portForward},
	{"GET", "/v1/targets/{name}/policy", member, (*API).getPolicy},
	{"PUT", "/v1/targets/{name}/policy", admin, (*API).putPolicy},
	{"GET", "/v1/tokens", admin, (*API).listTokens},
	{"POST", "/v1/tokens", admin, (*API).createToken},
	{"DELETE", "/v1/tokens/{id}", admin, (*API).revokeToken},
	{"POST", "/v1/users/{subject}/revoke", admin, (*API).revokeUser},
	{"POST", "/v1/join-tokens", admin, (*API).createJoinToken},
	{"POST", "/v1/tickets", member, (*API).createTicket},
	{"GET", "/v1/sessions", admin, (*API).listSessions},
	{"GET", "/v1/sessions/{id}/events", admin, (*API).sessionEvents},
	{"POST", "/v1/ssh/certificates", member, (*API).signSSHCertificate},
	{"GET", "/v1/ssh/ca", member, (*API).sshCA},
	{"POST", "/v1/ssh/ca/rotate", admin, (*API).rotateCA},
	{"POST", "/v1/ssh/keys", member, (*API).addUserKey},
	{"GET", "/v1/ssh/keys", member, (*API).listUserKeys},
	{"DELETE", "/v1/ssh/keys/{id}", member, (*API).deleteUserKey},
}

// New builds the API.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &API{opts: o, log: o.Logger, tickets: newTickets(o.Now), mux: http.NewServeMux(), active: map[*relaySession]struct{}{}}
	for _, rt := range Routes {
		a.mux.Handle(rt.Method+" "+rt.Path, a.wrap(rt))
	}
	if o.Metrics != nil {
		a.mux.Handle("GET /metrics", o.Metrics)
	}
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apitype.Errorf(apitype.CodeNotFound, "no such API route: %s %s", r.Method, r.URL.Path))
	})
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *API) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p dial.Principal
		if rt.access != public {
			var err error
			if p, err = a.authenticate(r); err != nil {
				writeError(w, err)
				return
			}
			if rt.access == admin && p.Role != apitype.RoleAdmin {
				writeError(w, apitype.Errorf(apitype.CodeForbidden, "%s %s needs an admin token; %s is a %s", rt.Method, rt.Path, p.Subject, p.Role))
				return
			}
		}
		rt.handle(a, w, r, p)
	})
}

// authenticate checks the bearer token, or a one-time ticket on the
// port-forward route (for WebSocket clients that cannot set headers).
func (a *API) authenticate(r *http.Request) (dial.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" && r.URL.Query().Has("ticket") && strings.HasSuffix(r.URL.Path, "/port-forward") {
		return a.tickets.redeem(r.URL.Query().Get("ticket"))
	}
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || secret == "" {
		return dial.Principal{}, apitype.Errorf(apitype.CodeUnauthenticated, "no API token: send 'Authorization: Bearer <token>' (run `burrow login`)")
	}
	return a.checkToken(r.Context(), secret)
}

func (a *API) checkToken(ctx context.Context, secret string) (dial.Principal, error) {
	t, err := a.opts.Store.TokenByHash(ctx, auth.Hash(secret))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return dial.Principal{}, apitype.Errorf(apitype.CodeUnauthenticated, "API token not recognised: check BURROW_TOKEN or run `burrow login` again")
	case err != nil:
		return dial.Principal{}, apitype.Errorf(apitype.CodeUnavailable, "check token: %v", err)
	case t.RevokedAt != nil:
		return dial.Principal{}, apitype.Errorf(apitype.CodeUnauthenticated, "API token %s was revoked at %s: ask an admin for a new one", t.ID, t.RevokedAt.UTC().Format(time.RFC3339))
	case t.ExpiresAt != nil && !a.opts.Now().Before(*t.ExpiresAt):
		return dial.Principal{}, apitype.Errorf(apitype.CodeUnauthenticated, "API token %s expired at %s: ask an admin for a new one", t.ID, t.ExpiresAt.UTC().Format(time.RFC3339))
	case t.Role == apitype.RoleAgent:
		return dial.Principal{}, apitype.Errorf(apitype.CodeForbidden, "agent credentials cannot use the API")
	}
	return dial.Principal{Subject: t.Subject, Role: t.Role, TokenID: t.ID, Logins: t.Logins, ExpiresAt: t.ExpiresAt}, nil
}

var statusOf = map[string]int{
	apitype.CodeUnauthenticated: http.StatusUnauthorized,
	apitype.CodeForbidden:       http.StatusForbidden,
	apitype.CodeNotFound:        http.StatusNotFound,
	apitype.CodeInvalid:         http.StatusBadRequest,
	apitype.CodeConflict:        http.StatusConflict,
	apitype.CodeUnavailable:     http.StatusServiceUnavailable,
	apitype.CodeTimeout:         http.StatusGatewayTimeout,
	apitype.CodeInternal:        http.StatusInternalServerError,
}

// writeError is the one place an error becomes an HTTP status.
func writeError(w http.ResponseWriter, err error) {
	var e *apitype.Error
	if !errors.As(err, &e) {
		e = &apitype.Error{Code: apitype.CodeInternal, Message: err.Error()}
	}
	if e.Code == apitype.CodeUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="burrow"`)
	}
	writeJSON(w, statusOf[e.Code], e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apitype.Errorf(apitype.CodeInvalid, "request body: %v", err)
	}
	return nil
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request, _ dial.Principal) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request, _ dial.Principal) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.opts.Store.Ping(ctx); err != nil {
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "store: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (a *API) whoami(w http.ResponseWriter, r *http.Request, p dial.Principal) {
	writeJSON(w, http.StatusOK, apitype.Whoami{Subject: p.Subject, Role: p.Role, TokenID: p.TokenID})
}
