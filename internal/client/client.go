// Package client is the typed Go client of burrow's REST API, including the
// raw port-forward stream (HTTP/1.1 Upgrade: burrow-tcp/1) that `burrow
// port-forward` and `burrow proxy` use.
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/tlsutil"
)

// Config says where the controller is and how to trust and authenticate.
type Config struct {
	URL   string // https://host:port
	Token string
	TLS   tlsutil.ClientOptions
}

// Client talks to one controller.
type Client struct {
	cfg    Config
	base   *url.URL
	addr   string
	tls    *tls.Config
	http   *http.Client
	dialer net.Dialer
	gw     gateway
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("controller URL %q must look like https://host:port", cfg.URL)
	}
	o := cfg.TLS
	o.NextProtos = []string{"http/1.1"} // h2 on this port is the agents' gRPC
	tc, err := tlsutil.ClientConfig(o)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, base: u, addr: hostPort(u), tls: tc, dialer: net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}}
	c.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: tc, DialContext: c.dialer.DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second,
	}}
	return c, nil
}

func hostPort(u *url.URL) string {
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return u.Host
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	p, query, _ := strings.Cut(path, "?")
	u := c.base.JoinPath(p)
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("controller %s: %w", c.cfg.URL, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// decodeError turns an error response into an *apitype.Error.
func decodeError(resp *http.Response) error {
	var e apitype.Error
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil || e.Message == "" {
		return &apitype.Error{Code: apitype.CodeInternal, Message: fmt.Sprintf("controller answered %s", resp.Status)}
	}
	return &e
}

// Whoami returns who the token belongs to.
func (c *Client) Whoami(ctx context.Context) (apitype.Whoami, error) {
	var w apitype.Whoami
	return w, c.do(ctx, "GET", "/v1/whoami", nil, &w)
}

// Targets lists targets.
func (c *Client) Targets(ctx context.Context) ([]apitype.Target, error) {
	var ts []apitype.Target
	return ts, c.do(ctx, "GET", "/v1/targets", nil, &ts)
}

// CreateToken creates an API token (admin).
func (c *Client) CreateToken(ctx context.Context, req apitype.CreateTokenRequest) (apitype.Token, error) {
	var t apitype.Token
	return t, c.do(ctx, "POST", "/v1/tokens", req, &t)
}

// ListTokens lists API tokens (admin).
func (c *Client) ListTokens(ctx context.Context) ([]apitype.Token, error) {
	var ts []apitype.Token
	return ts, c.do(ctx, "GET", "/v1/tokens", nil, &ts)
}

// RevokeToken revokes an API token (admin).
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/tokens/"+url.PathEscape(id), nil, nil)
}

// RevokeUser revokes every API token of subject (admin).
func (c *Client) RevokeUser(ctx context.Context, subject string) (apitype.RevokedUser, error) {
	var out apitype.RevokedUser
	return out, c.do(ctx, "POST", "/v1/users/"+url.PathEscape(subject)+"/revoke", nil, &out)
}

// CreateJoinToken creates an agent join token (admin).
func (c *Client) CreateJoinToken(ctx context.Context, req apitype.CreateJoinTokenRequest) (apitype.JoinToken, error) {
	var t apitype.JoinToken
	return t, c.do(ctx, "POST", "/v1/join-tokens", req, &t)
}

// SetPolicy sets a target's controller-side port policy (admin).
func (c *Client) SetPolicy(ctx context.Context, p apitype.Policy) (apitype.Policy, error) {
	var out apitype.Policy
	return out, c.do(ctx, "PUT", "/v1/targets/"+url.PathEscape(p.Target)+"/policy", p, &out)
}

// Sessions lists the newest audit sessions (admin).
func (c *Client) Sessions(ctx context.Context, limit int) ([]apitype.Session, error) {
	var ss []apitype.Session
	return ss, c.do(ctx, "GET", "/v1/sessions?limit="+strconv.Itoa(limit), nil, &ss)
}

// SessionEvents lists what happened inside an audit session, oldest first
// (admin): for SSH sessions the login, programs, forwards and exits.
func (c *Client) SessionEvents(ctx context.Context, id string) ([]apitype.SessionEvent, error) {
	var es []apitype.SessionEvent
	return es, c.do(ctx, "GET", "/v1/sessions/"+url.PathEscape(id)+"/events", nil, &es)
}

// DialPortForward opens a raw stream to port on target. The returned
// conn supports CloseWrite (half-close travels as TLS close_notify).
func (c *Client) DialPortForward(ctx context.Context, target string, port int) (net.Conn, error) {
	raw, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("connect to controller %s: %w", c.addr, err)
	}
	tc := tls.Client(raw, c.tls)
	if dl, ok := ctx.Deadline(); ok {
		tc.SetDeadline(dl)
	}
	conn, err := c.upgrade(ctx, tc, target, port)
	if err != nil {
		tc.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	return conn, nil
}

func (c *Client) upgrade(ctx context.Context, tc *tls.Conn, target string, port int) (net.Conn, error) {
	// Cancelling ctx aborts the exchange, which waits for the agent.
	stop := context.AfterFunc(ctx, func() { tc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("tls with controller %s: %w", c.addr, err)
	}
	path := "/v1/targets/" + url.PathEscape(target) + "/port-forward?port=" + strconv.Itoa(port)
	req := "GET " + path + " HTTP/1.1\r\nHost: " + c.base.Host + "\r\nAuthorization: Bearer " + c.cfg.Token +
		"\r\nConnection: Upgrade\r\nUpgrade: " + apitype.UpgradeProtocol + "\r\n\r\n"
	if _, err := io.WriteString(tc, req); err != nil {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return nil, fmt.Errorf("send port-forward request: %w", err)
	}
	br := bufio.NewReaderSize(tc, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return nil, fmt.Errorf("read port-forward answer: %w", err)
	}
	if !stop() && ctx.Err() != nil { // cancelled just now: the deadline is set
		resp.Body.Close()
		return nil, context.Cause(ctx)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return &streamConn{Conn: tc, tc: tc, r: br}, nil
}

// streamConn is an upgraded stream: reads drain the response buffer first.
type streamConn struct {
	net.Conn
	tc *tls.Conn
	r  *bufio.Reader
}

func (s *streamConn) Read(p []byte) (int, error) {
	if s.r.Buffered() > 0 {
		return s.r.Read(p)
	}
	return s.tc.Read(p)
}

// CloseWrite sends TLS close_notify: the target sees EOF, and this side
// can still read.
func (s *streamConn) CloseWrite() error { return s.tc.CloseWrite() }
