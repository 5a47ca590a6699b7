// Package sshd is the agent's SSH server. It serves SSH over connections
// the agent hands it (tunnel streams for a target's virtual port 22) and
// listens on no socket of its own. Users authenticate only with OpenSSH
// user certificates signed by a CA the controller told the agent to trust;
// the server checks them offline. It supports what OpenSSH clients use:
// shells and commands with or without a PTY, environment, window changes,
// signals, exit status and exit signal, the sftp subsystem (so scp, sftp
// and rsync work), local and remote TCP forwarding, and agent forwarding.
package sshd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/connset"
	"github.com/burrow-dev/burrow/internal/sshcert"
)

// Options configure a Server.
type Options struct {
	// OnEvent, if set, is told of logins, programs, forwards and exits,
	// with the context given to ServeConn. It must not block for long.
	OnEvent func(ctx context.Context, e Event)
	// HostKey is the server's host key. Required.
	HostKey ssh.Signer
	// Trust returns the user CA keys whose certificates are accepted now.
	// Required; an empty result refuses everyone.
	Trust func() []ssh.PublicKey
	// Revoked, if set, reports whether a certificate's key id was revoked
	// (its token was); such certificates are refused although valid.
	Revoked func(keyID string) bool
	// Name is the target name, used in messages ("user x does not exist
	// on NAME").
	Name string
	// DialTCP connects a direct-tcpip channel (ssh -L) after applying the
	// agent's policy. Nil refuses every local forward.
	DialTCP func(ctx context.Context, host string, port int) (net.Conn, error)
	// SFTPCommand runs the sftp server as another user: a command that
	// serves SFTP on its stdin and stdout (burrow re-executes itself).
	// Without it, sftp is served in process, for the agent's own user only.
	SFTPCommand []string
	// EnvAllow lists extra environment variables a client may set; a
	// trailing * matches a prefix. LANG, LC_*, TERM and COLORTERM always
	// may be set.
	EnvAllow []string
	// HandshakeTimeout bounds the SSH handshake and authentication.
	// Default 30s.
	HandshakeTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now; certificates are checked against it.
	Now func() time.Time
}

// Server serves SSH connections. It is safe for concurrent use.
type Server struct {
	opts   Options
	log    *slog.Logger
	config *ssh.ServerConfig
	self   *user.User // the user the agent runs as
	root   bool

	mu    sync.Mutex            // guards config
	conns connset.Set[net.Conn] // being served, from the handshake on
}

// Permission extensions carried from the certificate to the connection.
const (
	extKeyID = "burrow-key-id"
	extLogin = "burrow-login"
)

// New returns a Server.
func New(o Options) (*Server, error) {
	if o.HostKey == nil || o.Trust == nil {
		return nil, errors.New("sshd: a host key and a trust source are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 30 * time.Second
	}
	resetIgnoredSignals()
	self, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("sshd: who am I: %w", err)
	}
	s := &Server{opts: o, log: o.Logger, self: self, root: os.Geteuid() == 0}
	s.config = s.newConfig()
	s.config.AddHostKey(o.HostKey)
	return s, nil
}

// newConfig is the server configuration without host keys.
func (s *Server) newConfig() *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{PublicKeyCallback: s.authenticate, ServerVersion: ServerVersion}
	cfg.Ciphers = sshcert.ServerCiphers()
	return cfg
}

// SetHostCertificate makes the server also offer its host key as cert, a
// host certificate from the controller's host CA, so that OpenSSH trusts it
// through one @cert-authority line. Later connections use it.
func (s *Server) SetHostCertificate(cert *ssh.Certificate) error {
	if cert.CertType != ssh.HostCert || string(cert.Key.Marshal()) != string(s.opts.HostKey.PublicKey().Marshal()) {
		return errors.New("sshd: the host certificate is not for this host key")
	}
	cs, err := ssh.NewCertSigner(cert, s.opts.HostKey)
	if err != nil {
		return err
	}
	cfg := s.newConfig()
	cfg.AddHostKey(s.opts.HostKey)
	cfg.AddHostKey(cs)
	s.mu.Lock()
	s.config = cfg
	s.mu.Unlock()
	return nil
}

