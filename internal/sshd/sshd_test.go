package sshd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/ssh"
)

// waitLong bounds every wait in these tests; nothing should come close.
const waitLong = 30 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// started by signal.Notify in resetIgnoredSignals, for good
		goleak.IgnoreTopFunction("os/signal.signal_recv"),
		goleak.IgnoreTopFunction("os/signal.loop"),
	)
}

// testNow is the server's clock in tests; certificates are valid around it.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// testEnv is a server with a CA it trusts and the login tests use: the
// user running the tests.
type testEnv struct {
	srv     *Server
	ca      ssh.Signer
	hostKey ssh.Signer
	login   string
	home    string
}

func newSigner(tb testing.TB) ssh.Signer {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// currentLogin is the user running the tests, skipping tests where the
// user database does not know it (the server could not log it in).
func currentLogin(tb testing.TB) *user.User {
	tb.Helper()
	u, err := user.Current()
	if err != nil {
		tb.Skipf("who am I: %v", err)
	}
	if _, err := user.Lookup(u.Username); err != nil {
		tb.Skipf("user %s is not in the user database: %v", u.Username, err)
	}
	return u
}

// newEnv starts a server; mod may change its options.
func newEnv(tb testing.TB, mod func(*Options)) *testEnv {
	tb.Helper()
	u := currentLogin(tb)
	e := &testEnv{ca: newSigner(tb), hostKey: newSigner(tb), login: u.Username, home: u.HomeDir}
	o := Options{
		HostKey: e.hostKey,
		Trust:   func() []ssh.PublicKey { return []ssh.PublicKey{e.ca.PublicKey()} },
		Name:    "web-1",
		Now:     func() time.Time { return testNow },
		Logger:  slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&o)
	}
	o.EnvAllow = append(o.EnvAllow, "SHLVL") // see quiet
	srv, err := New(o)
	if err != nil {
		tb.Fatal(err)
	}
	e.srv = srv
	tb.Cleanup(srv.Close)
	return e
}

// certFor returns a signer holding a fresh key and a certificate for it
// signed by ca: for e.login, valid around testNow, permitting a PTY, port
// and agent forwarding, unless mod changes that.
func (e *testEnv) certFor(tb testing.TB, ca ssh.Signer, mod func(*ssh.Certificate)) ssh.Signer {
	tb.Helper()
	key := newSigner(tb)
	cert := &ssh.Certificate{
		Key:             key.PublicKey(),
		CertType:        ssh.UserCert,
		KeyId:           "alice@example.com",
		ValidPrincipals: []string{e.login},
		ValidAfter:      uint64(testNow.Add(-time.Minute).Unix()),
		ValidBefore:     uint64(testNow.Add(5 * time.Minute).Unix()),
		Permissions: ssh.Permissions{Extensions: map[string]string{
			"permit-pty": "", "permit-port-forwarding": "", "permit-agent-forwarding": "",
		}},
	}
	if mod != nil {
		mod(cert)
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		tb.Fatal(err)
	}
	s, err := ssh.NewCertSigner(cert, key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// connect serves one connection over loopback TCP and logs in to it as login
// with key. It returns the client, or the handshake error and the
// banners the server sent. Cleanup closes the client and waits until
// ServeConn has returned.
func (e *testEnv) connect(tb testing.TB, login string, key ssh.Signer, more ...ssh.Signer) (*ssh.Client, []string, error) {
	tb.Helper()
	cc, sc := tcpPair(tb)
	served := make(chan struct{})
	go func() {
		defer close(served)
		e.srv.ServeConn(context.Background(), sc)
	}()
	var mu sync.Mutex
	var banners []string
	cfg := &ssh.ClientConfig{
		User:            login,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(append([]ssh.Signer{key}, more...)...)},
		HostKeyCallback: ssh.FixedHostKey(e.hostKey.PublicKey()),
		BannerCallback: func(msg string) error {
			mu.Lock()
			defer mu.Unlock()
			banners = append(banners, msg)
			return nil
		},
	}
	cc.SetDeadline(time.Now().Add(waitLong)) // for the handshake
	conn, chans, reqs, err := ssh.NewClientConn(cc, "web-1", cfg)
	cc.SetDeadline(time.Time{})
	waitServed := func() {
		select {
		case <-served:
		case <-time.After(waitLong):
			tb.Errorf("ServeConn still running %v after the client left", waitLong)
		}
	}
	if err != nil {
		cc.Close()
		waitServed()
		mu.Lock()
		defer mu.Unlock()
		return nil, banners, err
	}
	client := ssh.NewClient(conn, chans, reqs)
	tb.Cleanup(func() {
		client.Close()
		waitServed()
	})
	return client, banners, nil
}

// tcpPair returns both ends of a loopback TCP connection. (net.Pipe does
// not do for SSH: both ends write their version first, and a net.Pipe
// write waits for the reader.)
func tcpPair(tb testing.TB) (client, server net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		tb.Fatal(err)
	}
	return client, server
}

