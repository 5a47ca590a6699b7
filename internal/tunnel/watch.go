package tunnel

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/store"
	"github.com/burrow-dev/burrow/internal/tunnel/tunnelpb"
)

// Watch is an agent's control stream. The agent is online, and its targets
// reachable, exactly while this stream lives.
func (s *Server) Watch(stream tunnelpb.Controller_WatchServer) error {
	ctx := stream.Context()
	agentID, err := s.authAgent(ctx)
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	inv := first.GetHello()
	if inv == nil {
		return status.Error(codes.InvalidArgument, "watch: the first message must be hello")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ac := &agentConn{id: agentID, inv: inv, send: make(chan *tunnelpb.Instruction, 64), ctx: ctx, cancel: cancel, since: s.opts.Now()}
	welcome := s.register(ac)
	defer s.unregister(ac)
	welcome.HostCertificate = s.hostCertificate(ac)
	if err := s.remember(ctx, ac); err != nil {
		return status.Errorf(codes.Unavailable, "watch: %v", err)
	}
	log := s.log.With("agent_id", agentID, "name", inv.GetName(), "peer", peerAddr(ctx))
	log.Info("agent connected", "targets", welcome.Accepted, "refused", welcome.Refused)
	if err := stream.Send(&tunnelpb.Instruction{Action: &tunnelpb.Instruction_Welcome{Welcome: welcome}}); err != nil {
		return err
	}
	var lastPong atomic.Int64
	lastPong.Store(time.Now().UnixNano())
	go s.receiveAgent(ac, stream, &lastPong)
	err = s.sendAgent(ac, stream, &lastPong)
	log.Info("agent disconnected", "err", err)
	return err
}

// receiveAgent reads pongs and inventory updates until the stream ends.
func (s *Server) receiveAgent(ac *agentConn, stream tunnelpb.Controller_WatchServer, lastPong *atomic.Int64) {
	defer ac.cancel()
	for {
		m, err := stream.Recv()
		if err != nil {
			return
		}
		switch {
		case m.GetPong() != nil:
			lastPong.Store(time.Now().UnixNano())
		case m.GetEvent() != nil:
			s.sessionEvent(ac.id, m.GetEvent())
		case m.GetHello() != nil:
			// Inventory changes take effect on the next connection; the
			// agent reconnects when its targets change.
			s.log.Debug("agent sent inventory again", "agent_id", ac.id)
		}
	}
}

// sendAgent is the only sender on the Watch stream: instructions as they
// come, and a ping every PingInterval. An agent that misses a pong for a
// whole interval is dropped.
func (s *Server) sendAgent(ac *agentConn, stream tunnelpb.Controller_WatchServer, lastPong *atomic.Int64) error {
	tick := time.NewTicker(s.opts.PingInterval)
	defer tick.Stop()
	var seq uint64
	for {
		select {
		case <-ac.ctx.Done():
			return ac.ctx.Err()
		case in := <-ac.send:
			if err := stream.Send(in); err != nil {
				return err
			}
		case <-tick.C:
			if time.Since(time.Unix(0, lastPong.Load())) > 2*s.opts.PingInterval {
				return status.Error(codes.DeadlineExceeded, "agent stopped answering pings")
			}
			seq++
			if err := stream.Send(&tunnelpb.Instruction{Action: &tunnelpb.Instruction_Ping{Ping: &tunnelpb.Ping{Seq: seq}}}); err != nil {
				return err
			}
		}
	}
}

// register makes ac the holder of its targets. A reconnecting agent
// replaces its own previous stream at once; a target name held by another
// online agent is refused.
func (s *Server) register(ac *agentConn) *tunnelpb.Welcome {
	w := &tunnelpb.Welcome{AgentId: ac.id, Refused: map[string]string{}, Trust: s.trust()}
	ac.targets = make(map[string]*tunnelpb.Target)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.agents[ac.id]; old != nil {
		old.cancel()
		s.dropLocked(old)
	}
	s.agents[ac.id] = ac
	for _, t := range ac.inv.GetTargets() {
		if reason := s.refuseLocked(ac, t); reason != "" {
			w.Refused[t.GetName()] = reason
			continue
		}
		ac.targets[t.GetName()] = t
		s.targets[t.GetName()] = ac
		w.Accepted = append(w.Accepted, t.GetName())
	}
	s.presenceLocked()
	return w
}

func (s *Server) refuseLocked(ac *agentConn, t *tunnelpb.Target) string {
	if err := ValidName(t.GetName()); err != nil {
		return err.Error()
	}
	for _, suffix := range []string{".burrow", "." + s.opts.Org} {
		if suffix != "." && strings.HasSuffix(t.GetName(), suffix) {
			return fmt.Sprintf("a target name may not end in %s: NAME%s is another name of the target NAME", suffix, suffix)
		}
	}
	if _, err := auth.ParsePolicy(t.GetAllowPorts(), t.GetDenyPorts()); err != nil {
		return err.Error()
	}
	switch t.GetSsh() {
	case "", "builtin", "system":
	default:
		return fmt.Sprintf("unknown ssh kind %q", t.GetSsh())
	}
	if _, dup := ac.targets[t.GetName()]; dup {
		return "declared twice"
	}
	if other := s.targets[t.GetName()]; other != nil && other.id != ac.id {
		return "name already held by online agent " + other.id
	}
	return ""
}

func (s *Server) unregister(ac *agentConn) {
	s.mu.Lock()
	if s.agents[ac.id] == ac {
		delete(s.agents, ac.id)
		s.dropLocked(ac)
		s.presenceLocked()
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ac.ctx), 5*time.Second)
	defer cancel()
	if err := s.opts.Store.TouchAgent(ctx, ac.id, s.opts.Now()); err != nil {
		s.log.Warn("record agent last seen", "agent_id", ac.id, "err", err)
	}
}

