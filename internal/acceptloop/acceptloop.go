// Package acceptloop accepts connections the way a server must: a
// listener's error that will pass (out of file descriptors, a connection
// aborted before it was accepted) is waited out, not taken as the end of
// the server.
package acceptloop

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// Delays between retries after a passing error, doubling from the first
// to the last, as net/http's Server does.
const (
	firstDelay = 5 * time.Millisecond
	maxDelay   = time.Second
)

// Accept returns the next connection of ln. On an error that passes it
// logs once per run of errors, waits (5 ms doubling up to 1 s) and tries
// again; other errors (net.ErrClosed once ln is closed) are returned.
func Accept(ln net.Listener, log *slog.Logger) (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err == nil || !Passing(err) {
			return c, err
		}
		if delay == 0 {
			delay = firstDelay
			log.Warn("accept failed; retrying", "addr", ln.Addr(), "err", err)
		} else {
			delay = min(2*delay, maxDelay)
		}
		time.Sleep(delay)
	}
}

// Passing reports whether an Accept error is one to wait out: descriptors
// or memory run out (EMFILE, ENFILE, ENOBUFS, ENOMEM), a connection was
// aborted or reset before it was accepted, a signal or timeout interrupted.
func Passing(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN, syscall.EPROTO} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