// resetIgnoredSignals lets SIGHUP and SIGINT reach programs again when the
// agent was started with them ignored (by nohup, or as a background job of
// a script): an ignored signal stays ignored across exec, and the Go
// runtime resets in a child only the signals it handles. A shell would
// then survive its hangup and Ctrl-C would not interrupt. Handling them
// into a channel nobody reads keeps the agent itself as deaf to them as
// it was.
func resetIgnoredSignals() {
	resetSignals.Do(func() {
		for _, sig := range []os.Signal{syscall.SIGHUP, syscall.SIGINT} {
			if signal.Ignored(sig) {
				signal.Notify(make(chan os.Signal, 1), sig)
			}
		}
	})
}

var resetSignals sync.Once

// authenticate accepts a user certificate signed by a trusted CA, valid
// now, naming the requested login among its principals, for a login that
// exists here and that this agent can switch to. It decides from the key
// alone: x/crypto/ssh may call it for keys the client never proves it
// holds, and the Permissions it returns are the ones the connection keeps
// only for the key that finally authenticated.
func (s *Server) authenticate(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	cert, ok := key.(*ssh.Certificate)
	if !ok {
		// Named, for OpenSSH may offer it before a certificate that then
		// logs in.
		return nil, refuse("burrow: " + sshcert.KeyName(key) + ": only burrow certificates are accepted here; connect with `burrow ssh`, or run `burrow ssh-config` (or `burrow cert issue`) for OpenSSH")
	}
	if cert.CertType != ssh.UserCert {
		return nil, refuse("burrow: this is not a user certificate")
	}
	if !s.trusted(cert.SignatureKey) {
		return nil, refuse("burrow: the certificate is not signed by a CA this target trusts; get a new one with `burrow ssh` (or `burrow ssh-config`)")
	}
	if err := s.checkValidity(cert); err != nil {
		return nil, err
	}
	if s.opts.Revoked != nil && s.opts.Revoked(cert.KeyId) {
		return nil, refuse("burrow: this certificate's token was revoked")
	}
	// ssh.CertChecker takes a certificate without principals as valid for
	// every login; like OpenSSH with TrustedUserCAKeys, require the login
	// among them.
	login := meta.User()
	if !hasPrincipal(cert, login) {
		return nil, refuse(fmt.Sprintf("burrow: your certificate does not allow logging in as %q (it allows %q)", login, cert.ValidPrincipals))
	}
	// x/crypto enforces source-address too, but silently; say what it wants.
	// A tunnel connection's remote address is the user's (protocol.md).
	if err := sshcert.CheckSourceAddress(cert, meta.RemoteAddr()); err != nil {
		return nil, refuse("burrow: " + err.Error())
	}
	checker := ssh.CertChecker{Clock: s.opts.Now, IsUserAuthority: s.trusted}
	perms, err := checker.Authenticate(meta, key)
	if err != nil {
		return nil, refuse("burrow: certificate refused: " + err.Error())
	}
	if err := s.canLogin(login); err != nil {
		return nil, refuse("burrow: " + err.Error())
	}
	ext := maps.Clone(perms.Extensions) // not the certificate's own map
	if ext == nil {
		ext = map[string]string{}
	}
	ext[extKeyID] = cert.KeyId
	ext[extLogin] = login
	return &ssh.Permissions{CriticalOptions: perms.CriticalOptions, Extensions: ext}, nil
}

// checkValidity refuses a certificate outside its validity window with a
// message that says which end was missed.
func (s *Server) checkValidity(cert *ssh.Certificate) error {
	if err := sshcert.CheckValidity(cert, s.opts.Now()); err != nil {
		return refuse("burrow: " + err.Error())
	}
	return nil
}

func (s *Server) trusted(auth ssh.PublicKey) bool { return sshcert.Signed(auth, s.opts.Trust()) }

func hasPrincipal(cert *ssh.Certificate, login string) bool {
	for _, p := range cert.ValidPrincipals {
		if p == login {
			return true
		}
	}
	return false
}

// canLogin says whether this agent can start processes as login.
func (s *Server) canLogin(login string) error {
	u, err := user.Lookup(login)
	if err != nil {
		return fmt.Errorf("user %q does not exist on %s", login, s.opts.Name)
	}
	if !s.root && u.Uid != s.self.Uid {
		return fmt.Errorf("the agent on %s runs as %s, not root, so it can only log you in as %s", s.opts.Name, s.self.Username, s.self.Username)
	}
	return nil
}

