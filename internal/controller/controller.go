// Package controller is the composition root of `burrow server`: one TLS
// listener carrying gRPC for agents and HTTP for users, the store, the SSH
// user CA, the agent back end (tunnel.Server), the one dialer and the REST
// API, with graceful shutdown that drains sessions for a bounded time.
package controller

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/crypto/ssh"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/burrow-dev/burrow/internal/api"
	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/gateway"
	"github.com/burrow-dev/burrow/internal/sshca"
	"github.com/burrow-dev/burrow/internal/store"
	"github.com/burrow-dev/burrow/internal/store/sqlite"
	"github.com/burrow-dev/burrow/internal/tlsutil"
	"github.com/burrow-dev/burrow/internal/tunnel"
	"github.com/burrow-dev/burrow/internal/tunnel/tunnelpb"
)

// Options configure a Controller.
type Options struct {
	// Listen is the address of the one port. Default "127.0.0.1:8443".
	Listen string
	// DataDir holds the database, the TLS certificate and admin-token.
	// Required.
	DataDir string
	// TLSCert and TLSKey name a certificate to use instead of the
	// self-signed one made in DataDir.
	TLSCert, TLSKey string
	// Hostnames go into the self-signed certificate (besides localhost and
	// 127.0.0.1).
	Hostnames []string
	// Store overrides the SQLite store in DataDir (tests, PostgreSQL).
	Store store.Store
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// DrainTimeout bounds how long shutdown waits for sessions. Default 10s.
	DrainTimeout time.Duration
	// PingInterval is the agent keepalive (see tunnel.ServerOptions).
	PingInterval time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
	// SSHListen is the address of the gateway's plain SSH port (`ssh -J`);
	// "" (the default) serves none. Its ed25519 host key is kept in
	// DataDir (gateway.HostKeyFile).
	SSHListen string
	// SSHLimits bound logins on the gateway's SSH front door, on either
	// port; zero fields take gateway's defaults.
	SSHLimits gateway.Limits
	// SSHCertPolicy is what user certificates may grant: a shorter
	// maximum lifetime, permit-* extensions left out.
	SSHCertPolicy sshca.Policy
	// Org is the org's name. It is fixed at the first start, in the store,
	// as it is in every user certificate's key id: "" takes the stored
	// one (DefaultOrg on a first start), and another name than the stored
	// one is refused.
	Org string
	// TrustRefresh is how often the controller re-reads the SSH CAs and
	// the revoked tokens from the store and tells agents of any change
	// (rotations by another controller, overlaps running out). Default 30s.
	TrustRefresh time.Duration
}

// Controller is a running controller.
type Controller struct {
	opts        Options
	log         *slog.Logger
	ln          net.Listener
	st          store.Store
	ca          *sshca.Authority
	hostCA      *sshca.Authority
	tlsCfg      *tls.Config
	fingerprint string
	tunnels     *tunnel.Server
	dialer      *dial.Dialer
	api         *api.API
	grpc        *grpc.Server
	http        *http.Server
	sshGateway  *gateway.Server
	sshLn       net.Listener  // nil without SSHListen
	inProcess   *chanListener // gRPC connections from DialInProcess
	metrics     *prometheus.Registry
	org         string // Options.Org, as stored
	trust       trustState
	gwCert      gatewayCert
}

