// Package relay joins two connections, copying bytes both ways in order and
// passing a half-close (EOF in one direction) through to the other side
// without ending the opposite direction.
package relay

import (
	"errors"
	"io"
	"net"
	"sync"

	"google.golang.org/grpc/mem"

	"github.com/burrow-dev/burrow/internal/bufpool"
)

// BufSize is the copy buffer size between two plain connections.
const BufSize = 64 << 10

var bufs = sync.Pool{New: func() any { b := make([]byte, BufSize); return &b }}

// Aborter is implemented by connections that want to know why a relay cut
// them (the dialer records it in the audit log).
type Aborter interface{ Abort(cause error) }

// bufferReader and bufferWriter are implemented by tunnel streams (and the
// dialer's session conns around them): a relay between two of them passes
// gRPC's buffers along instead of copying the bytes.
type (
	bufferReader interface {
		ReadBuffers() (mem.BufferSlice, error)
	}
	bufferWriter interface {
		WriteBuffers(mem.BufferSlice) error
	}
)

// closeWriter is implemented by *net.TCPConn, *tls.Conn, *tunnel.Conn and
// *net.UnixConn.
type closeWriter interface{ CloseWrite() error }

// Result says how many bytes went each way and why the relay ended.
type Result struct {
	AToB, BToA int64
	Err        error // first error that was not a clean EOF, or nil
}

// Join copies a→b and b→a until both directions have ended, then closes
// both connections. A clean EOF from one side becomes CloseWrite on the
// other (or Close, when it cannot half-close); an error aborts both.
func Join(a, b net.Conn) Result {
	var r Result
	var wg sync.WaitGroup
	var once sync.Once
	abort := func(err error) {
		if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrClosedPipe) { // our own Close, not a cause
			once.Do(func() { r.Err = err; tellAbort(err, a, b) })
		}
		a.Close()
		b.Close()
	}
	wg.Add(1)
	go func() { defer wg.Done(); r.AToB = pipe(b, a, abort) }()
	r.BToA = pipe(a, b, abort) // in the caller's goroutine: one fewer per session
	wg.Wait()
	a.Close()
	b.Close()
	return r
}

// pipe copies src to dst; it returns the bytes copied.
func pipe(dst, src net.Conn, abort func(error)) int64 {
	var n int64
	var err error
	br, okr := src.(bufferReader)
	bw, okw := dst.(bufferWriter)
	_, socket := dst.(*net.TCPConn)
	switch {
	case okr && okw:
		n, err = passBuffers(bw, br)
	case okw:
		n, err = readIntoBuffers(bw, src)
	case okr && socket:
		n, err = writeBuffers(dst, br)
	default:
		bp := bufs.Get().(*[]byte)
		n, err = copyBuf(dst, src, *bp)
		bufs.Put(bp)
	}
	if err != nil {
		abort(err)
		return n
	}
	if cw, ok := dst.(closeWriter); ok {
		if err := cw.CloseWrite(); err != nil && !errors.Is(err, net.ErrClosed) {
			abort(err)
		}
		return n
	}
	dst.Close()
	return n
}

// copyBuf is io.CopyBuffer without the ReaderFrom/WriterTo shortcuts, so
// every write is up to one whole buffer.
func copyBuf(dst io.Writer, src io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
		}
		if errors.Is(rerr, io.EOF) {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// passBuffers is copyBuf for two tunnel streams: each received frame's
// buffers are sent on as they are.
func passBuffers(dst bufferWriter, src bufferReader) (int64, error) {
	var n int64
	for {
		data, rerr := src.ReadBuffers()
		if l := data.Len(); l > 0 {
			if werr := dst.WriteBuffers(data); werr != nil {
				return n, werr
			}
			n += int64(l)
		}
		if errors.Is(rerr, io.EOF) {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// Read sizes for readIntoBuffers: a connection starts small, and grows
// while reads fill the buffer, so a bulk transfer moves in large frames
// (fewer messages and wakeups per byte) while a quiet connection, which
// holds its buffer while it waits, holds a small one.
const (
	minRead = 16 << 10
	maxRead = 256 << 10
)

// readIntoBuffers reads src into pooled buffers and hands each one to the
// tunnel stream, which sends it without copying and then recycles it.
func readIntoBuffers(dst bufferWriter, src io.Reader) (int64, error) {
	var n int64
	size := minRead
	for {
		bp := bufpool.Get(size)
		nr, rerr := src.Read(*bp)
		switch {
		case nr == size:
			size = min(2*size, maxRead)
		case nr < size/4:
			size = max(size/2, minRead)
		}
		if nr > 0 {
			*bp = (*bp)[:nr]
			if werr := dst.WriteBuffers(mem.BufferSlice{mem.NewBuffer(bp, bufpool.Pool{})}); werr != nil {
				return n, werr
			}
			n += int64(nr)
		} else {
			bufpool.Put(bp)
		}
		if errors.Is(rerr, io.EOF) {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// writeBuffers writes each frame a tunnel stream received straight from
// gRPC's buffers to a socket, in one writev.
func writeBuffers(dst io.Writer, src bufferReader) (int64, error) {
	var n int64
	var backing net.Buffers // WriteTo consumes the slice it is given, not this one
	for {
		data, rerr := src.ReadBuffers()
		if len(data) > 0 {
			backing = backing[:0]
			for _, b := range data {
				backing = append(backing, b.ReadOnlyData())
			}
			vec := backing
			nw, werr := vec.WriteTo(dst)
			data.Free()
			n += nw
			if werr != nil {
				return n, werr
			}
		}
		if errors.Is(rerr, io.EOF) {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func tellAbort(err error, conns ...net.Conn) {
	for _, c := range conns {
		if ab, ok := c.(Aborter); ok {
			ab.Abort(err)
		}
	}
}
