package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/store"
)

func (a *API) listTargets(w http.ResponseWriter, r *http.Request, _ dial.Principal) {
	agents, err := a.opts.Store.ListAgents(r.Context())
	if err != nil {
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "list agents: %v", err))
		return
	}
	out := []apitype.Target{}
	for _, ag := range agents {
		for _, t := range ag.Targets {
			route, ok := a.opts.Backend.Route(t.Name)
			online := ok && route.AgentID == ag.ID
			if !online && ok {
				continue // another agent holds this name now
			}
			pol, err := a.opts.Store.Policy(r.Context(), t.Name)
			if errors.Is(err, store.ErrNotFound) {
				pol, err = store.Policy{}, nil // none set
			}
			if err != nil {
				writeError(w, apitype.Errorf(apitype.CodeUnavailable, "policy of %s: %v", t.Name, err))
				return
			}
			out = append(out, apitype.Target{
				Name: t.Name, Agent: ag.Name, Host: t.Host, Online: online, LastSeen: lastSeen(ag, online, a.opts.Now()),
				OS: ag.OS, Arch: ag.Arch, Version: ag.Version, Labels: ag.Labels, Allow: t.Allow, Deny: t.Deny,
				PolicyAllow: pol.Allow, PolicyDeny: pol.Deny, HostKey: ag.HostKey, SSH: t.SSH,
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

func lastSeen(ag store.Agent, online bool, now time.Time) time.Time {
	if online {
		return now.UTC()
	}
	return ag.LastSeen.UTC()
}

func (a *API) getPolicy(w http.ResponseWriter, r *http.Request, _ dial.Principal) {
	name := r.PathValue("name")
	p, err := a.opts.Store.Policy(r.Context(), name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "read policy: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, apitype.Policy{Target: name, Allow: p.Allow, Deny: p.Deny})
}

func (a *API) putPolicy(w http.ResponseWriter, r *http.Request, _ dial.Principal) {
	var p apitype.Policy
	if err := readJSON(r, &p); err != nil {
		writeError(w, err)
		return
	}
	p.Target = r.PathValue("name")
	if _, err := auth.ParsePolicy(p.Allow, p.Deny); err != nil {
		writeError(w, apitype.Errorf(apitype.CodeInvalid, "policy: %v", err))
		return
	}
	if err := a.opts.Store.SetPolicy(r.Context(), store.Policy{Target: p.Target, Allow: p.Allow, Deny: p.Deny}); err != nil {
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "store policy: %v", err))
		return
	}
	a.log.Info("policy set", "target", p.Target, "allow", p.Allow, "deny", p.Deny)
	writeJSON(w, http.StatusOK, p)
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, _ dial.Principal) {
	ts, err := a.opts.Store.ListTokens(r.Context())
	if err != nil {
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "list tokens: %v", err))
		return
	}
	out := make([]apitype.Token, len(ts))
	for i, t := range ts {
		out[i] = apiToken(t)
	}
	writeJSON(w, http.StatusOK, out)
}

func apiToken(t store.Token) apitype.Token {
	return apitype.Token{ID: t.ID, Name: t.Name, Subject: t.Subject, Role: t.Role, Logins: t.Logins,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt}
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, p dial.Principal) {
	var req apitype.CreateTokenRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	t, secret, err := NewToken(req, a.opts.Now())
	if err != nil {
		writeError(w, err)
		return
	}
	if err := a.opts.Store.CreateToken(r.Context(), t); err != nil {
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "store token: %v", err))
		return
	}
	a.log.Info("token created", "token_id", t.ID, "subject", t.Subject, "role", t.Role, "logins", t.Logins, "by", p.Subject)
	out := apiToken(t)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
}

