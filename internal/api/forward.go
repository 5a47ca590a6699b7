package api

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/relay"
)

// Front door names recorded in the audit log.
const (
	DoorUpgrade   = "upgrade"
	DoorWebSocket = "websocket"
)

// portForward dials first, so that every refusal is a proper HTTP error,
// then upgrades the connection and relays it to the session.
func (a *API) portForward(w http.ResponseWriter, r *http.Request, p dial.Principal) {
	door := frontDoor(r)
	if door == "" {
		writeError(w, apitype.Errorf(apitype.CodeInvalid, "port-forward needs a WebSocket request or 'Connection: Upgrade' with 'Upgrade: %s'", apitype.UpgradeProtocol))
		return
	}
	if door == DoorWebSocket {
		if err := checkWebSocket(r); err != nil {
			writeError(w, err)
			return
		}
	}
	port, err := strconv.Atoi(r.URL.Query().Get("port"))
	if err != nil {
		writeError(w, apitype.Errorf(apitype.CodeInvalid, "query parameter port=%q is not a number", r.URL.Query().Get("port")))
		return
	}
	ctx := r.Context()
	if addr, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		ctx = dial.WithClientAddr(ctx, addr)
	}
	conn, err := a.opts.Dialer.Dial(ctx, p, r.PathValue("name"), port, door)
	if err != nil {
		writeError(w, err)
		return
	}
	if door == DoorUpgrade {
		a.serveUpgrade(w, conn)
	} else {
		a.serveWebSocket(w, r, conn)
	}
}

func frontDoor(r *http.Request) string {
	if !headerHas(r.Header, "Connection", "upgrade") {
		return ""
	}
	switch up := strings.ToLower(r.Header.Get("Upgrade")); {
	case up == apitype.UpgradeProtocol:
		return DoorUpgrade
	case up == "websocket":
		return DoorWebSocket
	}
	return ""
}

func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

// serveUpgrade answers 101 and relays raw bytes on the hijacked TLS
// connection; TLS close_notify carries half-close.
func (a *API) serveUpgrade(w http.ResponseWriter, conn net.Conn) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		conn.Close()
		writeError(w, apitype.Errorf(apitype.CodeInternal, "this connection cannot be upgraded"))
		return
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		conn.Close()
		a.log.Warn("hijack", "err", err)
		return
	}
	c.SetDeadline(time.Time{})
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + apitype.UpgradeProtocol + "\r\n\r\n")
	if err := brw.Flush(); err != nil {
		c.Close()
		conn.Close()
		return
	}
	a.relay(&bufferedConn{Conn: c, r: brw.Reader}, conn)
}

// checkWebSocket refuses, before any session is opened, a WebSocket
// handshake the library would refuse after: a missing key, another version,
// or a browser page of another origin.
func checkWebSocket(r *http.Request) error {
	if r.Header.Get("Sec-WebSocket-Key") == "" {
		return apitype.Errorf(apitype.CodeInvalid, "WebSocket request without Sec-WebSocket-Key")
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" {
		return apitype.Errorf(apitype.CodeInvalid, "WebSocket version %q is not supported (want 13)", v)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return apitype.Errorf(apitype.CodeForbidden, "WebSocket from origin %q is not allowed on %s", o, r.Host)
		}
	}
	return nil
}

// serveWebSocket relays binary WebSocket messages to the session. A
// WebSocket has no half-close, so either side ending ends both.
func (a *API) serveWebSocket(w http.ResponseWriter, r *http.Request, conn net.Conn) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		conn.Close()
		a.log.Warn("websocket accept", "err", err)
		return
	}
	ws.SetReadLimit(relay.BufSize * 16)
	// Not r.Context(): it ends when this handler returns (coder/coder#1508).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.relay(websocket.NetConn(ctx, ws, websocket.MessageBinary), conn)
}

// relaySession is a relay in progress, tracked for Drain.
type relaySession struct{ client, target net.Conn }

func (a *API) relay(client, target net.Conn) {
	s := &relaySession{client, target}
	a.mu.Lock()
	a.active[s] = struct{}{}
	a.wg.Add(1)
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.active, s)
		a.mu.Unlock()
		a.wg.Done()
	}()
	relay.Join(client, target)
}

// Drain waits for relayed sessions to end until ctx is done, then closes
// those still open. It reports how many it had to close.
func (a *API) Drain(ctx context.Context) int {
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
		return 0
	case <-ctx.Done():
	}
	a.mu.Lock()
	n := len(a.active)
	for s := range a.active {
		s.client.Close()
		s.target.Close()
	}
	a.mu.Unlock()
	<-done
	return n
}

// bufferedConn reads first what the HTTP server had already buffered.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
