package controller

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/tlsutil"
)

func TestSniff(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
	}{
		{"SSH-2.0-OpenSSH_9.2\r\n", sniffSSH},
		{"\x16\x03\x01\x02\x00", sniffTLS},
		{"GET / HTTP/1.1\r\n", sniffUnknown},
		{"SSH", sniffUnknown},
		{"", sniffUnknown},
		{"\x16\x02", sniffUnknown},
	} {
		if got := sniff([]byte(c.in)); got != c.want {
			t.Errorf("sniff(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzSniff(f *testing.F) {
	for _, s := range []string{"SSH-2.0-x\r\n", "\x16\x03\x01", "GET /", "", "SSH-", "\x16", "SSH", "ssh-2.0-", "\x16\x02", "\x17\x03\x03",
		"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		isSSH := bytes.HasPrefix(b, []byte("SSH-"))
		isTLS := len(b) >= 2 && b[0] == 0x16 && b[1] == 3
		want := sniffUnknown
		switch {
		case isSSH:
			want = sniffSSH
		case isTLS:
			want = sniffTLS
		}
		if got := sniff(b); got != want {
			t.Fatalf("sniff(%q) = %s, want %s", b, got, want)
		}
	})
}

// TestMuxSplits sends SSH, SSH over TLS (ALPN and SNI), gRPC-like h2,
// HTTP and garbage to one listener; each lands where it belongs, garbage
// is closed, and a silent client does not hold up the others.
func TestMuxSplits(t *testing.T) {
	m, ln := startMux(t)

	silent, err := net.Dial("tcp", ln.Addr().String()) // slow loris: sends nothing
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	accept := func(l *chanListener) net.Conn {
		t.Helper()
		ch := make(chan net.Conn, 1)
		go func() { c, _ := l.Accept(); ch <- c }()
		select {
		case c := <-ch:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("nothing arrived")
			return nil
		}
	}
	dialTLS := func(cfg *tls.Config) {
		t.Helper()
		cfg.InsecureSkipVerify = true
		go func() {
			c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
			if err == nil {
				c.Write([]byte("x"))
				time.Sleep(100 * time.Millisecond)
				c.Close()
			}
		}()
	}

	plain, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	plain.Write([]byte("SSH-2.0-test\r\n"))
	c := accept(m.ssh)
	line := make([]byte, 14)
	if _, err := io.ReadFull(c, line); err != nil || string(line) != "SSH-2.0-test\r\n" {
		t.Fatalf("SSH conn starts with %q, %v", line, err)
	}
	c.Close()
	plain.Close()

	dialTLS(&tls.Config{NextProtos: []string{ALPNSSH}})
	accept(m.ssh).Close()
	dialTLS(&tls.Config{ServerName: "ssh.gw.example.com"})
	accept(m.ssh).Close()
	dialTLS(&tls.Config{NextProtos: []string{"h2"}})
	accept(m.h2).Close()
	dialTLS(&tls.Config{NextProtos: []string{"h2", "http/1.1"}})
	accept(m.http).Close()

	garbage, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	garbage.Write([]byte("\x00\x01\x02\x03 hello\r\n"))
	garbage.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := garbage.Read(make([]byte, 1)); err == nil {
		t.Fatalf("garbage got %d bytes back, want the connection closed", n)
	}
	garbage.Close()

	// Plain HTTP hears why, as from net/http's TLS server, and is closed.
	plainHTTP, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	plainHTTP.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	plainHTTP.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(plainHTTP); err != nil || !bytes.HasPrefix(b, []byte("HTTP/1.0 400 ")) || !bytes.Contains(b, []byte("HTTPS server")) {
		t.Fatalf("plain HTTP got %q, %v", b, err)
	}
	plainHTTP.Close()
}

// TestMuxPendingPerSource: one address holding MaxPendingPerSource silent
// connections gets its next one closed at once; another address is served,
// and the first is again once its silent connections are gone.
func TestMuxPendingPerSource(t *testing.T) {
	m, ln := startMux(t)

	dialFrom := func(ip string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sshFrom := func(ip string) {
		t.Helper()
		c := dialFrom(ip)
		defer c.Close()
		c.Write([]byte("SSH-2.0-test\r\n"))
		ch := make(chan net.Conn, 1)
		go func() { c, _ := m.ssh.Accept(); ch <- c }()
		select {
		case s := <-ch:
			s.Close()
		case <-time.After(5 * time.Second):
			t.Fatalf("an SSH client from %s was not served", ip)
		}
	}
	var silent []net.Conn
	for range MaxPendingPerSource {
		silent = append(silent, dialFrom("127.0.0.1"))
	}
	// Wait until the mux counts them all.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m.mu.Lock()
		n := m.pending["127.0.0.1"]
		m.mu.Unlock()
		if n == MaxPendingPerSource {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pending, want %d", n, MaxPendingPerSource)
		}
	}
	extra := dialFrom("127.0.0.1")
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("connection %d from one address: read %v, want EOF at once", MaxPendingPerSource+1, err)
	}
	extra.Close()
	sshFrom("127.0.0.2")
	for _, c := range silent {
		c.Close()
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m.mu.Lock()
		n := m.pending["127.0.0.1"]
		m.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d still pending after their clients left", n)
		}
	}
	sshFrom("127.0.0.1")
}

// startMux serves a mux with the SSH side on, on a new loopback listener
// closed at the end of the test.
func startMux(t *testing.T) (*mux, net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tlsutil.LoadOrCreate(t.TempDir(), []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	m := newMux(ln, splitALPN(&tls.Config{Certificates: []tls.Certificate{cert}}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.sshOn = true
	go m.serve()
	t.Cleanup(func() { ln.Close() })
	return m, ln
}

// addrConn is a net.Conn that only has a remote address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// TestSourceKey: an IPv4 address counts alone (mapped or not); an IPv6
// address counts with its whole /64.
func TestSourceKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:4000":                 "192.0.2.7",
		"[::ffff:192.0.2.7]:4000":        "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:4000":    "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::9%eth0]:40": "2001:db8:1:2::/64",
	} {
		ap := netip.MustParseAddrPort(addr)
		if got := sourceKey(addrConn{remote: net.TCPAddrFromAddrPort(ap)}); got != want {
			t.Errorf("sourceKey(%s) = %q, want %q", addr, got, want)
		}
	}
}