// New opens the store, loads or makes the TLS certificate and listens.
// Run serves; Close releases everything if Run is never called.
func New(o Options) (*Controller, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	c := &Controller{opts: o, log: o.Logger}
	c.inProcess = newChanListener(inProcessAddr{})
	if err := c.setupTLS(); err != nil {
		return nil, err
	}
	if err := c.setupStore(); err != nil {
		return nil, err
	}
	if err := c.setupOrg(); err != nil {
		c.st.Close()
		return nil, err
	}
	if err := c.setupCA(); err != nil {
		c.st.Close()
		return nil, err
	}
	c.wire()
	if err := c.setupSSHGateway(); err != nil {
		c.dialer.Close()
		c.st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		c.closeSSHListener()
		c.dialer.Close()
		c.st.Close()
		return nil, fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	c.ln = ln
	return c, nil
}

// setupSSHGateway makes the SSH front door, served on the main port (SSH
// told from TLS by its first bytes, and SSH over TLS) and, when SSHListen
// is set, on a plain SSH port of its own.
func (c *Controller) setupSSHGateway() error {
	key, err := gateway.LoadOrCreateHostKey(filepath.Join(c.opts.DataDir, gateway.HostKeyFile))
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	gw, err := gateway.New(gateway.Options{
		Store: c.st, Dialer: c.dialer, Backend: c.tunnels, UserCAKeys: c.ca.UserCAKeys, HostKey: key, Org: c.org,
		Logger: c.log, Now: c.opts.Now, Metrics: gateway.NewMetrics(c.metrics), Limits: c.opts.SSHLimits,
	})
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	c.sshGateway = gw
	c.certifyGateway()
	if c.opts.SSHListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", c.opts.SSHListen)
	if err != nil {
		return fmt.Errorf("listen on %s (SSH): %w", c.opts.SSHListen, err)
	}
	c.sshLn = ln
	return nil
}

func (c *Controller) closeSSHListener() {
	if c.sshLn != nil {
		c.sshLn.Close()
	}
}

// SSHAddr is the address of the gateway's SSH port (nil without one).
func (c *Controller) SSHAddr() net.Addr {
	if c.sshLn == nil {
		return nil
	}
	return c.sshLn.Addr()
}

func (o *Options) defaults() error {
	if o.DataDir == "" {
		return errors.New("controller: a data directory is required")
	}
	if err := o.SSHLimits.Validate(); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if err := o.SSHCertPolicy.Validate(); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if o.Org != "" {
		if err := sshca.CheckOrg(o.Org); err != nil {
			return fmt.Errorf("controller: org: %w", err)
		}
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("controller: data directory: %w", err)
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8443"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TrustRefresh == 0 {
		o.TrustRefresh = 30 * time.Second
	}
	return nil
}

func (c *Controller) setupTLS() error {
	var cert tls.Certificate
	var err error
	if c.opts.TLSCert != "" {
		cert, err = tls.LoadX509KeyPair(c.opts.TLSCert, c.opts.TLSKey)
	} else {
		hosts := append([]string{"localhost", "127.0.0.1", "::1"}, c.opts.Hostnames...)
		if h, herr := os.Hostname(); herr == nil {
			hosts = append(hosts, h)
		}
		cert, err = tlsutil.LoadOrCreate(c.opts.DataDir, hosts)
		if err == nil {
			c.fingerprint = tlsutil.Fingerprint(cert.Certificate[0])
		}
	}
	if err != nil {
		return fmt.Errorf("controller: tls: %w", err)
	}
	c.tlsCfg = splitALPN(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	return nil
}

// splitALPN makes base pick the application by what the client offers:
// agents (grpc-go) offer only "h2" and get gRPC; anything that also offers
// "http/1.1" (browsers, curl, Go's http.Client) gets the HTTP/1.1 API, so a
// REST client that prefers h2 is never handed to the gRPC server.
func splitALPN(base *tls.Config) *tls.Config {
	grpcCfg, httpCfg, sshCfg := base.Clone(), base.Clone(), base.Clone()
	grpcCfg.NextProtos = []string{"h2"}
	httpCfg.NextProtos = []string{"http/1.1"}
	sshCfg.NextProtos = []string{ALPNSSH}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		switch {
		case slices.Contains(hello.SupportedProtos, ALPNSSH):
			return sshCfg, nil
		case slices.Equal(hello.SupportedProtos, []string{"h2"}):
			return grpcCfg, nil
		}
		return httpCfg, nil
	}
	return base
}

// setupStore opens the store and puts the token cache in front of it:
// every stream of a client or agent checks its bearer token, and most of
// them check one already checked a moment ago.
func (c *Controller) setupStore() error {
	st := c.opts.Store
	if st == nil {
		db, err := sqlite.Open(filepath.Join(c.opts.DataDir, "burrow.db"))
		if err != nil {
			return fmt.Errorf("controller: %w", err)
		}
		st = db
	}
	c.st = store.CacheTokens(st, store.TokenCacheTTL)
	return nil
}

// DefaultOrg is the org's name when the first start names none.
const DefaultOrg = "default"

// setupOrg reads the org's name from the store, storing Options.Org (or
// DefaultOrg) on the first start.
func (c *Controller) setupOrg() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want := cmp.Or(c.opts.Org, DefaultOrg)
	org, err := c.st.InitSetting(ctx, "org", want, c.opts.Now())
	if err != nil {
		return fmt.Errorf("controller: org: %w", err)
	}
	if c.opts.Org != "" && org != c.opts.Org {
		return fmt.Errorf("controller: this data directory's org is %q, fixed at its first start (it is in every certificate's key id): "+
			"start without --org, or with --org %s", org, org)
	}
	c.org = org
	return nil
}

