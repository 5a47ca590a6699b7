// Package dial is the single way bytes reach a target. Every front door
// (WebSocket, HTTP Upgrade, and later SSH and WireGuard) calls
// Dialer.Dial, which authorizes the principal, records an audit session,
// finds the back end holding the target and returns a net.Conn. Nothing
// else reaches an agent.
package dial

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/mem"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/store"
)

// Principal is who asks for a connection.
type Principal struct {
	Subject string
	Role    string
	TokenID string
	Logins  []string // OS users the token may log in as over SSH
	// ExpiresAt is when the token expires (nil: never); nothing minted
	// for it may outlive it.
	ExpiresAt *time.Time
}

// Route says where an online target lives and what its agent allows.
type Route struct {
	AgentID     string
	Allow, Deny string // the agent's own port policy for the target
}

// Backend is a place targets live (today: agents over gRPC).
type Backend interface {
	// Route returns the route of an online target.
	Route(target string) (Route, bool)
	// DialTarget opens session to port on target. It returns ErrOffline if
	// the target went away, or an *apitype.Error. If the connection is an
	// AgentConn, its AgentID names the agent serving the session;
	// otherwise the agent of the Route checked just before is assumed.
	DialTarget(ctx context.Context, session, target string, port int) (net.Conn, error)
}

// ErrOffline is returned by a Backend when no agent holds the target.
var ErrOffline = errors.New("target is offline")

// Options configure a Dialer.
type Options struct {
	Store   store.Store // required
	Backend Backend     // required
	Logger  *slog.Logger
	Metrics *Metrics // nil: no metrics
	Now     func() time.Time
	// Org is the org's name: a target NAME is also NAME.<org> (what a
	// front door passes on of NAME.<org>.burrow); "" for none.
	Org string
	// EventGrace is how long after a session closes its agent may still
	// report events for it (the exit status can arrive just after the
	// stream ends). Default 30s.
	EventGrace time.Duration
}

// Dialer is the one dialer.
type Dialer struct {
	opts  Options
	log   *slog.Logger
	audit *auditor

	mu       sync.Mutex
	byTok    map[string]map[*Conn]struct{} // open sessions by token id
	sessions map[string]string             // agent id by id of open and recently closed sessions
	closed   []closedSession               // recently closed sessions, oldest first
}

// New returns a Dialer; Close flushes its audit log.
func New(o Options) *Dialer {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.EventGrace == 0 {
		o.EventGrace = 30 * time.Second
	}
	return &Dialer{opts: o, log: o.Logger, audit: newAuditor(o.Store, o.Logger),
		byTok: map[string]map[*Conn]struct{}{}, sessions: map[string]string{}}
}

// Close writes the audit rows still queued.
func (d *Dialer) Close() error { return d.audit.Close() }

// Dial authorizes p to reach port on target, records the session and
// returns the connection. door names the front door ("websocket",
// "upgrade", ...). Errors are *apitype.Error with a message for the user.
func (d *Dialer) Dial(ctx context.Context, p Principal, target string, port int, door string) (net.Conn, error) {
	start := d.opts.Now()
	target = d.resolve(target)
	s := store.Session{ID: auth.NewID(), Subject: p.Subject, TokenID: p.TokenID, Target: target, Port: port, FrontDoor: door, StartedAt: start}
	d.audit.start(s)
	route, err := d.authorize(ctx, p, target, port)
	if err != nil { // refusals are audited too
		d.end(s, apitype.ErrorCode(err))
		d.opts.Metrics.dialed(door, apitype.ErrorCode(err), 0)
		return nil, err
	}
	conn, err := d.opts.Backend.DialTarget(ctx, s.ID, target, port)
	if err != nil {
		err = d.explain(ctx, target, err)
		d.end(s, apitype.ErrorCode(err))
		d.opts.Metrics.dialed(door, apitype.ErrorCode(err), 0)
		return nil, err
	}
	d.opts.Metrics.dialed(door, "ok", d.opts.Now().Sub(start))
	agentID := route.AgentID
	if ac, ok := conn.(AgentConn); ok {
		agentID = ac.AgentID()
	}
	d.log.Info("session opened", "session_id", s.ID, "subject", p.Subject, "target", target, "port", port, "front_door", door, "agent_id", agentID)
	c := &Conn{Conn: conn, d: d, s: s, agentID: agentID}
	d.track(c)
	if _, ok := conn.(buffersStream); ok {
		return buffersConn{c}, nil
	}
	return c, nil
}

