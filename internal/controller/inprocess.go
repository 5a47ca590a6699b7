package controller

import (
	"context"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// DialInProcess connects to the controller's gRPC services from the same
// process, without TLS or a listening socket: it is how burrow dev's agent
// reaches its controller (agent.Options.InProcessDial). The bytes go through a
// kernel socket pair, which nothing outside the process can open, so TLS
// there would only cost CPU. Run must be serving, or ctx must end.
func (c *Controller) DialInProcess(ctx context.Context, _ string) (net.Conn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("in-process connection: %w", err)
	}
	server, err := fileConn(fds[0], "burrow-controller")
	if err != nil {
		unix.Close(fds[1])
		return nil, err
	}
	client, err := fileConn(fds[1], "burrow-agent")
	if err != nil {
		server.Close()
		return nil, err
	}
	select {
	case c.inProcess.ch <- inProcessConn{server}:
		return client, nil
	case <-c.inProcess.closed:
		err = net.ErrClosed
	case <-ctx.Done():
		err = ctx.Err()
	}
	server.Close()
	client.Close()
	return nil, fmt.Errorf("in-process connection: %w", err)
}

// fileConn makes a net.Conn of one end of a socket pair.
func fileConn(fd int, name string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close() // FileConn dups the descriptor
	conn, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("in-process connection: %w", err)
	}
	return conn, nil
}

// inProcessConn, the controller's end of the pair, names both addresses
// "in-process" (in logs, as the agent's peer address) rather than a socket
// pair's empty names.
type inProcessConn struct{ net.Conn }

func (inProcessConn) LocalAddr() net.Addr  { return inProcessAddr{} }
func (inProcessConn) RemoteAddr() net.Addr { return inProcessAddr{} }

// inProcessAddr is the address of in-process connections.
type inProcessAddr struct{}

func (inProcessAddr) Network() string { return "inprocess" }
func (inProcessAddr) String() string  { return "in-process" }