// Org is the org's name.
func (c *Controller) Org() string { return c.org }

// setupCA loads the SSH user and host CAs, creating them on first start.
func (c *Controller) setupCA() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, err := sshca.Open(ctx, c.st, c.opts.Now)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	hostCA, err := sshca.OpenHost(ctx, c.st, c.opts.Now)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	c.ca, c.hostCA = ca, hostCA
	return nil
}

// signHostKey certifies an agent's host key with the host CA.
func (c *Controller) signHostKey(agentID, hostKey string, names []string) (string, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(hostKey))
	if err != nil {
		return "", fmt.Errorf("host key: %w", err)
	}
	// The gateway's names are the gateway's: an agent that declares a
	// target by one of them gets no certificate for it, or it could pass
	// for the gateway wherever the host CA is trusted.
	gw := c.gatewayHosts()
	names = slices.DeleteFunc(slices.Clone(names), func(n string) bool {
		if slices.Contains(gw, n) {
			c.log.Warn("not certifying an agent's host key for a name of the SSH gateway", "agent_id", agentID, "name", n)
			return true
		}
		return false
	})
	cert, err := c.hostCA.SignHost(pub, agentID, c.org, names)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cert))), nil
}

// HostCA is the SSH host CA (agents' host certificates).
func (c *Controller) HostCA() *sshca.Authority { return c.hostCA }

// wire builds the parts: back end, dialer, API, servers, metrics.
func (c *Controller) wire() {
	reg := prometheus.NewRegistry()
	c.metrics = reg
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	agents := prometheus.NewGauge(prometheus.GaugeOpts{Name: "burrow_agents_connected", Help: "Agents with a live Watch stream."})
	reg.MustRegister(agents)
	c.tunnels = tunnel.NewServer(tunnel.ServerOptions{
		Store: c.st, Logger: c.log, PingInterval: c.opts.PingInterval, Now: c.opts.Now, Org: c.org,
		OnPresence:    func(n int) { agents.Set(float64(n)) },
		UserCATrust:   c.ca.UserCATrust,
		RevokedKeyIDs: c.revokedKeyIDs,
		SignHostKey:   c.signHostKey,
		// c.dialer is set below, before the gRPC server serves anything.
		OnSessionEvent: func(agentID string, ev store.SessionEvent) { c.dialer.SessionEvent(agentID, ev) },
	})
	c.dialer = dial.New(dial.Options{Store: c.st, Backend: c.tunnels, Logger: c.log, Metrics: dial.NewMetrics(reg), Now: c.opts.Now, Org: c.org})
	c.api = api.New(api.Options{
		Store: c.st, Dialer: c.dialer, Backend: c.tunnels, Fingerprint: c.fingerprint, Logger: c.log, Now: c.opts.Now,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), CA: c.ca, HostCA: c.hostCA, GatewayHosts: c.gatewayHosts,
		CertPolicy:    c.opts.SSHCertPolicy,
		Org:           c.org,
		OnTrustChange: c.pushTrust,
	})
	c.grpc = grpc.NewServer(append(tunnel.GRPCServerOptions(),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Stop waits for handlers, so agents' last-seen times are written
		// before the store closes.
		grpc.WaitForHandlers(true),
	)...)
	tunnelpb.RegisterControllerServer(c.grpc, c.tunnels)
	tunnelpb.RegisterGatewayServer(c.grpc, c.api.Gateway())
	c.http = &http.Server{
		Handler:           c.api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
}

// Addr is the address the controller listens on.
func (c *Controller) Addr() net.Addr { return c.ln.Addr() }

// URL is the https URL of the controller.
func (c *Controller) URL() string { return "https://" + c.ln.Addr().String() }

