package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/relay"
	"github.com/burrow-dev/burrow/internal/sshd"
	"github.com/burrow-dev/burrow/internal/tunnel"
	"github.com/burrow-dev/burrow/internal/tunnel/tunnelpb"
)

// watch runs one Watch stream until it fails. welcomed reports whether
// the controller accepted the agent on it (which resets the backoff).
func (a *Agent) watch(ctx context.Context) (welcomed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := a.client.Watch(a.authed(ctx))
	if err != nil {
		return false, err
	}
	hello := &tunnelpb.AgentMessage{Msg: &tunnelpb.AgentMessage_Hello{Hello: a.inventory()}}
	if err := stream.Send(hello); err != nil {
		return false, err
	}
	// One goroutine sends: pongs from the loop below and session events
	// from wherever they happen.
	pongs := make(chan *tunnelpb.AgentMessage, 4)
	sendErr := make(chan error, 1)
	go func() { sendErr <- a.sendLoop(ctx, stream, pongs) }()
	idle := time.AfterFunc(a.opts.IdleTimeout, cancel)
	defer idle.Stop()
	for {
		in, err := stream.Recv()
		if err != nil {
			return welcomed, err
		}
		idle.Reset(a.opts.IdleTimeout)
		switch act := in.GetAction().(type) {
		case *tunnelpb.Instruction_Welcome:
			welcomed = true
			a.welcome(act.Welcome)
		case *tunnelpb.Instruction_Ping:
			pong := &tunnelpb.AgentMessage{Msg: &tunnelpb.AgentMessage_Pong{Pong: &tunnelpb.Pong{Seq: act.Ping.GetSeq()}}}
			select {
			case pongs <- pong:
			case err := <-sendErr:
				return welcomed, err
			}
		case *tunnelpb.Instruction_PortForward:
			a.start(act.PortForward)
		case *tunnelpb.Instruction_Trust:
			a.setTrust(act.Trust)
		}
	}
}

// sendLoop is the only sender on a Watch stream after hello.
func (a *Agent) sendLoop(ctx context.Context, stream tunnelpb.Controller_WatchClient, pongs <-chan *tunnelpb.AgentMessage) error {
	for {
		var m *tunnelpb.AgentMessage
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m = <-pongs:
		case m = <-a.events:
		}
		if err := stream.Send(m); err != nil {
			return err
		}
	}
}

// sessionEvent queues an SSH audit event for the controller. Events wait
// (up to the queue's size) while the controller is unreachable; beyond
// that they are dropped and logged, never blocking a session.
func (a *Agent) sessionEvent(ctx context.Context, e sshd.Event) {
	session, _ := ctx.Value(sessionKey{}).(string)
	ev := &tunnelpb.SessionEvent{
		Session: session, AtUnixMs: time.Now().UnixMilli(), Kind: e.Kind, Login: e.Login, Detail: e.Detail,
	}
	if e.ExitStatus != nil {
		ev.HasExitStatus, ev.ExitStatus = true, int32(*e.ExitStatus)
	}
	select {
	case a.events <- &tunnelpb.AgentMessage{Msg: &tunnelpb.AgentMessage_Event{Event: ev}}:
	default:
		a.log.Warn("audit event dropped: the queue to the controller is full", "session_id", session, "kind", e.Kind)
	}
}

// sessionKey keys the session id in the context given to the SSH server.
type sessionKey struct{}

func (a *Agent) welcome(w *tunnelpb.Welcome) {
	a.log.Info("connected to the controller", "agent_id", w.GetAgentId(), "targets", w.GetAccepted())
	a.setTrust(w.GetTrust())
	a.setHostCertificate(w.GetHostCertificate())
	for name, why := range w.GetRefused() {
		a.log.Error("controller refused a target", "target", name, "reason", why)
	}
	if a.opts.OnWelcome != nil {
		a.opts.OnWelcome(w)
	}
}

// start serves one PortForward in its own goroutine. Sessions outlive the
// Watch stream that started them: a controller connection blip must not cut
// a running session (their Tunnel streams share the gRPC connection, which
// survives or fails on its own).
func (a *Agent) start(pf *tunnelpb.PortForward) {
	ctx := a.runCtx
	a.sessions.Add(1)
	a.mu.Lock()
	a.active++
	a.mu.Unlock()
	go func() {
		defer a.sessions.Done()
		defer func() { a.mu.Lock(); a.active--; a.mu.Unlock() }()
		a.forward(ctx, pf)
	}()
}

