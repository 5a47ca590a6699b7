// Package gateway is the controller's SSH front door: an SSH server
// (golang.org/x/crypto/ssh) that plain OpenSSH uses as a jump host, as in
// `ssh -J gw:2222 root@web-1`.
//
// OpenSSH's ProxyJump logs in to the gateway, then opens a `direct-tcpip`
// channel to TARGET:22. The gateway passes that channel to the one dialer
// (dial.Dialer.Dial with front door "ssh-gateway"), which authorizes,
// audits and routes it to the agent holding the target, and relays bytes
// both ways with half-close. The SSH session to the target runs end to end
// inside that channel: the gateway sees neither its keys nor its
// plaintext. A `session` channel (plain `ssh gw`) prints who you are, the
// targets and how to connect, then exits 0.
//
// Users authenticate with a burrow user certificate (key id
// "burrow:<org>:<subject>:<token id>") signed by a user CA the controller
// trusts now, valid now, whose token is neither revoked nor expired. The
// user name given to the gateway is informational. Plain public keys
// registered with `burrow keys add` log in as the token that registered
// them. The decision uses only the key being checked, and the connection
// keeps the Permissions returned for the key that finally authenticated
// (CVE-2024-45337).
//
// Failed logins are counted per source IP; an address that fails too often
// is refused for a while (see Options.MaxAuthFailures). A connection must
// finish its handshake and login within LoginGraceTime (and only so many
// may be at it at once, per IP and in all: MaxStartups), and once logged in
// must answer keepalives (KeepaliveInterval, KeepaliveTimeout), as sshd's
// LoginGraceTime and ClientAliveInterval have it.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/acceptloop"
	"github.com/burrow-dev/burrow/internal/connset"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/store"
)

// Door names this front door in the audit log.
const Door = "ssh-gateway"

// Defaults of the connection timers, as OpenSSH's sshd names them.
const (
	// LoginGraceTime bounds the SSH handshake and login of a connection,
	// from its first byte: a client that stops sending halfway (a
	// version line and nothing more) is dropped then. Logins to the
	// gateway are public keys only, but a human may still be in the loop:
	// touching a FIDO key (sk-ssh-ed25519), or confirming a key added
	// with `ssh-add -c`. sshd gives 120 s; 30 s is enough for a touch,
	// and MaxStartups bounds what silent clients can hold meanwhile.
	LoginGraceTime = 30 * time.Second
	// KeepaliveInterval is how often a logged-in connection is sent a
	// keepalive@openssh.com request (sshd's ClientAliveInterval).
	KeepaliveInterval = 30 * time.Second
	// KeepaliveTimeout is how long the client has to answer one; then the
	// connection is closed, so dead clients do not hold their channels.
	KeepaliveTimeout = 30 * time.Second
)

// Dialer is the one dialer (*dial.Dialer).
type Dialer interface {
	Dial(ctx context.Context, p dial.Principal, target string, port int, door string) (net.Conn, error)
}

// Backend tells which targets are online (*tunnel.Server).
type Backend interface {
	Route(target string) (dial.Route, bool)
}

// Options configure a Server.
type Options struct {
	Store   store.Store // required: tokens, and the targets agents reported
	Dialer  Dialer      // required
	Backend Backend     // nil: the session banner shows no online status
	// UserCAKeys returns the authorized_keys lines of the user CAs trusted
	// now (sshca.Authority.UserCAKeys). Required.
	UserCAKeys func() []string
	// HostKey is the gateway's SSH host key (LoadOrCreateHostKey).
	// Required.
	HostKey ssh.Signer
	// Org is the org's name: certificates must name it in their key id
	// (sshca.UserKeyID), and a target NAME is also NAME.<org>.burrow.
	// Required.
	Org string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Metrics (NewMetrics) counts logins and refusals; nil counts nothing.
	Metrics *Metrics
	// Now defaults to time.Now.
	Now func() time.Time
	// Limits on logins; zero fields take their defaults.
	Limits
	// KeepaliveInterval and KeepaliveTimeout: every KeepaliveInterval a
	// logged-in client is sent keepalive@openssh.com, and a connection
	// whose client does not answer within KeepaliveTimeout is closed.
	// Defaults KeepaliveInterval and KeepaliveTimeout; a negative
	// interval sends none.
	KeepaliveInterval time.Duration
	KeepaliveTimeout  time.Duration
	// DialTimeout bounds one dial to a target. Default 30s.
	DialTimeout time.Duration
}

// Limits bound what clients that have not logged in can hold or try, like
// sshd's LoginGraceTime, MaxStartups and PerSourcePenalties. An operator
// sets them with `burrow server --ssh-…` flags.
type Limits struct {
	// LoginGraceTime bounds the SSH handshake and login. Default
	// LoginGraceTime.
	LoginGraceTime time.Duration
	// MaxStartups bounds the connections still in their handshake or
	// login, all together, and PerSourceMaxStartups those from one IP;
	// more are closed at once. Defaults 1024 and 64: room for a
	// tool that opens many jumps at once from one address (Ansible with
	// many forks), a bounded share for clients that say nothing.
	MaxStartups          int
	PerSourceMaxStartups int
	// MaxAuthFailures failed logins from one IP within FailureWindow get
	// that IP refused for BlockFor. Defaults 20, 1 minute, 5 minutes.
	MaxAuthFailures int
	FailureWindow   time.Duration
	BlockFor        time.Duration
}

// DefaultLimits are what zero fields of Limits take.
func DefaultLimits() Limits {
	return Limits{
		LoginGraceTime: LoginGraceTime,
		MaxStartups:    1024, PerSourceMaxStartups: 64,
		MaxAuthFailures: 20, FailureWindow: time.Minute, BlockFor: 5 * time.Minute,
	}
}