// refuse makes an authentication error whose message OpenSSH shows.
func refuse(msg string) error {
	return &ssh.BannerError{Err: errors.New(msg), Message: msg + "\r\n"}
}

// ServeConn serves one SSH connection until it ends, ctx is done or the
// server is closed. The caller keeps ownership of nothing: c is closed
// when ServeConn returns. After Close it closes c at once.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	if !s.conns.Add(c) {
		return
	}
	defer s.conns.Done(c)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	sc, chans, reqs, err := s.handshake(c)
	if err != nil {
		s.log.Info("ssh handshake failed", "remote", c.RemoteAddr(), "err", err)
		return
	}
	cn := &conn{srv: s, sc: sc, ctx: ctx, parent: parent, login: sc.Permissions.Extensions[extLogin], perms: sc.Permissions}
	cn.log = s.log.With("login", cn.login, "key_id", sc.Permissions.Extensions[extKeyID])
	cn.log.Info("ssh login", "cipher", sshcert.Cipher(sc.Conn))
	cn.event(EventLogin, sc.Permissions.Extensions[extKeyID], nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); cn.globalRequests(reqs) }()
	for nc := range chans {
		wg.Add(1)
		go func() { defer wg.Done(); cn.channel(nc) }()
	}
	cancel()
	cn.closeForwards()
	wg.Wait()
	cn.log.Info("ssh logout")
}

// handshake runs the SSH handshake and authentication within
// Options.HandshakeTimeout. A timer closes c rather than a deadline, as
// not every net.Conn honours deadlines.
func (s *Server) handshake(c net.Conn) (*ssh.ServerConn, <-chan ssh.NewChannel, <-chan *ssh.Request, error) {
	t := time.AfterFunc(s.opts.HandshakeTimeout, func() { c.Close() })
	defer t.Stop()
	s.mu.Lock()
	cfg := *s.config // this connection's own copy, for the callback below
	s.mu.Unlock()
	// OpenSSH offers the plain key after its certificate is refused. The
	// certificate's refusal said why; a second banner ("only burrow
	// certificates") would only confuse, so the plain key is refused
	// silently then. The callbacks of one handshake run one at a time.
	var certRefused bool
	cfg.PublicKeyCallback = func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		if _, isCert := key.(*ssh.Certificate); !isCert && certRefused {
			return nil, errors.New("a plain key after a refused certificate")
		}
		perms, err := s.authenticate(meta, key)
		if _, isCert := key.(*ssh.Certificate); isCert && err != nil {
			certRefused = true
		}
		return perms, err
	}
	return ssh.NewServerConn(sshcert.PreferGCM(c, &cfg))
}

// Close ends every connection being served, including those still in
// their handshake, and waits until they are done: their programs have
// been hung up on and reported. Later ServeConn calls close their
// connection at once. Close may be called more than once.
func (s *Server) Close() {
	s.conns.Close()
	s.conns.Wait()
}

// conn is one authenticated SSH connection.
type conn struct {
	srv    *Server
	sc     *ssh.ServerConn
	ctx    context.Context
	parent context.Context // ServeConn's, for events
	login  string
	perms  *ssh.Permissions
	log    *slog.Logger

	mu       sync.Mutex
	forwards map[string]net.Listener // tcpip-forward listeners by "host:port"
}

func (c *conn) permits(ext string) bool {
	_, ok := c.perms.Extensions[ext]
	return ok
}

func (c *conn) globalRequests(reqs <-chan *ssh.Request) {
	for r := range reqs {
		switch r.Type {
		case "keepalive@openssh.com", "no-more-sessions@openssh.com":
			r.Reply(true, nil)
		case "tcpip-forward":
			ok, payload := c.tcpipForward(r.Payload)
			r.Reply(ok, payload)
		case "cancel-tcpip-forward":
			r.Reply(c.cancelTCPIPForward(r.Payload), nil)
		default:
			r.Reply(false, nil)
		}
	}
}

func (c *conn) channel(nc ssh.NewChannel) {
	switch nc.ChannelType() {
	case "session":
		c.session(nc)
	case "direct-tcpip":
		c.directTCPIP(nc)
	default:
		nc.Reject(ssh.UnknownChannelType, "burrow: channel type "+strconv.Quote(nc.ChannelType())+" is not supported")
	}
}
