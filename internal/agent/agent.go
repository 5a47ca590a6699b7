// Package agent is burrow's dial-out agent. It joins the controller once
// with a join token, keeps a gRPC Watch stream open (reconnecting forever
// with jittered backoff), and answers each PortForward instruction by
// connecting to one of its own declared targets and opening a Tunnel stream
// back to the controller. It never listens on a socket and never imports
// the controller's store or API.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/dirlock"
	"github.com/burrow-dev/burrow/internal/sshd"
	"github.com/burrow-dev/burrow/internal/tlsutil"
	"github.com/burrow-dev/burrow/internal/tunnel"
	"github.com/burrow-dev/burrow/internal/tunnel/tunnelpb"
)

// Target is a place this agent can reach.
type Target struct {
	Name  string // how users name it
	Host  string // where the agent connects; "localhost" for itself
	Allow string // allowed ports ("" = all)
	Deny  string // denied ports
	SSH   string // SSHSystem if the host runs its own sshd on port 22
}

// Options configure an Agent.
type Options struct {
	// URL of the controller, "https://host:port". Required.
	URL string
	// Token is a join token, used only when DataDir holds no credential.
	Token string
	// DataDir keeps the agent's credential (agent.json). Required.
	DataDir string
	// Name of the agent and of its own machine as a target. Default: the
	// lowercased hostname.
	Name string
	// Allow and Deny are the port policy of the agent's own machine.
	Allow, Deny string
	// SSH says who answers port 22 of the agent's own machine: "builtin"
	// (default: the agent's SSH server, on no socket), "system" (the
	// machine's sshd) or "off".
	SSH string
	// SFTPCommand runs an SFTP server on stdin/stdout; the built-in SSH
	// server runs it as the login user when that is not the agent's user.
	SFTPCommand []string
	// SSHEnvAllow lists extra environment variables SSH clients may set.
	SSHEnvAllow []string
	// SSHDUserCAFile and SSHDKRLFile, if set, are files the agent keeps
	// for the machine's own sshd (TrustedUserCAKeys and RevokedKeys): the
	// user CA keys and a KRL of the revoked certificate key ids, rewritten
	// whenever the trust changes.
	SSHDUserCAFile, SSHDKRLFile string
	// Targets are other hosts reachable from the agent (VMs, databases).
	Targets []Target
	// Labels describe the agent in inventory.
	Labels map[string]string
	// InProcessDial, if set, connects to a controller in this same process
	// (burrow dev: Controller.DialInProcess), and the connection gets no
	// TLS: it must never leave the process. URL still names the controller.
	InProcessDial func(ctx context.Context, addr string) (net.Conn, error)
	// TLS says how to trust the controller; a fingerprint in Token or in
	// the saved state is used when neither field is set.
	TLS tlsutil.ClientOptions
	// Version is reported in inventory.
	Version string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock that ends retired CA keys' trust; default time.Now.
	Now func() time.Time
	// DialTimeout bounds a local connection to a target. Default 5s, below
	// the controller's 10s open timeout, so the user sees the agent's reason.
	DialTimeout time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay. Defaults 250ms
	// and 30s.
	MinBackoff, MaxBackoff time.Duration
	// IdleTimeout: a Watch stream silent this long (no ping) is dropped and
	// redialled. Default 60s.
	IdleTimeout time.Duration
	// OnWelcome, if set, is called each time the controller accepts the
	// agent (tests wait on it).
	OnWelcome func(*tunnelpb.Welcome)
}

// Agent is a running agent.
type Agent struct {
	opts    Options
	log     *slog.Logger
	targets map[string]Target
	self    string
	addr    string // host:port of the controller
	state   *State
	client  tunnelpb.ControllerClient

	hostKey   ssh.Signer
	sshd      *sshd.Server
	userCAs   atomic.Pointer[[]ssh.PublicKey]
	revoked   atomic.Pointer[map[string]bool] // certificate key ids
	sshdFiles *sshdFiles                      // for the machine's own sshd; nil if none
	// trustMu orders trust changes: from the controller, and the timer
	// that drops a retired CA key when its overlap ends.
	trustMu    sync.Mutex
	trustTimer *time.Timer
	trustGen   uint64 // counts trust changes; a timer from an older one does nothing

	events chan *tunnelpb.AgentMessage // audit events for the controller

	runCtx   context.Context // ends when Run's context does; sessions use it
	sessions sync.WaitGroup
	mu       sync.Mutex
	active   int
}

func (a *Agent) now() time.Time { return a.opts.Now() }

