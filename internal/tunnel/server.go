package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/store"
	"github.com/burrow-dev/burrow/internal/tunnel/tunnelpb"
)

// SessionMetadata is the gRPC metadata key carrying the session id on a
// Tunnel stream.
const SessionMetadata = "burrow-session"

// ServerOptions configure a Server.
type ServerOptions struct {
	// Store keeps agents, their credentials and join tokens. Required.
	Store store.Store
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// PingInterval is how often the controller pings each agent on its Watch
	// stream; an agent silent for more than two intervals is dropped.
	// Default 15s, well under the 4-6 minute idle limit of middleboxes.
	PingInterval time.Duration
	// OpenTimeout bounds how long DialTarget waits for the agent's Tunnel
	// stream. Default 10s.
	OpenTimeout time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
	// UserCATrust, if set, returns the user CA keys (authorized_keys lines)
	// whose certificates agents' SSH servers accept, and until when each
	// is trusted (Unix seconds, 0: no end); it goes to each agent in its
	// Welcome and in PushTrust.
	UserCATrust func() (keys []string, until []int64)
	// RevokedKeyIDs, if set, returns the key ids of certificates agents'
	// SSH servers must refuse although they are valid (revoked tokens); it
	// goes with UserCATrust.
	RevokedKeyIDs func() []string
	// Org is the org's name: NAME.<org> (and NAME.burrow) name the target
	// NAME, so no target may have such a name of its own.
	Org string
	// SignHostKey, if set, certifies an agent's SSH host key (authorized
	// keys format) for target names; the certificate goes in its Welcome.
	SignHostKey func(agentID, hostKey string, names []string) (string, error)
	// OnSessionEvent, if set, receives the audit events an agent reports
	// for its sessions, with the agent id its credential proved.
	OnSessionEvent func(agentID string, ev store.SessionEvent)
	// OnPresence, if set, is called with the number of connected agents
	// whenever it changes.
	OnPresence func(n int)
}

// Server is the controller's side of the agent protocol: it implements the
// gRPC Controller service and routes dials to the agent holding a target.
type Server struct {
	tunnelpb.UnimplementedControllerServer
	opts    ServerOptions
	log     *slog.Logger
	pending *Rendezvous[opened]

	mu      sync.Mutex
	agents  map[string]*agentConn // by agent id
	targets map[string]*agentConn // by target name
}

// opened is what an agent's Tunnel stream delivers to the waiting dial.
type opened struct {
	conn *Conn
	err  string
}

// agentConn is one live Watch stream.
type agentConn struct {
	id      string
	inv     *tunnelpb.Inventory
	targets map[string]*tunnelpb.Target // accepted ones
	send    chan *tunnelpb.Instruction
	ctx     context.Context // ends with the Watch stream
	cancel  context.CancelFunc
	since   time.Time
}

// NewServer returns a Server.
func NewServer(o ServerOptions) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.PingInterval == 0 {
		o.PingInterval = 15 * time.Second
	}
	if o.OpenTimeout == 0 {
		o.OpenTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{
		opts:    o,
		log:     o.Logger,
		pending: NewRendezvous[opened](),
		agents:  make(map[string]*agentConn),
		targets: make(map[string]*agentConn),
	}
}

// Join exchanges a join token for an agent credential.
func (s *Server) Join(ctx context.Context, req *tunnelpb.JoinRequest) (*tunnelpb.JoinResponse, error) {
	secret := bearer(ctx)
	if secret == "" {
		return nil, status.Error(codes.Unauthenticated, "join: no join token given")
	}
	name := strings.ToLower(req.GetName())
	if err := ValidName(name); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "join: agent name: %v", err)
	}
	now := s.opts.Now()
	if _, err := s.opts.Store.UseJoinToken(ctx, auth.Hash(secret), now); err != nil {
		return nil, joinError(err)
	}
	id, cred := auth.NewID(), auth.NewSecret(auth.PrefixAgent)
	tok := store.Token{ID: auth.NewID(), Name: "agent " + name, Hash: auth.Hash(cred), Subject: id, Role: apitype.RoleAgent, CreatedAt: now}
	if err := s.opts.Store.CreateToken(ctx, tok); err != nil {
		return nil, status.Errorf(codes.Internal, "join: store credential: %v", err)
	}
	if err := s.opts.Store.UpsertAgent(ctx, store.Agent{ID: id, Name: name, CreatedAt: now, LastSeen: now}); err != nil {
		return nil, status.Errorf(codes.Internal, "join: store agent: %v", err)
	}
	s.log.Info("agent joined", "agent_id", id, "name", name)
	return &tunnelpb.JoinResponse{AgentId: id, Credential: cred}, nil
}

func joinError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.Unauthenticated, "join token not recognised: create a new one with `burrow join-token create`")
	case errors.Is(err, store.ErrExpired):
		return status.Error(codes.Unauthenticated, "join token has expired: create a new one with `burrow join-token create`")
	case errors.Is(err, store.ErrExhausted):
		return status.Error(codes.Unauthenticated, "join token has no uses left: create a new one with `burrow join-token create`")
	}
	return status.Errorf(codes.Internal, "join: %v", err)
}