// resolve maps NAME.<org> to NAME. No target has a name of that form
// (the controller refuses them), so it is never ambiguous.
func (d *Dialer) resolve(target string) string {
	if short, ok := strings.CutSuffix(target, "."+d.opts.Org); ok && d.opts.Org != "" && short != "" {
		return short
	}
	return target
}

func (d *Dialer) track(c *Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	set := d.byTok[c.s.TokenID]
	if set == nil {
		set = map[*Conn]struct{}{}
		d.byTok[c.s.TokenID] = set
	}
	set[c] = struct{}{}
	d.sessions[c.s.ID] = c.agentID
}

// untrack forgets c's token; its agent may still report events for it for
// EventGrace.
func (d *Dialer) untrack(c *Conn) {
	now := d.opts.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.byTok[c.s.TokenID], c)
	if len(d.byTok[c.s.TokenID]) == 0 {
		delete(d.byTok, c.s.TokenID)
	}
	d.closed = append(d.closed, closedSession{id: c.s.ID, at: now})
	d.forgetLocked(now)
}

// Revoked cuts every open session opened with the token: a revoked token
// keeps nothing running. It returns how many it closed.
func (d *Dialer) Revoked(tokenID string) int {
	d.mu.Lock()
	conns := make([]*Conn, 0, len(d.byTok[tokenID]))
	for c := range d.byTok[tokenID] {
		conns = append(conns, c)
	}
	d.mu.Unlock()
	for _, c := range conns {
		c.Abort(errors.New("token revoked"))
		c.Close()
	}
	return len(conns)
}

// authorize checks the port, the principal's role, that the target is
// online, and both port policies (the agent's and the controller's).
func (d *Dialer) authorize(ctx context.Context, p Principal, target string, port int) (Route, error) {
	if port < 1 || port > 65535 {
		return Route{}, apitype.Errorf(apitype.CodeInvalid, "port %d is not a TCP port (1-65535)", port)
	}
	if p.Role != apitype.RoleAdmin && p.Role != apitype.RoleMember {
		return Route{}, apitype.Errorf(apitype.CodeForbidden, "%s tokens cannot open sessions", p.Role)
	}
	route, ok := d.opts.Backend.Route(target)
	if !ok {
		return Route{}, d.explain(ctx, target, ErrOffline)
	}
	if pol, _ := auth.ParsePolicy(route.Allow, route.Deny); !pol.Allows(port) {
		return Route{}, apitype.Errorf(apitype.CodeForbidden, "port %d on %s is forbidden by the agent's port policy (allow %q, deny %q)", port, target, route.Allow, route.Deny)
	}
	return route, d.checkPolicy(ctx, target, port)
}

func (d *Dialer) checkPolicy(ctx context.Context, target string, port int) error {
	sp, err := d.opts.Store.Policy(ctx, target)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return apitype.Errorf(apitype.CodeUnavailable, "read policy of %s: %v", target, err)
	}
	pol, err := auth.ParsePolicy(sp.Allow, sp.Deny)
	if err != nil {
		return apitype.Errorf(apitype.CodeInternal, "policy of %s is invalid: %v", target, err)
	}
	if !pol.Allows(port) {
		return apitype.Errorf(apitype.CodeForbidden, "port %d on %s is forbidden by the controller's policy (allow %q, deny %q)", port, target, sp.Allow, sp.Deny)
	}
	return nil
}