// New checks o and returns an Agent; Run starts it.
func New(o Options) (*Agent, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("agent: controller URL %q must look like https://host:port", o.URL)
	}
	a := &Agent{opts: o, log: o.Logger, addr: hostPort(u), self: o.Name, targets: map[string]Target{}, events: make(chan *tunnelpb.AgentMessage, 1024)}
	own := Target{Name: o.Name, Host: "localhost", Allow: o.Allow, Deny: o.Deny}
	switch o.SSH {
	case "", SSHBuiltin:
		own.SSH = SSHBuiltin
	case SSHSystem:
		own.SSH = SSHSystem
	case "off":
	default:
		return nil, fmt.Errorf("agent: --ssh must be builtin, system or off, not %q", o.SSH)
	}
	if err := a.addTarget(own); err != nil {
		return nil, err
	}
	if o.SSHDUserCAFile != "" || o.SSHDKRLFile != "" {
		a.sshdFiles = &sshdFiles{caFile: o.SSHDUserCAFile, krlFile: o.SSHDKRLFile, agent: o.Name,
			log: o.Logger.With("component", "sshd-files"), now: o.Now}
	}
	for _, t := range o.Targets {
		if t.SSH != SSHOff && t.SSH != SSHSystem {
			return nil, fmt.Errorf("target %s: ssh may only be %q (the host runs its own sshd)", t.Name, SSHSystem)
		}
		if err := a.addTarget(t); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (o *Options) defaults() error {
	if o.DataDir == "" {
		return errors.New("agent: a data directory is required")
	}
	if o.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("agent: hostname: %w", err)
		}
		o.Name = strings.ToLower(h)
	}
	if err := tunnel.ValidName(o.Name); err != nil {
		return fmt.Errorf("agent name: %w; pass --name", err)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.DialTimeout = cmpOr(o.DialTimeout, 5*time.Second)
	o.MinBackoff = cmpOr(o.MinBackoff, 250*time.Millisecond)
	o.MaxBackoff = cmpOr(o.MaxBackoff, 30*time.Second)
	o.IdleTimeout = cmpOr(o.IdleTimeout, 60*time.Second)
	return nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (a *Agent) addTarget(t Target) error {
	if err := tunnel.ValidName(t.Name); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if _, dup := a.targets[t.Name]; dup {
		return fmt.Errorf("target %s is declared twice", t.Name)
	}
	if _, err := auth.ParsePolicy(t.Allow, t.Deny); err != nil {
		return fmt.Errorf("target %s: %w", t.Name, err)
	}
	if t.Host == "" {
		return fmt.Errorf("target %s has no host", t.Name)
	}
	a.targets[t.Name] = t
	return nil
}

func hostPort(u *url.URL) string {
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return u.Host
}

// Run joins if needed and serves until ctx ends. It returns an error only
// when retrying cannot help (a refused join token, a bad data directory).
func (a *Agent) Run(ctx context.Context) error {
	// Two agents on one data dir would be one agent connected twice.
	unlock, err := dirlock.Lock(a.opts.DataDir, "burrow agent")
	switch {
	case errors.Is(err, dirlock.ErrUnlockable): // a read-only data dir still serves
		a.log.Warn("running without a lock on the data directory; make sure no other agent uses it", "err", err)
	case err != nil:
		return err
	}
	defer unlock()
	st, err := LoadState(a.opts.DataDir)
	if err != nil {
		return err
	}
	a.state = st
	a.runCtx = ctx
	defer a.stopTrustTimer()
	// The cached trust serves until the controller sends its own: the SSH
	// server checks certificates with it, and sshd's files are written
	// from it even when the controller cannot be reached.
	if len(st.UserCAKeys) > 0 {
		a.setTrust(&tunnelpb.Trust{UserCaKeys: st.UserCAKeys, UserCaTrustedUntil: st.UserCATrustedUntil, RevokedKeyIds: st.RevokedKeyIDs})
	}
	if a.targets[a.self].SSH == SSHBuiltin {
		if err := a.startSSH(); err != nil {
			return err
		}
		defer a.sshd.Close()
	}
	conn, err := a.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	a.client = tunnelpb.NewControllerClient(conn)
	if err := a.join(ctx); err != nil {
		return err
	}
	a.loop(ctx)
	a.sessions.Wait()
	return nil
}

// loop keeps a Watch stream open until ctx ends.
func (a *Agent) loop(ctx context.Context) {
	b := backoff{min: a.opts.MinBackoff, max: a.opts.MaxBackoff}
	for ctx.Err() == nil {
		welcomed, err := a.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		if welcomed {
			b.reset()
		}
		delay := b.next()
		a.log.Warn("controller connection lost; reconnecting", "err", err, "in", delay.Round(time.Millisecond))
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
}

// join exchanges the join token for a credential unless one is saved.
// Network failures are retried forever; refusals are returned.
func (a *Agent) join(ctx context.Context) error {
	if a.state.Credential != "" {
		return nil
	}
	jt, err := auth.ParseJoinToken(a.opts.Token)
	if err != nil {
		return fmt.Errorf("agent has no credential in %s and %w", a.opts.DataDir, err)
	}
	b := backoff{min: a.opts.MinBackoff, max: a.opts.MaxBackoff}
	for {
		resp, err := a.client.Join(withBearer(ctx, jt.Secret), &tunnelpb.JoinRequest{Name: a.self})
		if err == nil {
			a.state.AgentID, a.state.Credential = resp.GetAgentId(), resp.GetCredential()
			a.log.Info("joined the controller", "agent_id", a.state.AgentID)
			return a.state.Save(a.opts.DataDir)
		}
		if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
			return fmt.Errorf("join refused: %s", status.Convert(err).Message())
		}
		delay := b.next()
		a.log.Warn("cannot reach the controller to join; retrying", "err", err, "in", delay.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// Active reports the number of sessions being served.
func (a *Agent) Active() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.active
}

func (a *Agent) inventory() *tunnelpb.Inventory {
	h, _ := os.Hostname()
	inv := &tunnelpb.Inventory{
		Name: a.self, Hostname: h, Os: runtime.GOOS, Arch: runtime.GOARCH,
		Version: a.opts.Version, Labels: a.opts.Labels,
	}
	for _, t := range a.targets {
		inv.Targets = append(inv.Targets, &tunnelpb.Target{Name: t.Name, Host: t.Host, AllowPorts: t.Allow, DenyPorts: t.Deny, Ssh: t.SSH})
	}
	if a.hostKey != nil {
		inv.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(a.hostKey.PublicKey())))
	}
	return inv
}

// backoff is jittered exponential backoff.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

func (b *backoff) next() time.Duration {
	b.cur = min(max(b.cur*2, b.min), b.max)
	return b.cur/2 + rand.N(b.cur/2+1) // "equal jitter": [cur/2, cur]
}

func (b *backoff) reset() { b.cur = 0 }