// authAgent returns the agent id of the credential in ctx.
func (s *Server) authAgent(ctx context.Context) (string, error) {
	secret := bearer(ctx)
	if secret == "" {
		return "", status.Error(codes.Unauthenticated, "no agent credential given")
	}
	tok, err := s.opts.Store.TokenByHash(ctx, auth.Hash(secret))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", status.Error(codes.Unauthenticated, "agent credential not recognised: join again with a new join token")
	case err != nil:
		return "", status.Errorf(codes.Unavailable, "check agent credential: %v", err)
	case tok.Role != apitype.RoleAgent:
		return "", status.Error(codes.PermissionDenied, "this credential is not an agent credential")
	case tok.RevokedAt != nil:
		return "", status.Error(codes.Unauthenticated, "agent credential was revoked: join again with a new join token")
	}
	return tok.Subject, nil
}

func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			return t
		}
	}
	return ""
}

func sessionID(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(SessionMetadata); len(v) == 1 {
		return v[0]
	}
	return ""
}

// Tunnel receives an agent's stream for a session and hands it to the
// waiting dial. The handler lives as long as the session.
func (s *Server) Tunnel(stream tunnelpb.Controller_TunnelServer) error {
	ctx := stream.Context()
	agentID, err := s.authAgent(ctx)
	if err != nil {
		return err
	}
	id := sessionID(ctx)
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn := NewConn(stream, cancel, Addr("controller"), Addr("agent "+agentID+" session "+id), nil)
	conn.agentID = agentID
	if err := s.pending.Deliver(id, agentID, opened{conn: conn, err: first.GetOpenError()}); err != nil {
		conn.Close()
		return status.Errorf(codes.NotFound, "session %s: %v", id, err)
	}
	if first.GetOpenError() != "" {
		conn.Close()
		return nil
	}
	<-ctx.Done()
	if conn.Finished() {
		return nil
	}
	return status.Error(codes.Aborted, "session closed by the controller")
}

// Route implements dial.Backend: the agent holding target and its port
// policy for it.
func (s *Server) Route(target string) (dial.Route, bool) {
	ac := s.holder(target)
	if ac == nil {
		return dial.Route{}, false
	}
	t := ac.targets[target]
	return dial.Route{AgentID: ac.id, Allow: t.GetAllowPorts(), Deny: t.GetDenyPorts()}, true
}

// Connected returns the ids of connected agents.
func (s *Server) Connected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.agents))
	for id := range s.agents {
		ids = append(ids, id)
	}
	return ids
}

var _ dial.Backend = (*Server)(nil)

// holder returns the live agent stream holding target, or nil. A stream
// that has ended counts as gone at once, before its handler unregisters it.
func (s *Server) holder(target string) *agentConn {
	s.mu.Lock()
	ac := s.targets[target]
	s.mu.Unlock()
	if ac == nil || ac.ctx.Err() != nil {
		return nil
	}
	return ac
}

// DialTarget asks the agent holding target to connect to port and returns
// the session's stream as a net.Conn.
func (s *Server) DialTarget(ctx context.Context, session, target string, port int) (net.Conn, error) {
	ac := s.holder(target)
	if ac == nil {
		return nil, dial.ErrOffline
	}
	if err := s.pending.Expect(session, ac.id); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.OpenTimeout)
	defer cancel()
	stop := context.AfterFunc(ac.ctx, cancel) // the agent went away
	defer stop()
	instr := &tunnelpb.Instruction{Action: &tunnelpb.Instruction_PortForward{
		PortForward: &tunnelpb.PortForward{Session: session, Target: target, Port: uint32(port), ClientAddr: dial.ClientAddr(ctx)},
	}}
	select {
	case ac.send <- instr:
	case <-ctx.Done():
		s.pending.Cancel(session)
		return nil, s.openFailed(ac, target, ctx.Err())
	}
	o, err := s.pending.Wait(ctx, session)
	if err != nil {
		return nil, s.openFailed(ac, target, err)
	}
	if o.err != "" {
		return nil, apitype.Errorf(apitype.CodeUnavailable, "target %s port %d: %s", target, port, o.err)
	}
	return o.conn, nil
}

func (s *Server) openFailed(ac *agentConn, target string, err error) error {
	if ac.ctx.Err() != nil {
		return dial.ErrOffline
	}
	return apitype.Errorf(apitype.CodeTimeout, "target %s: the agent did not open the session in time (%v)", target, err)
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// ValidName checks a target or agent name: lowercase DNS labels separated
// by dots, at most 253 characters.
func ValidName(name string) error {
	switch {
	case len(name) > 253:
		return fmt.Errorf("%q… (%d characters) is not a valid name: at most 253", name[:32], len(name))
	case len(name) == 0 || !nameRE.MatchString(name):
		return fmt.Errorf("%q is not a valid name (lowercase letters, digits, '-' and '.', like a DNS name)", name)
	}
	return nil
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok {
		return p.Addr.String()
	}
	return ""
}
