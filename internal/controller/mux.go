package controller

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/burrow-dev/burrow/internal/acceptloop"
)

// HandshakeTimeout bounds the TLS handshake of a new connection, so slow
// or silent clients cannot pile up.
const HandshakeTimeout = 10 * time.Second

// mux accepts connections on the one public port and tells them apart by
// their first bytes: "SSH-" is an SSH client (to the SSH gateway), a TLS
// record is TLS. Inside TLS, ALPN "ssh" or an SNI name starting with
// "ssh." is SSH over TLS (to the SSH gateway too), "h2" is gRPC, anything
// else the HTTP/1.1 server.
type mux struct {
	ln   net.Listener
	cfg  *tls.Config
	log  *slog.Logger
	h2   *chanListener
	http *chanListener
	ssh  *chanListener
	// sshOn says whether something accepts from ssh; without it SSH
	// clients are turned away at once.
	sshOn bool

	mu       sync.Mutex
	pending  map[string]int // connections not yet handed on, by source
	total    int            // all of them
	lastWarn time.Time      // when a refusal was last logged at Warn
}

// MaxPendingPerSource bounds the connections one source (an IPv4 address,
// an IPv6 /64) may hold open on the main port before they are sniffed and
// through TLS, and MaxPending those of all sources: more are closed at
// once, so silent clients cannot use up the controller's file descriptors
// (each is dropped after HandshakeTimeout anyway). The gateway's SSH
// logins have the same two bounds (MaxStartups).
const (
	MaxPendingPerSource = 64
	MaxPending          = 1024
)

func newMux(ln net.Listener, cfg *tls.Config, log *slog.Logger) *mux {
	return &mux{ln: ln, cfg: cfg, log: log, h2: newChanListener(ln.Addr()), http: newChanListener(ln.Addr()), ssh: newChanListener(ln.Addr())}
}

// ALPNSSH is the ALPN protocol of SSH over TLS on the main port.
const ALPNSSH = "ssh"

// Protocols the first bytes of a connection can show.
const (
	sniffTLS     = "tls"
	sniffSSH     = "ssh"
	sniffUnknown = ""
)

// sniff names the protocol that starts with prefix: an SSH version line
// (RFC 4253 §4.2) or a TLS handshake record (content type 22, major
// version 3).
func sniff(prefix []byte) string {
	switch {
	case len(prefix) >= 4 && bytes.Equal(prefix[:4], []byte("SSH-")):
		return sniffSSH
	case len(prefix) >= 2 && prefix[0] == 0x16 && prefix[1] == 0x03:
		return sniffTLS
	}
	return sniffUnknown
}

// plainHTTP reports whether prefix starts an HTTP/1 request.
func plainHTTP(prefix []byte) bool {
	for _, m := range []string{"GET ", "HEAD", "POST", "PUT ", "DELE", "OPTI", "PATC", "CONN", "TRAC"} {
		if bytes.HasPrefix(prefix, []byte(m)) {
			return true
		}
	}
	return false
}

// peekedConn is a connection whose first bytes were read to sniff it.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// serve accepts until the listener is closed.
func (m *mux) serve() error {
	defer m.h2.Close()
	defer m.http.Close()
	defer m.ssh.Close()
	for {
		c, err := acceptloop.Accept(m.ln, m.log)
		if err != nil {
			return err
		}
		ip := sourceKey(c)
		if !m.hold(ip) {
			c.Close()
			continue
		}
		go func() {
			defer m.release(ip)
			m.handshake(c)
		}()
	}
}

// hold counts a pending connection from source src, or reports false if
// src or all sources hold their maximum already; a refusal is logged at
// Warn at most every 10 s, so that an operator sees why clients are
// dropped without a flood filling the log.
func (m *mux) hold(src string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending[src] >= MaxPendingPerSource || m.total >= MaxPending {
		if now := time.Now(); now.Sub(m.lastWarn) >= 10*time.Second {
			m.lastWarn = now
			m.log.Warn("main port: too many connections still in their handshake; closing new ones (behind a proxy, all clients share its address)",
				"source", src, "source_pending", m.pending[src], "max_per_source", MaxPendingPerSource, "pending", m.total, "max", MaxPending)
		}
		return false
	}
	if m.pending == nil {
		m.pending = map[string]int{}
	}
	m.pending[src]++
	m.total++
	return true
}

func (m *mux) release(src string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total--
	if m.pending[src]--; m.pending[src] <= 0 {
		delete(m.pending, src)
	}
}

// sourceKey names the source c counts against: its IPv4 address, or the
// /64 of its IPv6 address (one host commonly holds a whole /64).
func sourceKey(c net.Conn) string {
	a := c.RemoteAddr().String()
	host, _, err := net.SplitHostPort(a)
	if err != nil {
		return a
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}

// handshake sniffs c and completes TLS, all within HandshakeTimeout: a
// client that sends nothing, or too little, is dropped then.
func (m *mux) handshake(c net.Conn) {
	c.SetDeadline(time.Now().Add(HandshakeTimeout))
	pc := &peekedConn{Conn: c, r: bufio.NewReaderSize(c, 512)}
	prefix, err := pc.r.Peek(4)
	switch kind := sniff(prefix); {
	case err != nil:
		m.log.Debug("connection closed before its first bytes", "peer", c.RemoteAddr(), "err", err)
		c.Close()
		return
	case kind == sniffSSH:
		m.putSSH(pc) // the SSH server bounds its own handshake
		return
	case kind != sniffTLS:
		m.log.Debug("neither TLS nor SSH; closing", "peer", c.RemoteAddr(), "first_bytes", prefix)
		if plainHTTP(prefix) { // say why, as net/http's TLS server does
			io.WriteString(c, "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server: use https://\n")
		}
		c.Close()
		return
	}
	tc := tls.Server(pc, m.cfg)
	if err := tc.Handshake(); err != nil {
		m.log.Debug("tls handshake failed", "peer", c.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	switch {
	case st.NegotiatedProtocol == ALPNSSH || strings.HasPrefix(st.ServerName, "ssh."):
		m.putSSH(tc)
	case st.NegotiatedProtocol == "h2":
		m.h2.put(tc)
	default:
		m.http.put(tc)
	}
}

func (m *mux) putSSH(c net.Conn) {
	if !m.sshOn {
		m.log.Debug("SSH client on the main port, but the SSH gateway is off", "peer", c.RemoteAddr())
		c.Close()
		return
	}
	m.ssh.put(c)
}

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) put(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
