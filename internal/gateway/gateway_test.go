package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/sshca"
	"github.com/burrow-dev/burrow/internal/store"
	"github.com/burrow-dev/burrow/internal/store/sqlite"
	"github.com/burrow-dev/burrow/internal/tlsutil"
)

const waitShort = 10 * time.Second

// clock is a settable test clock starting at the real now.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// fakeBackend holds web-1 online (port 25 denied by its agent), served by
// an echo server on loopback; db-1 is known but offline.
type fakeBackend struct{ echo string }

var _ dial.Backend = (*fakeBackend)(nil)

func (b *fakeBackend) Route(target string) (dial.Route, bool) {
	return dial.Route{AgentID: "a1", Deny: "25"}, target == "web-1"
}

func (b *fakeBackend) DialTarget(ctx context.Context, session, target string, port int) (net.Conn, error) {
	if target != "web-1" {
		return nil, dial.ErrOffline
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", b.echo)
}

// echoServer echoes each connection and half-closes after the client's EOF.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String()
}

type env struct {
	t       *testing.T
	st      store.Store
	ca      *sshca.Authority
	clock   *clock
	gw      *Server
	addr    string
	hostPK  ssh.PublicKey
	metrics *Metrics
}

// waitCount waits until counter c reaches want.
func (e *env) waitCount(what string, c prometheus.Counter, want float64) {
	e.t.Helper()
	deadline := time.Now().Add(waitShort)
	for testutil.ToFloat64(c) != want {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %v, want %v", what, testutil.ToFloat64(c), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newEnv runs a gateway on loopback with a real dialer, a fake back end,
// and tokens t1 (admin alice), t2 (member bob, revoked) and t3 (member
// carol, expired).
func newEnv(t *testing.T, adjust func(*Options)) *env {
	t.Helper()
	st, err := sqlite.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := t.Context()
	now := time.Now()
	for _, tok := range []store.Token{
		{ID: "t1", Name: "a", Hash: []byte("h1"), Subject: "alice", Role: apitype.RoleAdmin, Logins: []string{"root"}, CreatedAt: now},
		{ID: "t2", Name: "b", Hash: []byte("h2"), Subject: "bob", Role: apitype.RoleMember, CreatedAt: now, RevokedAt: &now},
		{ID: "t3", Name: "c", Hash: []byte("h3"), Subject: "carol", Role: apitype.RoleMember, CreatedAt: now, ExpiresAt: &now},
	} {
		if err := st.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.UpsertAgent(ctx, store.Agent{ID: "a1", Name: "web-1", Targets: []store.Target{{Name: "web-1"}, {Name: "db-1"}}, CreatedAt: now, LastSeen: now}); err != nil {
		t.Fatal(err)
	}
	ca, err := sshca.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	be := &fakeBackend{echo: echoServer(t)}
	d := dial.New(dial.Options{Store: st, Backend: be, Logger: discard(), Org: "acme"})
	t.Cleanup(func() { d.Close() })
	hk, err := LoadOrCreateHostKey(t.TempDir() + "/" + HostKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	o := Options{Store: st, Dialer: d, Backend: be, UserCAKeys: ca.UserCAKeys, HostKey: hk, Org: "acme", Logger: discard(), Now: clk.Now,
		Metrics: NewMetrics(prometheus.NewRegistry())}
	if adjust != nil {
		adjust(&o)
	}
	gw, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gw.Serve(ln)
	t.Cleanup(func() { gw.Close() })
	return &env{t: t, st: st, ca: ca, clock: clk, gw: gw, addr: ln.Addr().String(), hostPK: hk.PublicKey(), metrics: o.Metrics}
}

// certSigner returns a signer for a new key certified by ca (nil: the
// env's CA) with keyID and ttl.
func (e *env) certSigner(signer ssh.Signer, keyID string, ttl time.Duration) ssh.Signer {
	e.t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	key, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		e.t.Fatal(err)
	}
	var cert *ssh.Certificate
	if signer == nil {
		cert, err = e.ca.SignUser(key.PublicKey(), sshca.UserCertRequest{KeyID: keyID, Principals: []string{"root"}, TTL: ttl})
	} else {
		cert = &ssh.Certificate{Key: key.PublicKey(), CertType: ssh.UserCert, KeyId: keyID, ValidPrincipals: []string{"root"},
			ValidAfter: uint64(time.Now().Add(-time.Minute).Unix()), ValidBefore: uint64(time.Now().Add(ttl).Unix())}
		err = cert.SignCert(rand.Reader, signer)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	cs, err := ssh.NewCertSigner(cert, key)
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

// connect logs in with signers and returns the client, or the error and
// the banners the gateway sent.
func (e *env) connect(signers ...ssh.Signer) (*ssh.Client, string, error) {
	var mu sync.Mutex
	var banners strings.Builder
	cfg := &ssh.ClientConfig{
		User:            "anything",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback: ssh.FixedHostKey(e.hostPK),
		BannerCallback: func(m string) error {
			mu.Lock()
			defer mu.Unlock()
			banners.WriteString(m)
			return nil
		},
		Timeout: waitShort,
	}
	c, err := ssh.Dial("tcp", e.addr, cfg)
	mu.Lock()
	defer mu.Unlock()
	return c, banners.String(), err
}

func (e *env) mustConnect(signers ...ssh.Signer) *ssh.Client {
	e.t.Helper()
	c, banner, err := e.connect(signers...)
	if err != nil {
		e.t.Fatalf("login: %v (banner %q)", err, banner)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// TestLegacyKeyID: a certificate issued before key ids named the org
// ("burrow:<subject>:<token id>") still logs in while it is valid.
func TestLegacyKeyID(t *testing.T) {
	e := newEnv(t, nil)
	c := e.mustConnect(e.certSigner(nil, "burrow:alice:t1", time.Hour))
	if out := sessionOutput(t, c, false); !strings.Contains(out, "you are alice in org acme (token t1") {
		t.Errorf("session output %q, want alice's through token t1", out)
	}
}

func TestForwardHalfClose(t *testing.T) {
	e := newEnv(t, nil)
	c := e.mustConnect(e.certSigner(nil, "burrow:acme:alice:t1", time.Hour))
	conn, err := c.Dial("tcp", "web-1.acme.burrow:80") // NAME.<org>.burrow is NAME
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "hello through the gateway"); err != nil {
		t.Fatal(err)
	}
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(waitShort))
	got, err := io.ReadAll(conn)
	if err != nil || string(got) != "hello through the gateway" {
		t.Fatalf("echo after half-close: %q, %v", got, err)
	}
	waitSession(t, e.st, func(s store.Session) bool {
		return s.FrontDoor == Door && s.Target == "web-1" && s.Port == 80 && s.Subject == "alice" && s.TokenID == "t1" && s.Result == "ok"
	})
}

// waitSession waits until the audit log holds a session matching ok.
func waitSession(t *testing.T, st store.Store, ok func(store.Session) bool) {
	t.Helper()
	deadline := time.Now().Add(waitShort)
	for {
		ss, err := st.ListSessions(t.Context(), 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			if ok(s) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching audit session in %+v", ss)
		}
		time.Sleep(20 * time.Millisecond) // polling the store's audit rows, written in batches
	}
}

func TestForwardRefused(t *testing.T) {
	e := newEnv(t, nil)
	c := e.mustConnect(e.certSigner(nil, "burrow:acme:alice:t1", time.Hour))
	tests := []struct {
		addr   string
		reason ssh.RejectionReason
		msg    string
	}{
		{"nope:22", ssh.ConnectionFailed, "no target named nope"},
		{"db-1:22", ssh.ConnectionFailed, "target db-1 is offline"},
		{"web-1:25", ssh.Prohibited, "port 25 on web-1 is forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			_, err := c.Dial("tcp", tt.addr)
			var oce *ssh.OpenChannelError
			if !errors.As(err, &oce) || oce.Reason != tt.reason || !strings.Contains(oce.Message, tt.msg) {
				t.Fatalf("dial %s: %v, want reason %v with %q", tt.addr, err, tt.reason, tt.msg)
			}
		})
	}
}

func TestRevokedAfterLogin(t *testing.T) {
	e := newEnv(t, nil)
	c := e.mustConnect(e.certSigner(nil, "burrow:acme:alice:t1", time.Hour))
	if err := e.st.RevokeToken(t.Context(), "t1", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err := c.Dial("tcp", "web-1:80")
	if err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("dial with a token revoked after login: %v, want refused as revoked", err)
	}
}

func TestLoginRefused(t *testing.T) {
	e := newEnv(t, nil)
	_, otherCA, _ := ed25519.GenerateKey(rand.Reader)
	wrongCA, _ := ssh.NewSignerFromKey(otherCA)
	_, plain, _ := ed25519.GenerateKey(rand.Reader)
	plainKey, _ := ssh.NewSignerFromKey(plain)
	tests := []struct {
		name   string
		signer func() ssh.Signer
		banner string
	}{
		{"unregistered plain key", func() ssh.Signer { return plainKey }, "this key is not registered; `burrow keys add` it"},
		{"wrong CA", func() ssh.Signer { return e.certSigner(wrongCA, "burrow:acme:alice:t1", time.Hour) }, "not signed by a CA this gateway trusts"},
		{"revoked token", func() ssh.Signer { return e.certSigner(nil, "burrow:acme:bob:t2", time.Hour) }, "token t2 was revoked"},
		{"expired token", func() ssh.Signer { return e.certSigner(nil, "burrow:acme:carol:t3", time.Hour) }, "token t3 expired"},
		{"unknown token", func() ssh.Signer { return e.certSigner(nil, "burrow:acme:alice:t9", time.Hour) }, "token t9 no longer exists"},
		{"subject mismatch", func() ssh.Signer { return e.certSigner(nil, "burrow:acme:mallory:t1", time.Hour) }, "does not match its token"},
		{"another org", func() ssh.Signer { return e.certSigner(nil, "burrow:other:alice:t1", time.Hour) }, `the certificate is for org "other", and this gateway serves org "acme"`},
		{"not a burrow key id", func() ssh.Signer { return e.certSigner(nil, "alice", time.Hour) }, "is not a burrow one"},
		{"key id without the org, not its token's subject", func() ssh.Signer { return e.certSigner(nil, "burrow:bob:t1", time.Hour) }, "does not match its token"},
		{"foreign key id", func() ssh.Signer { return e.certSigner(nil, "alice", time.Hour) }, "not a burrow one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, banner, err := e.connect(tt.signer())
			if err == nil {
				c.Close()
				t.Fatal("login succeeded")
			}
			if !strings.Contains(banner, tt.banner) {
				t.Errorf("banner %q, want it to say %q", banner, tt.banner)
			}
		})
	}
}

func TestCertificateOutsideValidity(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name   string
		shift  time.Duration // of the gateway's clock
		banner string
	}{
		{"expired", 2 * time.Minute, "the certificate expired at"},
		{"not yet valid", -2 * time.Minute, "the certificate is not valid before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := e.certSigner(nil, "burrow:acme:alice:t1", time.Minute)
			e.clock.Advance(tt.shift)
			defer e.clock.Advance(-tt.shift)
			c, banner, err := e.connect(cert)
			if err == nil {
				c.Close()
				t.Fatal("login succeeded")
			}
			if !strings.Contains(banner, tt.banner) {
				t.Errorf("banner %q, want it to say %q", banner, tt.banner)
			}
		})
	}
}

func TestCertificateExpiresAfterLogin(t *testing.T) {
	e := newEnv(t, nil)
	c := e.mustConnect(e.certSigner(nil, "burrow:acme:alice:t1", time.Hour))
	e.clock.Advance(2 * time.Hour)
	_, err := c.Dial("tcp", "web-1:80")
	if err == nil || !strings.Contains(err.Error(), "certificate expired") {
		t.Fatalf("dial after the certificate expired: %v", err)
	}
}

// TestAuthenticatedKeyDecides offers a refused key before a good one: the
// connection must be the good key's (CVE-2024-45337).
func TestAuthenticatedKeyDecides(t *testing.T) {
	e := newEnv(t, nil)
	revoked := e.certSigner(nil, "burrow:acme:bob:t2", time.Hour)
	good := e.certSigner(nil, "burrow:acme:alice:t1", time.Hour)
	c := e.mustConnect(revoked, good)
	out := sessionOutput(t, c, false)
	if !strings.Contains(out, "you are alice in org acme (token t1") {
		t.Fatalf("session output %q, want alice's", out)
	}
}

func sessionOutput(t *testing.T, c *ssh.Client, pty bool) string {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if pty {
		if err := sess.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := sess.Output("")
	if err != nil {
		t.Fatalf("session: %v (output %q)", err, out)
	}
	return string(out)
}

func TestSession(t *testing.T) {
	e := newEnv(t, nil)
	c := e.mustConnect(e.certSigner(nil, "burrow:acme:alice:t1", time.Hour))
	for _, pty := range []bool{false, true} {
		out := sessionOutput(t, c, pty)
		for _, want := range []string{"you are alice in org acme (token t1", "SSH logins: root", "web-1", "online", "db-1", "offline", "ssh -J anything@" + e.addr + " root@TARGET"} {
			if !strings.Contains(out, want) {
				t.Errorf("pty %v: session output %q lacks %q", pty, out, want)
			}
		}
		if pty != strings.Contains(out, "\r\n") {
			t.Errorf("pty %v: CRLF line ends %v", pty, !pty)
		}
	}
}

func TestKeepalive(t *testing.T) {
	e := newEnv(t, nil)
	c := e.mustConnect(e.certSigner(nil, "burrow:acme:alice:t1", time.Hour))
	ok, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
	if err != nil || !ok {
		t.Fatalf("keepalive: %v, %v", ok, err)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxAuthFailures = 3 })
	_, plain, _ := ed25519.GenerateKey(rand.Reader)
	bad, _ := ssh.NewSignerFromKey(plain)
	good := e.certSigner(nil, "burrow:acme:alice:t1", time.Hour)
	for i := range 3 {
		if c, _, err := e.connect(bad); err == nil {
			c.Close()
			t.Fatalf("attempt %d: bad key logged in", i)
		}
	}
	// The gateway counts a failure when it sees the client go; wait for
	// the third.
	deadline := time.Now().Add(waitShort)
	for e.gw.limiter.allowed("127.0.0.1") {
		if time.Now().After(deadline) {
			t.Fatal("127.0.0.1 not blocked after 3 failed logins")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c, banner, err := e.connect(good); err == nil {
		c.Close()
		t.Fatal("a blocked address logged in")
	} else if !strings.Contains(banner, "too many failed logins from 127.0.0.1") || !strings.Contains(banner, "(in 5m0s)") {
		t.Errorf("a blocked address was not told why, and until when: %q", banner)
	}
	// The first few connections of a block are told; later ones are
	// closed at once, as a handshake costs the gateway CPU.
	for i := 2; i <= tellBlocked+1; i++ {
		c, banner, err := e.connect(good)
		if err == nil {
			c.Close()
			t.Fatal("a blocked address logged in")
		}
		if told := banner != ""; told != (i <= tellBlocked) {
			t.Errorf("connection %d of the block: banner %q, want one: %v", i, banner, i <= tellBlocked)
		}
	}
	e.waitCount("refused as rate limited", e.metrics.refused.WithLabelValues(refusedRateLimited), tellBlocked+1)
	e.waitCount("logins refused", e.metrics.logins.WithLabelValues(loginRefused), 3)
	e.clock.Advance(5*time.Minute + time.Second)
	e.mustConnect(good)
	e.waitCount("logins", e.metrics.logins.WithLabelValues(loginOK), 1)
}

// TestMaxStartups: connections that say nothing hold their source's share
// of logins in progress; one more is closed at once, before any banner,
// and a place frees up when one of them goes.
func TestMaxStartups(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.PerSourceMaxStartups = 2 })
	var silent []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	// The gateway has counted them once it answers them with its banner.
	for _, c := range silent {
		c.SetReadDeadline(time.Now().Add(waitShort))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			t.Fatalf("a silent connection got no banner: %v", err)
		}
	}
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(waitShort))
	if n, err := c.Read(make([]byte, 64)); err != io.EOF {
		t.Fatalf("a third connection read %d bytes, %v; want it closed at once", n, err)
	}
	e.waitCount("refused for logins in progress", e.metrics.refused.WithLabelValues(refusedStartups), 1)
	silent[0].Close()
	deadline := time.Now().Add(waitShort)
	for {
		good := e.certSigner(nil, "burrow:acme:alice:t1", time.Hour)
		if cl, _, err := e.connect(good); err == nil {
			cl.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no login after a silent connection went")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStartups(t *testing.T) {
	s := newStartups(3, 2)
	if !s.begin("a") || !s.begin("a") || s.begin("a") {
		t.Fatal("per source: want 2 of a")
	}
	if !s.begin("b") || s.begin("c") {
		t.Fatal("in all: want 3")
	}
	s.end("a")
	if !s.begin("c") || s.begin("a") {
		t.Fatal("after one of a ended: want room for c, then none")
	}
	s.end("a")
	s.end("b")
	s.end("c")
	if s.total != 0 || len(s.by) != 0 {
		t.Fatalf("left %d counted over %d addresses, want none", s.total, len(s.by))
	}
}

func TestLimiter(t *testing.T) {
	clk := &clock{}
	l := newLimiter(20, time.Minute, 5*time.Minute, clk.Now)
	for i := range 19 {
		if l.failed("10.0.0.1") {
			t.Fatalf("blocked after %d failures", i+1)
		}
	}
	if !l.allowed("10.0.0.1") {
		t.Fatal("refused after 19 failures")
	}
	if !l.failed("10.0.0.1") || l.allowed("10.0.0.1") {
		t.Fatal("not refused after 20 failures")
	}
	if !l.allowed("10.0.0.2") {
		t.Fatal("another address refused")
	}
	clk.Advance(5*time.Minute - time.Second)
	if l.allowed("10.0.0.1") {
		t.Fatal("allowed before the block ended")
	}
	clk.Advance(2 * time.Second)
	if !l.allowed("10.0.0.1") {
		t.Fatal("still refused after the block")
	}
	// Failures spread out are refilled: one every 3 s for 30 minutes never blocks.
	for i := range 600 {
		clk.Advance(3 * time.Second)
		if l.failed("10.0.0.3") {
			t.Fatalf("slow failures blocked at %d", i)
		}
	}
}

func TestHostKeyPersisted(t *testing.T) {
	path := t.TempDir() + "/" + HostKeyFile
	a, err := LoadOrCreateHostKey(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateHostKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if ssh.FingerprintSHA256(a.PublicKey()) != ssh.FingerprintSHA256(b.PublicKey()) || a.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Fatal("host key not kept across loads, or not ed25519")
	}
}

// TestSessionOverTLS: a client that came through TLS (SSH over TLS on the
// main port) is told how to connect through TLS again, not by plain -J.
func TestSessionOverTLS(t *testing.T) {
	e := newEnv(t, nil)
	cert, err := tlsutil.LoadOrCreate(t.TempDir(), []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	go e.gw.Serve(ln)
	tc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"ssh"}})
	if err != nil {
		t.Fatal(err)
	}
	sc, chans, reqs, err := ssh.NewClientConn(tc, ln.Addr().String(), &ssh.ClientConfig{
		User: "anything", Auth: []ssh.AuthMethod{ssh.PublicKeys(e.certSigner(nil, "burrow:acme:alice:t1", time.Hour))},
		HostKeyCallback: ssh.FixedHostKey(e.hostPK), Timeout: waitShort,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := ssh.NewClient(sc, chans, reqs)
	defer c.Close()
	out := sessionOutput(t, c, false)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, want := range []string{"over TLS", "Port " + port, "ProxyCommand openssl s_client -quiet -verify_quiet -alpn ssh -connect %h:%p", "ssh -J anything@burrow-gw root@TARGET"} {
		if !strings.Contains(out, want) {
			t.Errorf("session output %q lacks %q", out, want)
		}
	}
}
