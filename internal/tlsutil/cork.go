package tlsutil

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/credentials"
)

// crypto/tls writes each record (at most 16 KiB of data) to its connection
// with a write of its own, so one 256 KiB gRPC flush or one 64 KiB relay
// write costs the sender up to 16 syscalls and the receiver as many
// wakeups. The types here put a corker under the TLS connection: while a
// Write of the TLS connection runs, the corker collects the records it
// produces and sends them in one write when it returns.
//
// Anything crypto/tls writes from elsewhere (alerts and key updates from
// Read, close_notify from Close or CloseWrite) goes straight through when
// no Write runs, and otherwise joins the cork in order and leaves with it
// when that Write returns, a moment later. Handshakes are never corked.

// MaxCork bounds what a corker holds: it sends as soon as it holds this
// much, so one big Write costs a syscall per MaxCork bytes.
const MaxCork = 256 << 10

// maxRecord is the most crypto/tls writes in one record: a header, 16 KiB
// of data and the AEAD's overhead, with room to spare. A cork buffer has
// room for one more record after MaxCork, so it never grows.
const maxRecord = 5 + 16<<10 + 256

var corkBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, MaxCork+maxRecord)
	return &b
}}

// corker is the connection under a tls.Conn.
type corker struct {
	net.Conn

	// active counts Writes in progress, corked or sending.
	active atomic.Int32

	mu     sync.Mutex // guards corked and buf
	corked bool
	buf    *[]byte // from corkBufs while it holds bytes; nil when empty

	// wmu is held while writing to Conn. It is taken while holding mu, so
	// bytes reach Conn in the order they reached the corker.
	wmu sync.Mutex
	err error // the first failed write; guarded by wmu
}

// Write is called by crypto/tls, one record (or one handshake flight) at a
// time.
func (k *corker) Write(p []byte) (int, error) {
	k.mu.Lock()
	if !k.corked {
		if err := k.sendLocked(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if k.buf == nil {
		k.buf = corkBufs.Get().(*[]byte)
	}
	if len(*k.buf)+len(p) > cap(*k.buf) { // a record bigger than maxRecord: not from a Write
		if err := k.sendLocked(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	*k.buf = append(*k.buf, p...)
	if len(*k.buf) >= MaxCork {
		if err := k.sendLocked(nil); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	k.mu.Unlock()
	return len(p), nil
}

// sendLocked writes what the cork holds, then p, to Conn, and unlocks
// k.mu.
func (k *corker) sendLocked(p []byte) error {
	buf := k.buf
	k.buf = nil
	k.wmu.Lock()
	k.mu.Unlock()
	defer k.wmu.Unlock()
	return k.writeLocked(buf, p)
}

// writeLocked writes buf (and gives it back to corkBufs), then p, holding
// k.wmu. After a failed write nothing more is written: the TLS stream is
// broken, and the error is returned again.
func (k *corker) writeLocked(buf *[]byte, p []byte) error {
	if buf != nil {
		if k.err == nil {
			_, k.err = k.Conn.Write(*buf)
		}
		*buf = (*buf)[:0]
		corkBufs.Put(buf)
	}
	if len(p) > 0 && k.err == nil {
		_, k.err = k.Conn.Write(p)
	}
	return k.err
}

// corkedWrite runs write, one Write of the TLS connection over k, with k
// corked, and sends what it produced in one write.
func (k *corker) corkedWrite(write func([]byte) (int, error), p []byte) (int, error) {
	k.active.Add(1)
	defer k.active.Add(-1)
	k.mu.Lock()
	k.corked = true
	k.mu.Unlock()
	n, err := write(p)
	if ferr := k.uncork(); err == nil && ferr != nil {
		return 0, ferr
	}
	return n, err
}

// uncork sends what the cork holds and lets later writes through.
func (k *corker) uncork() error {
	k.mu.Lock()
	k.corked = false
	if k.buf == nil {
		k.mu.Unlock()
		return nil
	}
	return k.sendLocked(nil)
}

// Close sends what is still corked (a close_notify that met a Write),
// then closes Conn. If a write to Conn is under way, Close does not wait
// behind it: it closes Conn, which ends that write.
func (k *corker) Close() error {
	k.mu.Lock()
	k.corked = false
	if buf := k.buf; buf != nil && k.wmu.TryLock() {
		k.buf = nil
		k.mu.Unlock()
		k.writeLocked(buf, nil)
		k.wmu.Unlock()
	} else {
		k.mu.Unlock()
	}
	return k.Conn.Close()
}

// closeTLS closes tc, whose connection is k. Like tls.Conn.Close with a
// Write in flight, it first closes the network connection when one of
// k's Writes is running, to break it rather than wait behind it.
func (k *corker) closeTLS(tc net.Conn) error {
	if k.active.Load() > 0 {
		k.Conn.Close()
	}
	return tc.Close()
}

// Conn is a TLS connection whose Write sends the records it makes in one
// write to the network (up to MaxCork bytes at a time). Everything else is
// the embedded *tls.Conn's: Read, Handshake, CloseWrite (half-close with
// close_notify), ConnectionState, deadlines.
type Conn struct {
	*tls.Conn
	k *corker
}

// Server is tls.Server with corked writes.
func Server(conn net.Conn, cfg *tls.Config) *Conn {
	k := &corker{Conn: conn}
	return &Conn{Conn: tls.Server(k, cfg), k: k}
}

// Client is tls.Client with corked writes.
func Client(conn net.Conn, cfg *tls.Config) *Conn {
	k := &corker{Conn: conn}
	return &Conn{Conn: tls.Client(k, cfg), k: k}
}

// Write completes the handshake if needed (uncorked: its flights wait for
// answers), then writes p and sends the records in one write.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.Conn.Handshake(); err != nil {
		return 0, err
	}
	return c.k.corkedWrite(c.Conn.Write, p)
}

// Close sends close_notify and closes the connection. A Write in flight is
// broken, not waited for.
func (c *Conn) Close() error { return c.k.closeTLS(c.Conn) }

// NetConn returns the network connection under the TLS layer.
func (c *Conn) NetConn() net.Conn { return c.k.Conn }

// Credentials are gRPC transport credentials like credentials.NewTLS(cfg)
// whose client connections write like Conn: each flush of gRPC's write
// buffer leaves in one write instead of one per TLS record.
func Credentials(cfg *tls.Config) credentials.TransportCredentials {
	return corkedCreds{credentials.NewTLS(cfg)}
}

type corkedCreds struct {
	credentials.TransportCredentials
}

func (c corkedCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	k := &corker{Conn: raw}
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, k)
	if err != nil {
		return nil, nil, err
	}
	return &corkedConn{Conn: conn, k: k}, info, nil
}

func (c corkedCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	k := &corker{Conn: raw}
	conn, info, err := c.TransportCredentials.ServerHandshake(k)
	if err != nil {
		return nil, nil, err
	}
	return &corkedConn{Conn: conn, k: k}, info, nil
}

func (c corkedCreds) Clone() credentials.TransportCredentials {
	return corkedCreds{c.TransportCredentials.Clone()}
}

// corkedConn is what gRPC's TLS credentials made of a corker, with Write
// and Close like Conn's. The handshake is done.
type corkedConn struct {
	net.Conn
	k *corker
}

func (c *corkedConn) Write(p []byte) (int, error) { return c.k.corkedWrite(c.Conn.Write, p) }

func (c *corkedConn) Close() error { return c.k.closeTLS(c.Conn) }
