package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshPair connects an x/crypto client to a server over loopback TCP. answer
// says whether the server replies to global requests.
func sshPair(t *testing.T, answer bool) *ssh.Client {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	go func() {
		_, chans, reqs, err := ssh.NewServerConn(a, cfg)
		if err != nil {
			return
		}
		go ssh.DiscardRequests(chans2reqs(chans))
		if answer {
			ssh.DiscardRequests(reqs) // replies false: still an answer
		}
		// else: never read, never reply
	}()
	sc, chans, reqs, err := ssh.NewClientConn(b, "x", &ssh.ClientConfig{User: "u", HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	return ssh.NewClient(sc, chans, reqs)
}

// chans2reqs rejects every channel; it returns a closed request channel.
func chans2reqs(chans <-chan ssh.NewChannel) <-chan *ssh.Request {
	go func() {
		for ch := range chans {
			ch.Reject(ssh.Prohibited, "no")
		}
	}()
	r := make(chan *ssh.Request)
	close(r)
	return r
}

// TestKeepAlive: a server that stops answering is given up after the
// missed intervals and the connection closed; one that answers is kept.
func TestKeepAlive(t *testing.T) {
	silent := sshPair(t, false)
	lost := make(chan struct{})
	go keepAlive(silent, 10*time.Millisecond, 3, func() { close(lost) })
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("a silent server was not given up")
	}
	if err := silent.Wait(); err == nil {
		t.Error("the connection to a silent server is still open")
	}

	alive := sshPair(t, true)
	gaveUp := make(chan struct{})
	go keepAlive(alive, 10*time.Millisecond, 3, func() { close(gaveUp) })
	select {
	case <-gaveUp:
		t.Fatal("an answering server was given up")
	case <-time.After(300 * time.Millisecond):
	}
	alive.Close()
}