// Fingerprint of the self-signed certificate ("" with a given one).
func (c *Controller) Fingerprint() string { return c.fingerprint }

// Store is the controller's store.
func (c *Controller) Store() store.Store { return c.st }

// CA is the controller's SSH user certificate authority.
func (c *Controller) CA() *sshca.Authority { return c.ca }

// Run serves until ctx ends, then shuts down gracefully: it stops
// accepting, lets open sessions finish for up to DrainTimeout, and closes
// the rest.
func (c *Controller) Run(ctx context.Context) error {
	m := newMux(c.ln, c.tlsCfg, c.log)
	m.sshOn = true
	errc := make(chan error, 3)
	go func() { errc <- m.serve() }()
	go func() { errc <- c.grpc.Serve(m.h2) }()
	go c.grpc.Serve(c.inProcess) // ends with c.grpc
	go func() { errc <- c.http.Serve(m.http) }()
	go func() { c.sshGateway.Serve(m.ssh) }() // returns at shutdown
	trustCtx, stopTrust := context.WithCancel(ctx)
	defer stopTrust()
	go c.watchTrust(trustCtx)
	c.log.Info("controller listening", "addr", c.ln.Addr().String(), "tls_fingerprint", c.fingerprint,
		"ssh_host_key_fingerprint", ssh.FingerprintSHA256(c.sshGateway.HostKey()))
	if c.sshLn != nil {
		go func() { c.sshGateway.Serve(c.sshLn) }() // returns at shutdown
		c.log.Info("ssh gateway listening", "addr", c.sshLn.Addr().String())
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("controller: serve: %w", err)
	}
	c.shutdown()
	return err
}

func (c *Controller) shutdown() {
	c.log.Info("controller shutting down", "drain_timeout", c.opts.DrainTimeout)
	c.ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.DrainTimeout)
	defer cancel()
	sshDone := make(chan int, 1)
	go func() { sshDone <- c.shutdownSSHGateway(ctx) }()
	c.http.Shutdown(ctx)
	n := c.api.Drain(ctx) + <-sshDone
	if n > 0 {
		c.log.Warn("closed sessions still open after the drain timeout", "sessions", n)
	}
	c.grpc.Stop() // agents reconnect to the next controller
	c.dialer.Close()
	c.st.Close()
}

// shutdownSSHGateway stops the SSH front door, letting its connections
// finish until ctx is done; it returns how many it had to close.
func (c *Controller) shutdownSSHGateway(ctx context.Context) int {
	c.closeSSHListener()
	return c.sshGateway.Shutdown(ctx)
}

// Close releases the listener and the store of a controller whose Run was
// never called (Run releases them itself when it returns).
func (c *Controller) Close() error {
	c.ln.Close()
	c.inProcess.Close()
	c.closeSSHListener()
	c.dialer.Close()
	return c.st.Close()
}

// EnsureAdminToken creates an admin token that may log in over SSH as
// logins (none: the API's default, root) when the store has no user token
// at all, and writes its secret to DataDir/admin-token (0600). It returns
// the path written, or "" when tokens already existed.
func (c *Controller) EnsureAdminToken(ctx context.Context, logins []string) (string, error) {
	ts, err := c.st.ListTokens(ctx)
	if err != nil || len(ts) > 0 {
		return "", err
	}
	secret, err := c.CreateToken(ctx, apitype.CreateTokenRequest{Name: "admin", Role: apitype.RoleAdmin, Logins: logins})
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.opts.DataDir, "admin-token")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return path, nil
}

// CreateToken stores a new API token and returns its secret.
func (c *Controller) CreateToken(ctx context.Context, req apitype.CreateTokenRequest) (string, error) {
	t, secret, err := api.NewToken(req, c.opts.Now())
	if err != nil {
		return "", err
	}
	if err := c.st.CreateToken(ctx, t); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	return secret, nil
}

// CreateJoinToken stores a join token and returns it in the form agents
// take (with the certificate fingerprint).
func (c *Controller) CreateJoinToken(ctx context.Context, ttl time.Duration, uses int) (string, error) {
	return c.api.CreateJoinToken(ctx, apitype.CreateJoinTokenRequest{TTL: ttl, MaxUses: uses})
}
