package sshd

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/crypto/ssh"
)

// Channel and request payloads for forwarding (RFC 4254 §7).
type (
	directTCPIPMsg struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	tcpipForwardMsg struct {
		Addr string
		Port uint32
	}
	forwardedTCPIPMsg struct {
		Addr     string
		Port     uint32
		OrigAddr string
		OrigPort uint32
	}
)

// directTCPIP serves ssh -L: a connection from the target's point of view,
// through the agent's policy (declared targets and their port lists).
func (c *conn) directTCPIP(nc ssh.NewChannel) {
	var m directTCPIPMsg
	if err := ssh.Unmarshal(nc.ExtraData(), &m); err != nil {
		nc.Reject(ssh.ConnectionFailed, "burrow: malformed direct-tcpip request")
		return
	}
	if !c.permits("permit-port-forwarding") {
		nc.Reject(ssh.Prohibited, "burrow: your certificate does not permit port forwarding")
		return
	}
	dial := c.srv.opts.DialTCP
	if dial == nil {
		nc.Reject(ssh.Prohibited, "burrow: port forwarding is off on this target")
		return
	}
	if m.Port == 0 || m.Port > 65535 {
		nc.Reject(ssh.ConnectionFailed, "burrow: bad port")
		return
	}
	target, err := dial(c.ctx, m.Host, int(m.Port))
	if err != nil {
		c.log.Info("ssh forward refused", "to", net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port))), "err", err)
		c.event(EventForward, "refused "+net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port)))+": "+err.Error(), nil)
		nc.Reject(ssh.ConnectionFailed, "burrow: "+err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		target.Close()
		return
	}
	c.log.Info("ssh forward", "to", net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port))))
	c.event(EventForward, net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port))), nil)
	join(c.ctx, ch, reqs, target)
}

// join relays a channel and a connection until both directions end,
// passing EOF through as a half-close each way. Once the client closes the
// channel, what it sent is delivered and the connection closed, so a far
// end that never ends its side does not keep it open; a far end that
// stops reading is given up with the SSH connection (ctx).
func join(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request, nc net.Conn) {
	up := make(chan struct{}) // channel → connection is done
	go func() {
		defer close(up)
		io.Copy(nc, ch)
		if cw, ok := nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			nc.Close()
		}
	}()
	go func() {
		ssh.DiscardRequests(reqs) // until the channel is closed
		select {
		case <-up:
		case <-ctx.Done():
		}
		nc.Close()
	}()
	io.Copy(ch, nc)
	ch.CloseWrite()
	<-up
	ch.Close()
	nc.Close()
}

// tcpipForward serves ssh -R: it listens on the target's loopback (as
// OpenSSH does without GatewayPorts) and opens a forwarded-tcpip channel
// to the client for each connection.
func (c *conn) tcpipForward(payload []byte) (bool, []byte) {
	var m tcpipForwardMsg
	if ssh.Unmarshal(payload, &m) != nil || m.Port > 65535 || !c.permits("permit-port-forwarding") {
		return false, nil
	}
	if m.Port != 0 && m.Port < 1024 {
		if acct, err := lookupAccount(c.login); err != nil || acct.uid != 0 {
			c.log.Info("ssh remote forward refused: privileged port", "port", m.Port)
			return false, nil
		}
	}
	host := "127.0.0.1"
	if m.Addr == "::1" {
		host = "::1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(int(m.Port))))
	if err != nil {
		c.log.Info("ssh remote forward failed", "port", m.Port, "err", err)
		return false, nil
	}
	port := uint32(ln.Addr().(*net.TCPAddr).Port)
	key := forwardKey(m.Addr, port)
	c.mu.Lock()
	if c.forwards == nil {
		c.forwards = map[string]net.Listener{}
	}
	if c.ctx.Err() != nil || c.forwards[key] != nil {
		c.mu.Unlock()
		ln.Close()
		return false, nil
	}
	c.forwards[key] = ln
	c.mu.Unlock()
	c.log.Info("ssh remote forward", "listen", ln.Addr().String())
	c.event(EventRemoteForward, ln.Addr().String(), nil)
	go c.acceptForwarded(ln, m.Addr, port)
	if m.Port == 0 {
		return true, ssh.Marshal(struct{ Port uint32 }{port})
	}
	return true, nil
}

func forwardKey(addr string, port uint32) string {
	return net.JoinHostPort(addr, strconv.Itoa(int(port)))
}

func (c *conn) acceptForwarded(ln net.Listener, addr string, port uint32) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			orig := nc.RemoteAddr().(*net.TCPAddr)
			ch, reqs, err := c.sc.OpenChannel("forwarded-tcpip", ssh.Marshal(forwardedTCPIPMsg{
				Addr: addr, Port: port, OrigAddr: orig.IP.String(), OrigPort: uint32(orig.Port),
			}))
			if err != nil {
				nc.Close()
				return
			}
			join(c.ctx, ch, reqs, nc)
		}()
	}
}

func (c *conn) cancelTCPIPForward(payload []byte) bool {
	var m tcpipForwardMsg
	if ssh.Unmarshal(payload, &m) != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := forwardKey(m.Addr, m.Port)
	ln := c.forwards[key]
	if ln == nil {
		return false
	}
	delete(c.forwards, key)
	ln.Close()
	return true
}

// closeForwards stops every remote forward of the connection.
func (c *conn) closeForwards() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, ln := range c.forwards {
		ln.Close()
		delete(c.forwards, k)
	}
}

// agentSocket is a forwarded ssh-agent: a Unix socket only the session's
// user can open, each connection to it an auth-agent channel to the client.
type agentSocket struct {
	ln   net.Listener
	dir  string
	path string
}

func (s *session) forwardAgent() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.agent != nil {
		return nil
	}
	acct, err := lookupAccount(s.c.login)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "burrow-agent-")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", path)
	if err == nil && s.c.srv.root {
		err = os.Chown(dir, int(acct.uid), int(acct.gid))
		if err == nil {
			err = os.Chown(path, int(acct.uid), int(acct.gid))
		}
	}
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		os.RemoveAll(dir)
		return fmt.Errorf("agent forwarding: %w", err)
	}
	s.agent = &agentSocket{ln: ln, dir: dir, path: path}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				ch, reqs, err := s.c.sc.OpenChannel("auth-agent@openssh.com", nil)
				if err != nil {
					nc.Close()
					return
				}
				join(s.c.ctx, ch, reqs, nc)
			}()
		}
	}()
	return nil
}

func (a *agentSocket) close() {
	a.ln.Close()
	os.RemoveAll(a.dir)
}