// explain turns ErrOffline into "unknown target" or "offline since".
func (d *Dialer) explain(ctx context.Context, target string, err error) error {
	if !errors.Is(err, ErrOffline) {
		return err
	}
	agents, lerr := d.opts.Store.ListAgents(ctx)
	if lerr != nil {
		return apitype.Errorf(apitype.CodeUnavailable, "target %s is offline", target)
	}
	for _, a := range agents {
		for _, t := range a.Targets {
			if t.Name == target {
				ago := d.opts.Now().Sub(a.LastSeen).Round(time.Second)
				return apitype.Errorf(apitype.CodeUnavailable, "target %s is offline: agent %s was last seen %s (%s ago)", target, a.Name, a.LastSeen.UTC().Format(time.RFC3339), ago)
			}
		}
	}
	return apitype.Errorf(apitype.CodeNotFound, "no target named %s; `burrow targets` lists the ones you can reach", target)
}

func (d *Dialer) end(s store.Session, result string) {
	now := d.opts.Now()
	s.EndedAt = &now
	s.Result = result
	d.audit.end(s)
}

// Conn is a session's connection; it counts bytes and ends the audit
// session on Close. Write goes to the target, Read comes from it.
type Conn struct {
	net.Conn
	d         *Dialer
	s         store.Session
	agentID   string // the agent serving the session
	up, down  atomic.Int64
	closeOnce atomic.Bool
	aborted   atomic.Pointer[string]
}

// Abort records why the session was cut; Close then audits it as
// "aborted: <cause>" instead of "ok".
func (c *Conn) Abort(cause error) {
	r := "aborted: " + cause.Error()
	c.aborted.CompareAndSwap(nil, &r)
}

// Read implements net.Conn.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.down.Add(int64(n))
	return n, err
}

// Write implements net.Conn.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.up.Add(int64(n))
	return n, err
}

// CloseWrite passes a half-close to the target.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("dial: %T cannot half-close", c.Conn)
}

// buffersConn is a session conn whose stream passes gRPC's buffers without
// copying (a tunnel stream); relays between two such streams use it.
type buffersConn struct{ *Conn }

type buffersStream interface {
	ReadBuffers() (mem.BufferSlice, error)
	WriteBuffers(mem.BufferSlice) error
}

// ReadBuffers reads the next frame's buffers; the caller owns them.
func (c buffersConn) ReadBuffers() (mem.BufferSlice, error) {
	data, err := c.Conn.Conn.(buffersStream).ReadBuffers()
	c.down.Add(int64(data.Len()))
	return data, err
}

// WriteBuffers sends data to the target and takes over its reference.
func (c buffersConn) WriteBuffers(data mem.BufferSlice) error {
	n := data.Len()
	err := c.Conn.Conn.(buffersStream).WriteBuffers(data)
	if err == nil {
		c.up.Add(int64(n))
	}
	return err
}

// SessionID is the audit id of the session.
func (c *Conn) SessionID() string { return c.s.ID }

// Close ends the session.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	if c.closeOnce.Swap(true) {
		return err
	}
	c.d.untrack(c)
	c.s.BytesUp, c.s.BytesDown = c.up.Load(), c.down.Load()
	c.d.opts.Metrics.closed(c.s.BytesUp, c.s.BytesDown)
	result := "ok"
	if r := c.aborted.Load(); r != nil {
		result = *r
	}
	c.d.end(c.s, result)
	c.d.log.Info("session closed", "session_id", c.s.ID, "target", c.s.Target, "bytes_up", c.s.BytesUp, "bytes_down", c.s.BytesDown)
	return err
}

type clientAddrKey struct{}

// WithClientAddr records the user's network address (as a front door
// saw it) in ctx, for the back end to pass on with the session.
func WithClientAddr(ctx context.Context, addr net.Addr) context.Context {
	if addr == nil {
		return ctx
	}
	return context.WithValue(ctx, clientAddrKey{}, addr.String())
}

// ClientAddr is the address WithClientAddr recorded, or "".
func ClientAddr(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	return s
}
