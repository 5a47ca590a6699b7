package controller

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"
)

// HandshakeTimeout bounds the TLS handshake of a new connection, so slow
// or silent clients cannot pile up.
const HandshakeTimeout = 10 * time.Second

// mux accepts connections on the one public port, completes TLS and hands
// each connection to the listener of its ALPN protocol: "h2" to gRPC,
// everything else to the HTTP/1.1 server.
type mux struct {
	ln   net.Listener
	cfg  *tls.Config
	log  *slog.Logger
	h2   *chanListener
	http *chanListener
}

func newMux(ln net.Listener, cfg *tls.Config, log *slog.Logger) *mux {
	return &mux{ln: ln, cfg: cfg, log: log, h2: newChanListener(ln.Addr()), http: newChanListener(ln.Addr())}
}

// serve accepts until the listener is closed.
func (m *mux) serve() error {
	defer m.h2.Close()
	defer m.http.Close()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			return err
		}
		go m.handshake(c)
	}
}

func (m *mux) handshake(c net.Conn) {
	tc := tls.Server(c, m.cfg)
	tc.SetDeadline(time.Now().Add(HandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		m.log.Debug("tls handshake failed", "peer", c.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	tc.SetDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		m.h2.put(tc)
	} else {
		m.http.put(tc)
	}
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