// NewToken validates req and returns the token to store and its secret.
func NewToken(req apitype.CreateTokenRequest, now time.Time) (store.Token, string, error) {
	if req.Role == "" {
		req.Role = apitype.RoleMember
	}
	if req.Role != apitype.RoleAdmin && req.Role != apitype.RoleMember {
		return store.Token{}, "", apitype.Errorf(apitype.CodeInvalid, "role must be admin or member, not %q", req.Role)
	}
	if req.Name == "" {
		return store.Token{}, "", apitype.Errorf(apitype.CodeInvalid, "a token needs a name")
	}
	if req.Subject == "" {
		req.Subject = req.Name
	}
	if req.TTL < 0 {
		return store.Token{}, "", apitype.Errorf(apitype.CodeInvalid, "ttl must not be negative")
	}
	logins, err := tokenLogins(req)
	if err != nil {
		return store.Token{}, "", err
	}
	secret := auth.NewSecret(auth.PrefixAPI)
	t := store.Token{ID: auth.NewID(), Name: req.Name, Hash: auth.Hash(secret), Subject: req.Subject, Role: req.Role,
		Logins: logins, CreatedAt: now}
	if req.TTL > 0 {
		exp := now.Add(req.TTL)
		t.ExpiresAt = &exp
	}
	return t, secret, nil
}

// maxLogins bounds the logins of one token.
const maxLogins = 64

// tokenLogins validates and de-duplicates req.Logins, or picks the
// default: root for an admin; for a member its subject, if that is a valid
// user name, else none.
func tokenLogins(req apitype.CreateTokenRequest) ([]string, error) {
	if len(req.Logins) == 0 {
		if req.Role == apitype.RoleAdmin {
			return []string{"root"}, nil
		}
		if auth.CheckLogin(req.Subject) == nil {
			return []string{req.Subject}, nil
		}
		return nil, nil
	}
	if len(req.Logins) > maxLogins {
		return nil, apitype.Errorf(apitype.CodeInvalid, "%d logins: a token may have at most %d", len(req.Logins), maxLogins)
	}
	var out []string
	for _, l := range req.Logins {
		if err := auth.CheckLogin(l); err != nil {
			return nil, apitype.Errorf(apitype.CodeInvalid, "%v", err)
		}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out, nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, p dial.Principal) {
	id := r.PathValue("id")
	err := a.opts.Store.RevokeToken(r.Context(), id, a.opts.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, apitype.Errorf(apitype.CodeNotFound, "no token with id %s (`burrow token list` shows them)", id))
		return
	case err != nil:
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "revoke token: %v", err))
		return
	}
	n := a.opts.Dialer.Revoked(id)
	a.trustChanged() // agents refuse the token's certificates
	a.log.Info("token revoked", "token_id", id, "by", p.Subject, "sessions_closed", n)
	w.WriteHeader(http.StatusNoContent)
}

// revokeUser revokes every API token of a subject (a user, or a service
// account), closes their live sessions and tells agents, so that every
// certificate the subject holds is useless at once, as revoking each
// token would.
func (a *API) revokeUser(w http.ResponseWriter, r *http.Request, p dial.Principal) {
	subject := r.PathValue("subject")
	ts, err := a.opts.Store.ListTokens(r.Context())
	if err != nil {
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "list tokens: %v", err))
		return
	}
	resp := apitype.RevokedUser{Subject: subject, TokensRevoked: []string{}}
	found := false
	for _, t := range ts {
		if t.Subject != subject || t.Role == apitype.RoleAgent {
			continue
		}
		found = true
		if t.RevokedAt != nil {
			continue
		}
		if err := a.opts.Store.RevokeToken(r.Context(), t.ID, a.opts.Now()); err != nil {
			if len(resp.TokensRevoked) > 0 { // those stay revoked: tell agents now
				a.trustChanged()
			}
			a.log.Warn("user revocation stopped", "subject", subject, "tokens_revoked", resp.TokensRevoked, "failed", t.ID, "err", err, "by", p.Subject)
			writeError(w, apitype.Errorf(apitype.CodeUnavailable, "revoke token %s of %s: %v (revoked before it: %s); try again", t.ID, subject, err, strings.Join(resp.TokensRevoked, ", ")))
			return
		}
		resp.TokensRevoked = append(resp.TokensRevoked, t.ID)
		resp.SessionsClosed += a.opts.Dialer.Revoked(t.ID)
	}
	if !found {
		writeError(w, apitype.Errorf(apitype.CodeNotFound, "no API token belongs to %q (`burrow token list` shows the subjects)", subject))
		return
	}
	if len(resp.TokensRevoked) > 0 {
		a.trustChanged() // agents refuse the tokens' certificates
	}
	a.log.Info("user revoked", "subject", subject, "tokens_revoked", resp.TokensRevoked, "by", p.Subject, "sessions_closed", resp.SessionsClosed)
	writeJSON(w, http.StatusOK, resp)
}