func (s *Server) dropLocked(ac *agentConn) {
	for name := range ac.targets {
		if s.targets[name] == ac {
			delete(s.targets, name)
		}
	}
}

func (s *Server) presenceLocked() {
	if s.opts.OnPresence != nil {
		s.opts.OnPresence(len(s.agents))
	}
}

// remember stores the agent's inventory and accepted targets.
func (s *Server) remember(ctx context.Context, ac *agentConn) error {
	old, err := s.opts.Store.Agent(ctx, ac.id)
	if err != nil {
		return err
	}
	a := store.Agent{
		ID: ac.id, Name: old.Name, CreatedAt: old.CreatedAt, LastSeen: s.opts.Now(),
		OS: ac.inv.GetOs(), Arch: ac.inv.GetArch(), Version: ac.inv.GetVersion(),
		Labels: maps.Clone(ac.inv.GetLabels()), HostKey: ac.inv.GetHostKey(),
	}
	for _, t := range ac.inv.GetTargets() {
		if _, ok := ac.targets[t.GetName()]; ok {
			a.Targets = append(a.Targets, store.Target{Name: t.GetName(), Host: t.GetHost(), Allow: t.GetAllowPorts(), Deny: t.GetDenyPorts(), SSH: t.GetSsh()})
		}
	}
	return s.opts.Store.UpsertAgent(ctx, a)
}

// trust is what agents' SSH servers should accept now.
func (s *Server) trust() *tunnelpb.Trust {
	t := &tunnelpb.Trust{}
	if s.opts.UserCATrust != nil {
		t.UserCaKeys, t.UserCaTrustedUntil = s.opts.UserCATrust()
	}
	if s.opts.RevokedKeyIDs != nil {
		t.RevokedKeyIds = s.opts.RevokedKeyIDs()
	}
	return t
}

// PushTrust sends the current trust to every connected agent (after a CA
// rotation or a revocation), each with a host certificate freshly signed
// by the current host CA. Agents that are offline get both in their next
// Welcome.
func (s *Server) PushTrust() {
	t := s.trust()
	s.mu.Lock()
	agents := slices.Collect(maps.Values(s.agents))
	s.mu.Unlock()
	for _, ac := range agents {
		at := proto.CloneOf(t)
		at.HostCertificate = s.hostCertificate(ac)
		select {
		case ac.send <- &tunnelpb.Instruction{Action: &tunnelpb.Instruction_Trust{Trust: at}}:
		case <-ac.ctx.Done():
		default:
			// A full queue means a stuck stream; the ping deadline drops
			// it and the agent gets the trust again in its next Welcome.
			ac.cancel()
		}
	}
}

// sessionEvent hands an agent's audit event to the dialer, which keeps it
// only for a session it routed to this very agent. The controller's clock
// stamps it: agents' clocks may be off.
func (s *Server) sessionEvent(agentID string, ev *tunnelpb.SessionEvent) {
	if s.opts.OnSessionEvent == nil {
		return
	}
	e := store.SessionEvent{SessionID: ev.GetSession(), Kind: ev.GetKind(), Login: ev.GetLogin(), Detail: ev.GetDetail()}
	if ev.GetHasExitStatus() {
		n := int(ev.GetExitStatus())
		e.ExitStatus = &n
	}
	s.opts.OnSessionEvent(agentID, e)
}

// hostCertificate signs the agent's host key for its accepted targets
// served by its built-in SSH server ("" when there are none or no signer).
func (s *Server) hostCertificate(ac *agentConn) string {
	if s.opts.SignHostKey == nil || ac.inv.GetHostKey() == "" {
		return ""
	}
	var names []string
	for name, t := range ac.targets {
		if t.GetSsh() == "builtin" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	cert, err := s.opts.SignHostKey(ac.id, ac.inv.GetHostKey(), names)
	if err != nil {
		s.log.Warn("cannot certify the agent's host key", "agent_id", ac.id, "err", err)
		return ""
	}
	return cert
}
