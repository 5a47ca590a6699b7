package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/relay"
)

// directTCPIPMsg is the payload of a direct-tcpip channel open (RFC 4254
// §7.2).
type directTCPIPMsg struct {
	Host       string
	Port       uint32
	OriginHost string
	OriginPort uint32
}

// directTCPIP dials TARGET:PORT through the one dialer and relays the
// channel to it.
func (c *conn) directTCPIP(nc ssh.NewChannel) {
	var m directTCPIPMsg
	if err := ssh.Unmarshal(nc.ExtraData(), &m); err != nil {
		nc.Reject(ssh.ConnectionFailed, "burrow gateway: malformed direct-tcpip request")
		return
	}
	target, err := c.dial(m.Host, m.Port)
	if err != nil {
		c.log.Info("ssh gateway: forward refused", "target", m.Host, "port", m.Port, "err", err)
		nc.Reject(rejectReason(err), err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		target.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	relay.Join(&channelConn{Channel: ch, local: c.sc.LocalAddr(), remote: c.sc.RemoteAddr()}, target)
}

// dial opens host:port with the connection's principal.
func (c *conn) dial(host string, port uint32) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.s.opts.DialTimeout)
	defer cancel()
	p, err := c.principal(ctx)
	if err != nil {
		return nil, err
	}
	if port > 65535 {
		return nil, apitype.Errorf(apitype.CodeInvalid, "port %d is not a TCP port (1-65535)", port)
	}
	ctx = dial.WithClientAddr(ctx, c.sc.RemoteAddr())
	return c.s.opts.Dialer.Dial(ctx, p, strings.TrimSuffix(host, ".burrow"), int(port), Door)
}

// rejectReason maps a dialer refusal to an SSH reason: a missing or
// offline target cannot be connected to; the rest is prohibited.
func rejectReason(err error) ssh.RejectionReason {
	switch apitype.ErrorCode(err) {
	case apitype.CodeNotFound, apitype.CodeUnavailable, apitype.CodeTimeout, apitype.CodeInternal:
		return ssh.ConnectionFailed
	}
	return ssh.Prohibited
}

// channelConn is an SSH channel as a net.Conn for relay.Join: CloseWrite
// sends EOF; deadlines are not supported (the relay needs none).
type channelConn struct {
	ssh.Channel
	local, remote net.Addr
}

func (c *channelConn) LocalAddr() net.Addr                { return c.local }
func (c *channelConn) RemoteAddr() net.Addr               { return c.remote }
func (c *channelConn) SetDeadline(t time.Time) error      { return nil }
func (c *channelConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *channelConn) SetWriteDeadline(t time.Time) error { return nil }

// session serves a session channel: on shell or exec it prints who the
// user is, the targets and how to connect, then exits 0. pty-req and env
// are accepted and ignored.
func (c *conn) session(nc ssh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	pty := false
	for r := range reqs {
		switch r.Type {
		case "pty-req":
			pty = true
			r.Reply(true, nil)
		case "env", "window-change":
			r.Reply(true, nil)
		case "shell", "exec":
			r.Reply(true, nil)
			c.printInfo(ch, pty)
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
			ch.CloseWrite()
			return
		default:
			r.Reply(false, nil)
		}
	}
}

// printInfo writes the session banner to w, with CRLF line ends under a
// terminal.
func (c *conn) printInfo(w io.Writer, pty bool) {
	text := c.info()
	if pty {
		text = strings.ReplaceAll(text, "\n", "\r\n")
	}
	io.WriteString(w, text)
}

// info is what the session banner says.
func (c *conn) info() string {
	var b strings.Builder
	ctx, cancel := context.WithTimeout(c.ctx, c.s.opts.DialTimeout)
	defer cancel()
	p, err := c.principal(ctx)
	if err != nil {
		fmt.Fprintf(&b, "%v\n", err)
		return b.String()
	}
	fmt.Fprintf(&b, "burrow gateway: you are %s in org %s (token %s, %s)\n", p.Subject, c.s.opts.Org, p.TokenID, c.login.credential())
	fmt.Fprintf(&b, "SSH logins: %s\n", strings.Join(p.Logins, ", "))
	b.WriteString(c.targetsText(ctx))
	login := "LOGIN"
	if len(p.Logins) > 0 {
		login = p.Logins[0]
	}
	if c.overTLS {
		// The name the client asked TLS for is the one it can reach; the
		// local address may be behind NAT.
		host, port, _ := net.SplitHostPort(c.sc.LocalAddr().String())
		if c.sni != "" {
			host = c.sni
		}
		fmt.Fprintf(&b, "\nConnect through this gateway over TLS, as now, with in ~/.ssh/config:\n"+
			"  Host burrow-gw\n      HostName %s\n      Port %s\n"+
			"      ProxyCommand openssl s_client -quiet -verify_quiet -alpn ssh -connect %%h:%%p\n"+
			"then:\n  ssh -J %s@burrow-gw %s@TARGET\n", host, port, c.sc.User(), login)
		return b.String()
	}
	fmt.Fprintf(&b, "\nConnect through this gateway with:\n  ssh -J %s@%s %s@TARGET\n", c.sc.User(), c.sc.LocalAddr(), login)
	return b.String()
}

// targetsText lists the targets agents reported, with whether they are
// online now.
func (c *conn) targetsText(ctx context.Context) string {
	agents, err := c.s.opts.Store.ListAgents(ctx)
	if err != nil {
		return fmt.Sprintf("targets: cannot list them now: %v\n", err)
	}
	var lines []string
	for _, a := range agents {
		for _, t := range a.Targets {
			lines = append(lines, fmt.Sprintf("  %-24s %s\n", t.Name, c.status(t.Name)))
		}
	}
	if len(lines) == 0 {
		return "targets: none yet (start `burrow agent` on a machine)\n"
	}
	slices.Sort(lines)
	return "targets:\n" + strings.Join(lines, "")
}

func (c *conn) status(target string) string {
	if c.s.opts.Backend == nil {
		return ""
	}
	if _, ok := c.s.opts.Backend.Route(target); ok {
		return "online"
	}
	return "offline"
}
