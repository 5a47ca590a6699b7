package acceptloop

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
)

// flakyListener fails its first n Accepts with err.
type flakyListener struct {
	net.Listener
	n   int
	err error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.n > 0 {
		l.n--
		return nil, l.err
	}
	return l.Listener.Accept()
}

func TestAcceptWaitsOutPassingErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	fl := &flakyListener{Listener: ln, n: 3, err: emfile}
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
		}
	}()
	c, err := Accept(fl, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("Accept after 3 EMFILE: %v", err)
	}
	c.Close()
	if fl.n != 0 {
		t.Errorf("%d errors left", fl.n)
	}
	ln.Close()
	if _, err := Accept(ln, slog.Default()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept on a closed listener: %v, want net.ErrClosed", err)
	}
}

func TestPassing(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("accept: %w", syscall.EMFILE), true},
		{fmt.Errorf("accept: %w", syscall.ECONNABORTED), true},
		{net.ErrClosed, false},
		{errors.New("boom"), false},
	} {
		if got := Passing(tc.err); got != tc.want {
			t.Errorf("Passing(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