// dial logs in as e.login with a good certificate.
func (e *testEnv) dial(tb testing.TB) *ssh.Client {
	tb.Helper()
	client, banners, err := e.connect(tb, e.login, e.certFor(tb, e.ca, nil))
	if err != nil {
		tb.Fatalf("login refused: %v (banners %q)", err, banners)
	}
	return client
}

// needShell skips tests that run programs when the test user's login
// shell runs none (nologin, false).
func needShell(tb testing.TB, e *testEnv) {
	tb.Helper()
	sh := loginShell(e.login)
	switch filepath.Base(sh) {
	case "nologin", "false":
		tb.Skipf("the login shell of %s is %s", e.login, sh)
	}
	if _, err := os.Stat(sh); err != nil {
		tb.Skipf("login shell: %v", err)
	}
}

// newSession opens a session made quiet, closed by cleanup.
func newSession(tb testing.TB, c *ssh.Client) *ssh.Session {
	tb.Helper()
	s, err := c.NewSession()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	quiet(tb, s)
	return s
}

// quiet sets SHLVL=1 in a session, so that the test user's ~/.bashrc is
// not read by every command. Debian's bash reads it for a top-level shell
// (SHLVL below 2) run by sshd (SSH_CLIENT set), as for OpenSSH; on the CI
// machine root's runs `pyenv rehash`, which takes a lock: commands of
// concurrent sessions then wait seconds for each other.
func quiet(tb testing.TB, s interface {
	SendRequest(string, bool, []byte) (bool, error)
}) {
	tb.Helper()
	if ok, err := s.SendRequest("env", true, ssh.Marshal(envRequest{"SHLVL", "1"})); !ok || err != nil {
		tb.Fatalf("env SHLVL: %v, %v", ok, err)
	}
}

// waitFor runs f, failing the test if it takes longer than waitLong.
func waitFor(tb testing.TB, what string, f func() error) error {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLong):
		tb.Fatalf("%s: still waiting after %v", what, waitLong)
		return nil
	}
}

// readUntil reads r until what has been read contains want; it returns
// all of it.
func readUntil(tb testing.TB, r io.Reader, want string) string {
	tb.Helper()
	var buf bytes.Buffer
	err := waitFor(tb, "output "+want, func() error {
		b := make([]byte, 4096)
		for !strings.Contains(buf.String(), want) {
			n, err := r.Read(b)
			buf.Write(b[:n])
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("reading until %q: %v; read %q", want, err, buf.String())
	}
	return buf.String()
}

// outcome is how a remote command ended: "status N", "signal NAME",
// "ok" or another error.
func outcome(err error) string {
	var ee *ssh.ExitError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ee) && ee.Signal() != "":
		return "signal " + ee.Signal()
	case errors.As(err, &ee):
		return "status " + strconv.Itoa(ee.ExitStatus())
	default:
		return err.Error()
	}
}

// result is what a raw session channel returned.
type result struct {
	stdout, stderr string
	exit           string // "status N", "signal NAME" or "none"
}

// runRequest opens a session, sends one request of type typ with a string
// payload (exec, subsystem), and collects the output and how it ended.
func runRequest(tb testing.TB, c *ssh.Client, typ, arg string) result {
	tb.Helper()
	ch, reqs, err := c.OpenChannel("session", nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer ch.Close()
	quiet(tb, ch)
	if ok, err := ch.SendRequest(typ, true, ssh.Marshal(execRequest{arg})); !ok || err != nil {
		tb.Fatalf("%s %s: %v, %v", typ, arg, ok, err)
	}
	ch.CloseWrite()
	r := result{exit: "none"}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for req := range reqs {
			var st exitStatus
			var sig exitSignal
			switch {
			case req.Type == "exit-status" && ssh.Unmarshal(req.Payload, &st) == nil:
				r.exit = "status " + strconv.Itoa(int(st.Status))
			case req.Type == "exit-signal" && ssh.Unmarshal(req.Payload, &sig) == nil:
				r.exit = "signal " + sig.Signal
			}
			req.Reply(false, nil)
		}
	}()
	var stderr bytes.Buffer
	errDone := make(chan struct{})
	go func() { defer close(errDone); io.Copy(&stderr, ch.Stderr()) }()
	out, _ := io.ReadAll(ch)
	<-errDone
	waitFor(tb, typ+" "+arg, func() error { <-done; return nil })
	r.stdout, r.stderr = string(out), stderr.String()
	return r
}
