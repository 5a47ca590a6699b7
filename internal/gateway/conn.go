package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/sshcert"
)

// serverVersion is the gateway's SSH identification string.
const serverVersion = "SSH-2.0-burrow-gateway"

// conn is one logged-in SSH connection.
type conn struct {
	s     *Server
	sc    *ssh.ServerConn
	log   *slog.Logger
	login login // who, from the Permissions of the key that authenticated
	// overTLS says the client came through TLS on the main port (SSH over
	// TLS), so the banner's hint keeps to TLS.
	overTLS bool
	sni     string // the TLS server name the client asked for, if any
	ctx     context.Context
	wg      sync.WaitGroup // channels being served
}

// handle runs the handshake and then serves c's channels until it ends.
func (s *Server) handle(c net.Conn) {
	remote := hostOf(c.RemoteAddr())
	if !s.startups.begin(remote) {
		s.opts.Metrics.refuse(refusedStartups)
		s.log.Debug("ssh gateway: too many connections in their login, closing a new one", "remote", c.RemoteAddr().String(),
			"max_startups", s.opts.MaxStartups, "per_source_max_startups", s.opts.PerSourceMaxStartups)
		return
	}
	c.SetDeadline(time.Now().Add(s.opts.LoginGraceTime)) // a real deadline, not the injectable clock
	sc, chans, reqs, err := ssh.NewServerConn(sshcert.PreferGCM(c, s.config()))
	s.startups.end(remote)
	if err != nil {
		var ae *ssh.ServerAuthError
		if errors.As(err, &ae) {
			s.opts.Metrics.login(loginRefused)
			s.authFailed(remote, c.RemoteAddr(), ae)
		} else {
			s.opts.Metrics.login(loginFailed)
			s.log.Debug("ssh gateway: handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		}
		return
	}
	c.SetDeadline(time.Time{})
	defer sc.Close()
	s.opts.Metrics.login(loginOK)
	l := loginOf(sc.Permissions)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tc, overTLS := c.(*tls.Conn)
	var sni string
	if overTLS {
		sni = tc.ConnectionState().ServerName
	}
	cn := &conn{s: s, sc: sc, login: l, ctx: ctx, overTLS: overTLS, sni: sni,
		log: s.log.With("remote", c.RemoteAddr().String(), "subject", l.subject, "token_id", l.tokenID)}
	cn.log.Info("ssh gateway: login", "key_id", l.keyID, "user_key_id", l.userKey, "user", sc.User(), "cipher", sshcert.Cipher(sc.Conn))
	go cn.globalRequests(reqs)
	if s.opts.KeepaliveInterval > 0 {
		go cn.keepalive(s.opts.KeepaliveInterval, s.opts.KeepaliveTimeout)
	}
	for nc := range chans {
		cn.wg.Add(1)
		go func() { defer cn.wg.Done(); cn.channel(nc) }()
	}
	cancel()
	cn.wg.Wait()
	cn.log.Debug("ssh gateway: connection closed")
}

// refuseBlocked tells a client from an address that failed too many
// logins why it cannot log in, and until when: it runs the handshake, as
// a banner is the only way to show a message in OpenSSH, and refuses every
// key without looking at it or counting another failure. The handshake is
// bounded as any other login is, by the startups and the grace time, and
// only the first few connections of a block get one.
func (s *Server) refuseBlocked(c net.Conn, until time.Time) {
	remote := hostOf(c.RemoteAddr())
	if !s.startups.begin(remote) {
		return // counted as rate limited already
	}
	defer s.startups.end(remote)
	c.SetDeadline(time.Now().Add(s.opts.LoginGraceTime))
	msg := fmt.Sprintf("burrow gateway: too many failed logins from %s; this address is refused until %s (in %s). "+
		"Check the key or certificate you use (burrow cert issue gets a fresh one), then try again after that.\r\n",
		remote, until.UTC().Format("15:04:05 MST"), until.Sub(s.opts.Now()).Round(time.Second))
	cfg := s.config()
	cfg.BannerCallback = func(ssh.ConnMetadata) string { return msg }
	cfg.PublicKeyCallback = func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
		return nil, errors.New("rate limited")
	}
	if sc, _, _, err := ssh.NewServerConn(sshcert.PreferGCM(c, cfg)); err == nil {
		sc.Close() // cannot happen: no key is accepted
	}
}

// authFailed counts a failed login against its source address.
func (s *Server) authFailed(ip string, addr net.Addr, ae *ssh.ServerAuthError) {
	if s.limiter.failed(ip) {
		s.log.Warn("ssh gateway: too many failed logins, refusing the address for a while",
			"remote_ip", ip, "max_failures", s.opts.MaxAuthFailures, "window", s.opts.FailureWindow, "block_for", s.opts.BlockFor)
	}
	s.log.Info("ssh gateway: login refused", "remote", addr.String(), "err", errors.Join(ae.Errors...))
}

// config is the SSH server configuration of one connection.
func (s *Server) config() *ssh.ServerConfig {
	// OpenSSH offers the plain key after its certificate is refused. The
	// certificate's refusal said why; a second banner ("this key is not
	// registered") would only confuse, so that key, if it is not
	// registered, is refused without one. Any other refusal of it (a
	// registered key whose token was revoked) still shows. The callbacks
	// of one handshake run one at a time.
	refusedCertKeys := map[string]bool{}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			perms, err := s.checkKey(meta, key)
			if err == nil {
				return perms, nil
			}
			if cert, isCert := key.(*ssh.Certificate); isCert {
				refusedCertKeys[string(cert.Key.Marshal())] = true
			} else if be := (*ssh.BannerError)(nil); errors.As(err, &be) && errors.Is(err, errUnregisteredKey) && refusedCertKeys[string(key.Marshal())] {
				err = be.Err
			}
			return nil, err
		},
		ServerVersion: serverVersion,
	}
	cfg.Ciphers = sshcert.ServerCiphers()
	cfg.AddHostKey(s.opts.HostKey)
	if cs := s.hostCert.Load(); cs != nil {
		cfg.AddHostKey(*cs)
	}
	return cfg
}

// globalRequests answers OpenSSH's keepalives and refuses the rest (no
// remote forwarding on the gateway yet).
func (c *conn) globalRequests(reqs <-chan *ssh.Request) {
	for r := range reqs {
		if r.WantReply {
			r.Reply(r.Type == "keepalive@openssh.com", nil)
		}
	}
}

// keepalive sends keepalive@openssh.com every interval until the
// connection ends, and closes it when the client does not answer one
// within timeout. Any answer counts: OpenSSH replies with a failure.
func (c *conn) keepalive(interval, timeout time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
		dead := time.AfterFunc(timeout, func() {
			c.log.Info("ssh gateway: the client did not answer a keepalive; closing the connection", "timeout", timeout)
			c.sc.Close()
		})
		_, _, err := c.sc.SendRequest("keepalive@openssh.com", true, nil)
		dead.Stop()
		if err != nil { // the connection is closed
			return
		}
	}
}

// channel serves one new channel by its type.
func (c *conn) channel(nc ssh.NewChannel) {
	if err := c.stillValid(); err != nil {
		nc.Reject(ssh.Prohibited, err.Error())
		return
	}
	switch nc.ChannelType() {
	case "direct-tcpip":
		c.directTCPIP(nc)
	case "session":
		c.session(nc)
	default:
		nc.Reject(ssh.UnknownChannelType, "burrow gateway: channel type "+nc.ChannelType()+" is not supported")
	}
}
