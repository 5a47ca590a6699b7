// Package tunnel carries sessions between the controller and agents: the
// gRPC Tunnel stream adapted to a net.Conn (with half-close), and the
// rendezvous that pairs an agent's dial-back stream with the waiting request.
// The wire flow is described in docs/protocol.md.
package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/mem"
)

// MaxFrame is the largest payload put in one Frame. Larger writes are split.
const MaxFrame = 256 << 10

// FrameStream is the part of a gRPC Tunnel or Forward stream (client or
// server side) that Conn needs. Both ends must use Codec: Conn sends and
// receives its own frame type, which only Codec encodes.
type FrameStream interface {
	SendMsg(m any) error
	RecvMsg(m any) error
	Context() context.Context
}

// Conn adapts a Tunnel stream to a net.Conn. Read returns io.EOF once the
// peer sent an eof frame or ended the stream; CloseWrite sends an eof frame
// and leaves reading open. Close ends the stream in both directions.
//
// A Write blocked past its deadline aborts the stream: gRPC cannot cancel a
// single Send, so the conn is unusable after a write timeout.
type Conn struct {
	stream FrameStream
	cancel context.CancelFunc // aborts the stream
	local  net.Addr
	remote net.Addr
	// agentID is the agent at the other end, on the controller's side.
	agentID string

	frames chan recvResult // from the reader goroutine
	buf    mem.BufferSlice // unread part of the current frame
	rerr   error           // sticky read error

	readMu   sync.Mutex
	readDL   deadline
	writeMu  sync.Mutex
	writeDL  deadline
	out      frame // reused by Write; the codec copies it during SendMsg
	wclosed  bool
	closeOne sync.Once
	closed   chan struct{}
	ended    chan struct{} // closed when Recv has returned its final error
	endErr   error         // that error, unless the peer half-closed first; set before ended
	gotEOF   atomic.Bool   // the peer half-closed cleanly
	opened   atomic.Bool   // the peer said the session opened
	sentEOF  atomic.Bool   // we half-closed
	onClose  func()
}

// CloseGrace bounds how long Close of a cleanly finished client-side stream
// waits for the controller's final status before cancelling it. Cancelling
// earlier could drop DATA frames still queued behind flow control.
const CloseGrace = 5 * time.Second

type recvResult struct {
	data mem.BufferSlice // references into gRPC's buffers; Read frees them
	err  error
}

// AgentID names the agent serving the session ("" on the agent's side).
func (c *Conn) AgentID() string { return c.agentID }

// NewConn wraps stream. cancel must abort the stream (the cancel func of
// the client stream's context, or the server handler's); onClose, if not
// nil, runs once after Close.
func NewConn(stream FrameStream, cancel context.CancelFunc, local, remote net.Addr, onClose func()) *Conn {
	c := &Conn{
		stream:  stream,
		cancel:  cancel,
		local:   local,
		remote:  remote,
		frames:  make(chan recvResult, 4),
		closed:  make(chan struct{}),
		ended:   make(chan struct{}),
		onClose: onClose,
	}
	c.readDL.init()
	c.writeDL.init()
	go c.receive()
	return c
}

// receive pumps frames from the stream so Read can honour deadlines. After
// the peer's eof frame it keeps receiving until the stream ends, so that
// ended tells when the peer is done with the stream.
func (c *Conn) receive() {
	defer close(c.ended)
	defer close(c.frames)
	var f frame
	for {
		err := c.stream.RecvMsg(&f)
		switch {
		case err != nil:
			if !c.gotEOF.Load() {
				c.endErr = err
				c.deliver(recvResult{err: err})
			}
			return
		case c.gotEOF.Load():
			// Data after eof is a protocol violation; drop it.
			f.payload.Free()
		case f.opened && f.payload.Len() == 0:
			c.opened.Store(true)
		case f.eof:
			if f.payload.Len() > 0 && !c.deliver(recvResult{data: f.payload}) {
				return
			}
			c.gotEOF.Store(true)
			c.deliver(recvResult{err: io.EOF})
		case f.payload.Len() > 0:
			if !c.deliver(recvResult{data: f.payload}) {
				return
			}
		default:
			f.payload.Free()
		}
	}
}

// deliver hands r to Read; if the conn is closed first, r's buffers go back
// to the pool.
func (c *Conn) deliver(r recvResult) bool {
	select {
	case c.frames <- r:
		return true
	case <-c.closed:
		r.data.Free()
		return false
	}
}

// Read implements net.Conn.
func (c *Conn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if isClosed(c.closed) {
		return 0, net.ErrClosed
	}
	for len(c.buf) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if err := c.waitFrame(); err != nil {
			return 0, err
		}
	}
	n := 0
	for n < len(p) && len(c.buf) > 0 {
		m, rest := mem.ReadUnsafe(p[n:], c.buf[0]) // frees what it used up
		n += m
		if rest == nil {
			c.buf[0] = nil
			c.buf = c.buf[1:]
		} else {
			c.buf[0] = rest
		}
	}
	return n, nil
}