// forward connects to the target and relays it over a Tunnel stream.
func (a *Agent) forward(ctx context.Context, pf *tunnelpb.PortForward) {
	log := a.log.With("session_id", pf.GetSession(), "target", pf.GetTarget(), "port", pf.GetPort())
	builtinSSH := a.builtinSSH(pf.GetTarget(), int(pf.GetPort()))
	var local net.Conn
	var dialErr error
	if builtinSSH {
		dialErr = a.allowed(pf.GetTarget(), int(pf.GetPort()))
	} else {
		local, dialErr = a.connect(ctx, pf.GetTarget(), int(pf.GetPort()))
	}
	sctx, cancel := context.WithCancel(a.authed(ctx))
	sctx = metadata.AppendToOutgoingContext(sctx, tunnel.SessionMetadata, pf.GetSession())
	stream, err := a.client.Tunnel(sctx)
	if err == nil {
		first := &tunnelpb.Frame{Opened: dialErr == nil}
		if dialErr != nil {
			first.OpenError = dialErr.Error()
		}
		err = stream.Send(first)
	}
	if err == nil && dialErr != nil {
		endStream(stream, cancel)
	}
	if err != nil || dialErr != nil {
		cancel()
		if local != nil {
			local.Close()
		}
		log.Warn("session not opened", "err", errors.Join(dialErr, err))
		return
	}
	conn := tunnel.NewConn(stream, cancel, tunnel.Addr("agent"), clientAddr(pf), nil)
	if builtinSSH {
		a.sshd.ServeConn(context.WithValue(ctx, sessionKey{}, pf.GetSession()), conn)
		log.Debug("ssh session ended")
		return
	}
	r := relay.Join(local, conn)
	log.Debug("session ended", "bytes_out", r.AToB, "bytes_in", r.BToA, "err", r.Err)
}

// connect dials port on one of this agent's own targets, after checking the
// agent's port policy. The controller names a target; only the agent maps
// it to a host, so a controller cannot send it anywhere else.
func (a *Agent) connect(ctx context.Context, target string, port int) (net.Conn, error) {
	if err := a.allowed(target, port); err != nil {
		return nil, err
	}
	t := a.targets[target]
	d := net.Dialer{Timeout: a.opts.DialTimeout}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(t.Host, fmt.Sprint(port)))
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			err = op.Err
		}
		return nil, fmt.Errorf("connect to port %d: %v", port, err)
	}
	return c, nil
}

// allowed checks the agent's own policy for port on target.
func (a *Agent) allowed(target string, port int) error {
	t, ok := a.targets[target]
	if !ok {
		return fmt.Errorf("agent %s has no target named %s", a.self, target)
	}
	pol, _ := auth.ParsePolicy(t.Allow, t.Deny) // checked in New
	if !pol.Allows(port) {
		return fmt.Errorf("port %d on %s is forbidden by the agent's port policy", port, target)
	}
	return nil
}

// builtinSSH says whether a session goes to the agent's SSH server.
func (a *Agent) builtinSSH(target string, port int) bool {
	t, ok := a.targets[target]
	return ok && port == 22 && t.SSH == SSHBuiltin && a.sshd != nil
}

// endStream half-closes a stream and waits (at most tunnel.CloseGrace) for
// the controller to end it. Cancelling at once could drop the frame just
// sent: a reset overtakes DATA still queued in gRPC.
func endStream(stream tunnelpb.Controller_TunnelClient, cancel context.CancelFunc) {
	t := time.AfterFunc(tunnel.CloseGrace, cancel)
	defer t.Stop()
	stream.CloseSend()
	for {
		if _, err := stream.Recv(); err != nil {
			return
		}
	}
}

// clientAddr is the session's remote address: the user's, as the
// controller saw it, when it sent one.
func clientAddr(pf *tunnelpb.PortForward) net.Addr {
	if ap, err := netip.ParseAddrPort(pf.GetClientAddr()); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return tunnel.Addr("controller session " + pf.GetSession())
}