// Validate says which limit is negative, if one is.
func (l Limits) Validate() error {
	for _, f := range []struct {
		name     string
		negative bool
	}{
		{"login grace time", l.LoginGraceTime < 0},
		{"max startups", l.MaxStartups < 0},
		{"per-source max startups", l.PerSourceMaxStartups < 0},
		{"max auth failures", l.MaxAuthFailures < 0},
		{"failure window", l.FailureWindow < 0},
		{"block time", l.BlockFor < 0},
	} {
		if f.negative {
			return fmt.Errorf("gateway: %s must not be negative (0 takes the default)", f.name)
		}
	}
	return nil
}

func (o *Options) defaults() error {
	if o.Store == nil || o.Dialer == nil || o.UserCAKeys == nil || o.HostKey == nil || o.Org == "" {
		return errors.New("gateway: Store, Dialer, UserCAKeys, HostKey and Org are required")
	}
	if err := o.Limits.Validate(); err != nil {
		return err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	setDefault(&o.KeepaliveInterval, KeepaliveInterval)
	setDefault(&o.KeepaliveTimeout, KeepaliveTimeout)
	setDefault(&o.DialTimeout, 30*time.Second)
	d := DefaultLimits()
	setDefault(&o.LoginGraceTime, d.LoginGraceTime)
	setDefault(&o.FailureWindow, d.FailureWindow)
	setDefault(&o.BlockFor, d.BlockFor)
	setDefault(&o.MaxAuthFailures, d.MaxAuthFailures)
	setDefault(&o.MaxStartups, d.MaxStartups)
	setDefault(&o.PerSourceMaxStartups, d.PerSourceMaxStartups)
	return nil
}

func setDefault[T time.Duration | int](d *T, v T) {
	if *d == 0 {
		*d = v
	}
}

// Server is the gateway's SSH server.
type Server struct {
	opts     Options
	log      *slog.Logger
	limiter  *limiter
	startups *startups

	lns   connset.Set[net.Listener]
	conns connset.Set[net.Conn] // being served, from accept on
	// hostCert offers the host key's certificate too, when set.
	hostCert atomic.Pointer[ssh.Signer]
}

// SetHostCertificate has the gateway offer cert, a host certificate of its
// host key, next to the plain key: OpenSSH clients with the host CA in an
// @cert-authority line then need no pinned key for the gateway, while
// those that pinned the plain key keep working. Later connections get it.
func (s *Server) SetHostCertificate(cert *ssh.Certificate) error {
	if cert.CertType != ssh.HostCert || !bytes.Equal(cert.Key.Marshal(), s.opts.HostKey.PublicKey().Marshal()) {
		return errors.New("gateway: the host certificate is not for this host key")
	}
	cs, err := ssh.NewCertSigner(cert, s.opts.HostKey)
	if err != nil {
		return fmt.Errorf("gateway: host certificate: %w", err)
	}
	s.hostCert.Store(&cs)
	return nil
}

// New returns a Server; Serve it on a listener or hand it connections.
func New(o Options) (*Server, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	return &Server{
		opts: o, log: o.Logger,
		limiter:  newLimiter(o.MaxAuthFailures, o.FailureWindow, o.BlockFor, o.Now),
		startups: newStartups(o.MaxStartups, o.PerSourceMaxStartups),
	}, nil
}

// HostKey is the gateway's host public key.
func (s *Server) HostKey() ssh.PublicKey { return s.opts.HostKey.PublicKey() }

// Serve accepts connections on ln until Shutdown; it then returns
// net.ErrClosed.
func (s *Server) Serve(ln net.Listener) error {
	if !s.lns.Add(ln) {
		ln.Close()
		return net.ErrClosed
	}
	defer s.lns.Done(ln)
	for {
		c, err := acceptloop.Accept(ln, s.log)
		if err != nil {
			if s.lns.Closed() {
				return net.ErrClosed
			}
			return err
		}
		if !s.conns.Add(c) {
			c.Close()
			continue
		}
		if until, tell, blocked := s.limiter.refusal(hostOf(c.RemoteAddr())); blocked {
			s.opts.Metrics.refuse(refusedRateLimited)
			s.log.Debug("ssh gateway: refusing a connection from a rate-limited address", "remote", c.RemoteAddr().String(), "told", tell)
			if !tell {
				s.conns.Done(c)
				c.Close()
				continue
			}
			go func() {
				defer s.conns.Done(c)
				defer c.Close()
				s.refuseBlocked(c, until)
			}()
			continue
		}
		go s.serveConn(c)
	}
}

// HandleConn serves one connection (already accepted) and returns when it
// ends. It is what Serve runs for each connection, minus the rate limit
// check on accept.
func (s *Server) HandleConn(c net.Conn) {
	if !s.conns.Add(c) {
		c.Close()
		return
	}
	s.serveConn(c)
}

func (s *Server) serveConn(c net.Conn) {
	defer s.conns.Done(c)
	defer c.Close()
	s.handle(c)
}

// Shutdown stops accepting, waits until ctx is done for the connections
// being served to end, then closes those left. It returns how many it had
// to close. Calling it again is harmless.
func (s *Server) Shutdown(ctx context.Context) int {
	s.lns.Close()
	return s.conns.Shutdown(ctx)
}

// Close is Shutdown with no grace: it closes every connection at once and
// waits until they have ended.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Shutdown(ctx)
	return nil
}

// hostOf is the IP of addr (its string when it has no port).
func hostOf(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}