// ReadBuffers returns the next received data without copying it; the caller
// owns the buffers and must Free them (or pass them to WriteBuffers). It
// returns io.EOF after the peer's half-close, like Read.
func (c *Conn) ReadBuffers() (mem.BufferSlice, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if isClosed(c.closed) {
		return nil, net.ErrClosed
	}
	for len(c.buf) == 0 {
		if c.rerr != nil {
			return nil, c.rerr
		}
		if err := c.waitFrame(); err != nil {
			return nil, err
		}
	}
	data := c.buf
	c.buf = nil
	return data, nil
}

// waitFrame fills c.buf or sets c.rerr; it returns only deadline errors.
func (c *Conn) waitFrame() error {
	select {
	case r, ok := <-c.frames:
		switch {
		case !ok:
			c.rerr = net.ErrClosed
		case r.err != nil:
			c.rerr = readError(r.err)
		default:
			c.buf = r.data
		}
		return nil
	case <-c.readDL.wait():
		return os.ErrDeadlineExceeded
	case <-c.closed:
		c.rerr = net.ErrClosed
		return nil
	}
}

// readError turns the end of a stream into io.EOF: a peer that ends its
// stream cleanly has finished sending.
func readError(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return err
}

// Write implements net.Conn.
func (c *Conn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.wclosed {
		return 0, net.ErrClosed
	}
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), MaxFrame)]
		c.out = frame{data: chunk}
		err := c.send(&c.out)
		c.out.data = nil
		if err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// WriteBuffers sends data as one frame without copying it, and takes over
// the caller's reference: gRPC frees the buffers once they are written. A
// relay between two tunnel streams passes what ReadBuffers returned.
func (c *Conn) WriteBuffers(data mem.BufferSlice) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.wclosed {
		data.Free()
		return net.ErrClosed
	}
	if data.Len() == 0 {
		data.Free()
		return nil
	}
	return c.send(&frame{payload: data})
}

// send sends f, aborting the stream if the write deadline passes first.
func (c *Conn) send(f *frame) error {
	select {
	case <-c.closed:
		f.payload.Free() // WriteBuffers handed it over; gRPC never saw it
		return net.ErrClosed
	case <-c.writeDL.wait():
		f.payload.Free()
		return os.ErrDeadlineExceeded
	default:
	}
	stop := c.writeDL.afterFunc(c.cancel)
	err := c.stream.SendMsg(f)
	if !stop() {
		return os.ErrDeadlineExceeded
	}
	if err != nil {
		return err
	}
	return nil
}

// CloseWrite tells the peer no more data follows (half-close).
func (c *Conn) CloseWrite() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.wclosed {
		return nil
	}
	c.wclosed = true
	err := c.send(&frame{eof: true})
	c.sentEOF.Store(err == nil)
	if cs, ok := c.stream.(interface{ CloseSend() error }); ok && err == nil {
		err = cs.CloseSend()
	}
	return err
}

// Close ends the stream; later calls return net.ErrClosed. If both sides
// half-closed, a client-side stream first waits (at most CloseGrace) for
// the server to end it, so nothing in flight is lost; otherwise the stream
// is aborted and the peer's Read fails instead of seeing EOF.
func (c *Conn) Close() error {
	err := net.ErrClosed
	c.closeOne.Do(func() {
		err = nil
		if _, client := c.stream.(interface{ CloseSend() error }); client && c.Finished() {
			c.waitEnded(CloseGrace)
		}
		close(c.closed)
		c.cancel()
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}

// Opened reports whether the peer said the session opened: an opened
// frame came through this conn, or MarkOpened was called by whoever read
// that frame before the conn existed.
func (c *Conn) Opened() bool { return c.opened.Load() }

// MarkOpened records that the peer's opened frame was read already.
func (c *Conn) MarkOpened() { c.opened.Store(true) }

// EndError waits, after Close, until the stream has ended and returns how
// it ended on the receiving side: nil after the peer's clean half-close,
// else the stream's final error (for a gateway session refused after an
// optimistic open, the controller's status).
func (c *Conn) EndError() error {
	<-c.ended
	return c.endErr
}

// Finished reports whether both directions ended with a clean half-close.
func (c *Conn) Finished() bool { return c.gotEOF.Load() && c.sentEOF.Load() }

func (c *Conn) waitEnded(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.ended:
	case <-t.C:
	}
}

// Done is closed once Close has been called.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements net.Conn.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline implements net.Conn.
func (c *Conn) SetDeadline(t time.Time) error {
	c.readDL.set(t)
	c.writeDL.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error { c.readDL.set(t); return nil }

// SetWriteDeadline implements net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.writeDL.set(t); return nil }

// Addr names one end of a tunnel in logs and RemoteAddr.
type Addr string

// Network implements net.Addr.
func (Addr) Network() string { return "burrow" }

func (a Addr) String() string { return string(a) }