func (a *API) createJoinToken(w http.ResponseWriter, r *http.Request, p dial.Principal) {
	var req apitype.CreateJoinTokenRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	jt, err := a.newJoinToken(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	a.log.Info("join token created", "join_token_id", jt.ID, "max_uses", jt.MaxUses, "expires_at", jt.ExpiresAt, "by", p.Subject)
	writeJSON(w, http.StatusCreated, jt)
}

// CreateJoinToken stores a join token and returns its secret in the form
// agents take.
func (a *API) CreateJoinToken(ctx context.Context, req apitype.CreateJoinTokenRequest) (string, error) {
	jt, err := a.newJoinToken(ctx, req)
	return jt.Secret, err
}

func (a *API) newJoinToken(ctx context.Context, req apitype.CreateJoinTokenRequest) (apitype.JoinToken, error) {
	switch {
	case req.TTL < 0:
		return apitype.JoinToken{}, apitype.Errorf(apitype.CodeInvalid, "ttl must not be negative")
	case req.TTL > apitype.MaxJoinTokenTTL:
		return apitype.JoinToken{}, apitype.Errorf(apitype.CodeInvalid, "ttl %v: a join token lives at most %v; make a new one when it runs out", req.TTL, apitype.MaxJoinTokenTTL)
	case req.MaxUses < 0:
		return apitype.JoinToken{}, apitype.Errorf(apitype.CodeInvalid, "max_uses must not be negative")
	case req.TTL == 0:
		req.TTL = time.Hour
	}
	if req.MaxUses == 0 {
		req.MaxUses = 1
	}
	now := a.opts.Now()
	secret := auth.NewSecret(auth.PrefixJoin)
	jt := store.JoinToken{ID: auth.NewID(), Hash: auth.Hash(secret), CreatedAt: now, ExpiresAt: now.Add(req.TTL), MaxUses: req.MaxUses}
	if err := a.opts.Store.CreateJoinToken(ctx, jt); err != nil {
		return apitype.JoinToken{}, apitype.Errorf(apitype.CodeUnavailable, "store join token: %v", err)
	}
	return apitype.JoinToken{
		ID: jt.ID, ExpiresAt: jt.ExpiresAt, MaxUses: jt.MaxUses,
		Secret: auth.JoinToken{Secret: secret, Fingerprint: a.opts.Fingerprint}.String(),
	}, nil
}

func (a *API) createTicket(w http.ResponseWriter, r *http.Request, p dial.Principal) {
	writeJSON(w, http.StatusCreated, a.tickets.issue(p))
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request, _ dial.Principal) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, apitype.Errorf(apitype.CodeInvalid, "limit must be 1-10000"))
			return
		}
		limit = n
	}
	ss, err := a.opts.Store.ListSessions(r.Context(), limit)
	if err != nil {
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "list sessions: %v", err))
		return
	}
	out := make([]apitype.Session, len(ss))
	for i, s := range ss {
		out[i] = apitype.Session{ID: s.ID, Subject: s.Subject, Target: s.Target, Port: s.Port, FrontDoor: s.FrontDoor,
			StartedAt: s.StartedAt, EndedAt: s.EndedAt, BytesUp: s.BytesUp, BytesDown: s.BytesDown, Result: s.Result}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) sessionEvents(w http.ResponseWriter, r *http.Request, _ dial.Principal) {
	id := r.PathValue("id")
	es, err := a.opts.Store.SessionEvents(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, apitype.Errorf(apitype.CodeNotFound, "no session with id %s (GET /v1/sessions lists them)", id))
		return
	case err != nil:
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "list session events: %v", err))
		return
	}
	out := make([]apitype.SessionEvent, len(es))
	for i, e := range es {
		out[i] = apitype.SessionEvent{SessionID: e.SessionID, At: e.At, Kind: e.Kind, Login: e.Login,
			Detail: e.Detail, ExitStatus: e.ExitStatus}
	}
	writeJSON(w, http.StatusOK, out)
}
