package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestDefaultTimers(t *testing.T) {
	o := newEnv(t, nil).gw.opts
	if o.LoginGraceTime != LoginGraceTime || o.KeepaliveInterval != KeepaliveInterval || o.KeepaliveTimeout != KeepaliveTimeout {
		t.Errorf("defaults: login grace %v, keepalive every %v within %v; want %v, %v, %v",
			o.LoginGraceTime, o.KeepaliveInterval, o.KeepaliveTimeout, LoginGraceTime, KeepaliveInterval, KeepaliveTimeout)
	}
}

// TestLimits: zero limits take the defaults, set ones are kept, and a
// negative one is refused by New.
func TestLimits(t *testing.T) {
	if o := newEnv(t, nil).gw.opts; o.Limits != DefaultLimits() {
		t.Errorf("zero Limits became %+v, want %+v", o.Limits, DefaultLimits())
	}
	set := Limits{LoginGraceTime: time.Minute, MaxStartups: 10, PerSourceMaxStartups: 2, MaxAuthFailures: 3, FailureWindow: time.Second, BlockFor: time.Hour}
	if o := newEnv(t, func(o *Options) { o.Limits = set }).gw.opts; o.Limits != set {
		t.Errorf("Limits %+v became %+v", set, o.Limits)
	}
	for _, l := range []Limits{{MaxStartups: -1}, {PerSourceMaxStartups: -1}, {LoginGraceTime: -time.Second}, {MaxAuthFailures: -1}, {FailureWindow: -1}, {BlockFor: -1}} {
		if err := l.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", l)
		}
	}
}

// TestLoginGraceTime: a client that sends its version line, or nothing,
// and then waits, is dropped once the login grace time is over.
func TestLoginGraceTime(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.LoginGraceTime = 200 * time.Millisecond })
	for name, first := range map[string]string{"version-line-only": "SSH-2.0-slowloris\r\n", "silent": ""} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, first); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(waitShort))
			_, err = io.Copy(io.Discard, c) // the gateway's version line and KEXINIT, then its close
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the gateway still holds the connection after %v", waitShort)
			}
		})
	}
}

// TestKeepaliveDropsSilentClient: a logged-in client that answers no
// keepalive is disconnected.
func TestKeepaliveDropsSilentClient(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.KeepaliveInterval, o.KeepaliveTimeout = 20*time.Millisecond, 100*time.Millisecond })
	sc, reqs := e.rawConnect(e.certSigner(nil, "burrow:acme:alice:t1", time.Hour))
	defer sc.Close()
	_ = reqs // never read: the client answers nothing
	ended := make(chan error, 1)
	go func() { ended <- sc.Wait() }()
	select {
	case <-ended:
	case <-time.After(waitShort):
		t.Fatalf("a client that answers no keepalive is still connected after %v", waitShort)
	}
}

// TestKeepaliveKeepsAnsweringClient: a client that answers stays
// connected through many keepalives.
func TestKeepaliveKeepsAnsweringClient(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.KeepaliveInterval, o.KeepaliveTimeout = 10*time.Millisecond, waitShort })
	sc, reqs := e.rawConnect(e.certSigner(nil, "burrow:acme:alice:t1", time.Hour))
	defer sc.Close()
	const rounds = 5
	got := make(chan struct{})
	go func() {
		n := 0
		for r := range reqs {
			if r.Type == "keepalive@openssh.com" {
				r.Reply(false, nil) // as OpenSSH does
				if n++; n == rounds {
					close(got)
				}
			}
		}
	}()
	select {
	case <-got:
	case <-time.After(waitShort):
		t.Fatalf("fewer than %d keepalives within %v", rounds, waitShort)
	}
	if ok, _, err := sc.SendRequest("keepalive@openssh.com", true, nil); err != nil || !ok {
		t.Fatalf("after %d answered keepalives the connection is gone: %v, %v", rounds, ok, err)
	}
}

// rawConnect logs in with signer and returns the connection and its
// global requests, which the caller serves (or not).
func (e *env) rawConnect(signer ssh.Signer) (ssh.Conn, <-chan *ssh.Request) {
	e.t.Helper()
	c, err := net.DialTimeout("tcp", e.addr, waitShort)
	if err != nil {
		e.t.Fatal(err)
	}
	sc, chans, reqs, err := ssh.NewClientConn(c, e.addr, &ssh.ClientConfig{
		User: "anything", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(e.hostPK), Timeout: waitShort,
	})
	if err != nil {
		c.Close()
		e.t.Fatalf("login: %v", err)
	}
	go func() {
		for nc := range chans {
			nc.Reject(ssh.Prohibited, "no channels here")
		}
	}()
	return sc, reqs
}
