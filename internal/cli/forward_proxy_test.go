package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/agent"
	"github.com/burrow-dev/burrow/internal/burrowtest"
)

// TestPortForwardBehindHTTP1Proxy: with the controller behind a TLS proxy
// that speaks only HTTP/1.1 (no gRPC), port-forward's default transport
// cannot work; it says so and forwards through the upgrade door instead.
func TestPortForwardBehindHTTP1Proxy(t *testing.T) {
	s := burrowtest.Start(t)
	s.StartAgent("web-1", nil)
	port := burrowtest.Echo(t)
	cliEnv(t, s)

	// The proxy presents the controller's own certificate, so the pin holds.
	cert, err := tls.LoadX509KeyPair(filepath.Join(s.DataDir, "tls-cert.pem"), filepath.Join(s.DataDir, "tls-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	backend, _ := url.Parse(s.URL())
	rp := httputil.NewSingleHostReverseProxy(backend)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ErrorLog: log.New(io.Discard, "", 0)} // refused h2 handshakes are the point
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	t.Setenv("BURROW_URL", "https://"+ln.Addr().String())

	addrs, errb := startPortForward(t, port)
	if !strings.Contains(errb.String(), "--transport upgrade instead") {
		t.Errorf("port-forward did not say it falls back to the upgrade door:\n%s", errb.String())
	}
	if err := echoOnce(addrs[port]); err != nil {
		t.Fatalf("through the forward: %v\nstderr %s", err, errb.String())
	}
}

// TestPortForwardOptimisticRefusal: once a session has opened, port-forward
// starts the next ones without waiting for the controller (what the user's
// side sends first goes with the open). A refusal then still reaches the
// user: the local connection closes and the controller's words are printed.
func TestPortForwardOptimisticRefusal(t *testing.T) {
	s := burrowtest.Start(t)
	s.StartAgent("web-1", func(o *agent.Options) { o.Deny = "25" })
	port := burrowtest.Echo(t)
	cliEnv(t, s)

	addrs, errb := startPortForward(t, port, 25)
	if err := echoOnce(addrs[port]); err != nil { // the first session waits for the answer
		t.Fatalf("echo through the allowed forward: %v\n%s", err, errb.String())
	}
	if err := echoOnce(addrs[25]); err == nil {
		t.Fatal("a forward to a port the agent forbids carried data")
	}
	want := "port 25 on web-1 is forbidden"
	for deadline := time.Now().Add(burrowtest.WaitShort); !strings.Contains(errb.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("port-forward's stderr does not say %q:\n%s", want, errb.String())
		}
	}
	if err := echoOnce(addrs[port]); err != nil {
		t.Fatalf("echo through the allowed forward after the refusal: %v", err)
	}
}

// TestPortForwardLostSessionIsNoRefusal: a session that had opened and is
// then cut (the controller restarts) is not reported as refused.
func TestPortForwardLostSessionIsNoRefusal(t *testing.T) {
	s := burrowtest.Start(t)
	a := s.StartAgent("web-1", nil)
	port := burrowtest.Echo(t)
	cliEnv(t, s)

	addrs, errb := startPortForward(t, port)
	roundTrip := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(burrowtest.WaitShort))
		if _, err := c.Write([]byte("x")); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, 1))
		return err
	}
	for i := range 2 { // the second session opens optimistically
		c, err := net.Dial("tcp", addrs[port])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := roundTrip(c); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		if i == 1 {
			s.RestartController()
			a.WaitWelcome(t)
			io.Copy(io.Discard, c) // ends when port-forward closes it
		}
	}
	time.Sleep(100 * time.Millisecond) // port-forward prints after closing
	if strings.Contains(errb.String(), "burrow: forward") {
		t.Errorf("a session cut after it opened was reported as refused:\n%s", errb.String())
	}
}

// startPortForward runs `burrow port-forward web-1 REMOTE...` until the
// test ends and returns the local address printed for each remote port,
// and its stderr.
func startPortForward(t *testing.T, remotes ...int) (addrs map[int]string, stderr *lockedBuffer) {
	t.Helper()
	args := []string{"port-forward", "web-1"}
	for _, r := range remotes {
		args = append(args, "0:"+strconv.Itoa(r))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuffer
	stderr = &lockedBuffer{}
	done := make(chan int)
	go func() { done <- Main(ctx, args, &out, stderr) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	addrRE := regexp.MustCompile(`Forwarding from (127\.0\.0\.1:\d+) -> web-1:(\d+)`)
	addrs = map[int]string{}
	for deadline := time.Now().Add(burrowtest.WaitShort); len(addrs) < len(remotes); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("port-forward printed %v:\n%s\n%s", addrs, out.String(), stderr.String())
		}
		for _, m := range addrRE.FindAllStringSubmatch(out.String(), -1) {
			r, _ := strconv.Atoi(m[2])
			addrs[r] = m[1]
		}
	}
	return addrs, stderr
}

// echoOnce sends a line through addr and reads it back.
func echoOnce(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(burrowtest.WaitShort))
	msg := []byte("hello\n")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echoed %q, want %q", got, msg)
	}
	return nil
}
