package burrowtest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/burrow-dev/burrow/internal/agent"
	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/burrowtest"
	"github.com/burrow-dev/burrow/internal/client"
)

func ctxShort(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), burrowtest.WaitShort)
	t.Cleanup(cancel)
	return ctx
}

func TestPortForward(t *testing.T) {
	s := burrowtest.Start(t)
	s.StartAgent("web-1", nil)
	port := burrowtest.Echo(t)
	c := s.Client(s.AdminToken)

	t.Run("echo and half-close", func(t *testing.T) {
		echoHalfClose(t, c.DialPortForward, port, 3<<20)
	})

	t.Run("parallel", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- roundTrip(ctxShort(t), c, "web-1", port, fmt.Sprintf("conn %d", i))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("audit", func(t *testing.T) {
		ss, err := c.Sessions(ctxShort(t), 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) == 0 || ss[0].Target != "web-1" || ss[0].FrontDoor != "upgrade" {
			t.Fatalf("sessions: %+v", ss)
		}
	})
}

// echoHalfClose sends size random bytes to the echo on port, half-closes,
// and checks that all of them come back followed by the echo's own EOF.
func echoHalfClose(t *testing.T, dial dialer, port, size int) {
	t.Helper()
	conn, err := dial(ctxShort(t), "web-1", port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := make([]byte, size)
	rand.Read(msg)
	go func() {
		conn.Write(msg)
		conn.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got, err := io.ReadAll(conn) // the echo answers our EOF with its own
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo returned %d bytes (%v), want %d identical", len(got), err, len(msg))
	}
}

func roundTrip(ctx context.Context, c *client.Client, target string, port int, msg string) error {
	return roundTripVia(ctx, c.DialPortForward, target, port, msg)
}

type dialer func(ctx context.Context, target string, port int) (net.Conn, error)

func roundTripVia(ctx context.Context, dial dialer, target string, port int, msg string) error {
	conn, err := dial(ctx, target, port)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("got %q want %q", buf, msg)
	}
	return nil
}

func TestBadInput(t *testing.T) {
	s := burrowtest.Start(t)
	s.StartAgent("web-1", func(o *agent.Options) { o.Deny = "25" })
	port := burrowtest.Echo(t)
	admin := s.Client(s.AdminToken)
	ctx := ctxShort(t)

	expired, err := admin.CreateToken(ctx, apitype.CreateTokenRequest{Name: "short", TTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := admin.CreateToken(ctx, apitype.CreateTokenRequest{Name: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.RevokeToken(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	member, err := admin.CreateToken(ctx, apitype.CreateTokenRequest{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetPolicy(ctx, apitype.Policy{Target: "web-1", Deny: "26"}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, token, target string
		port                int
		code, contains      string
	}{
		{"wrong token", "brw_nope", "web-1", port, apitype.CodeUnauthenticated, "not recognised"},
		{"expired token", expired.Secret, "web-1", port, apitype.CodeUnauthenticated, "expired"},
		{"revoked token", revoked.Secret, "web-1", port, apitype.CodeUnauthenticated, "revoked"},
		{"unknown target", member.Secret, "nosuch", port, apitype.CodeNotFound, "no target named nosuch"},
		{"agent policy", member.Secret, "web-1", 25, apitype.CodeForbidden, "agent's port policy"},
		{"controller policy", member.Secret, "web-1", 26, apitype.CodeForbidden, "controller's policy"},
		{"port zero", member.Secret, "web-1", 0, apitype.CodeInvalid, "not a TCP port"},
		{"hostile name", member.Secret, "../../etc", port, apitype.CodeNotFound, "no target"},
		{"closed port", member.Secret, "web-1", 1, apitype.CodeUnavailable, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Client(tt.token).DialPortForward(ctxShort(t), tt.target, tt.port)
			var e *apitype.Error
			if !errors.As(err, &e) || e.Code != tt.code || !strings.Contains(e.Message, tt.contains) {
				t.Fatalf("got %v, want code %s containing %q", err, tt.code, tt.contains)
			}
		})
	}
	t.Run("member cannot create tokens", func(t *testing.T) {
		_, err := s.Client(member.Secret).CreateToken(ctxShort(t), apitype.CreateTokenRequest{Name: "x"})
		if apitype.ErrorCode(err) != apitype.CodeForbidden {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("malformed requests", func(t *testing.T) { malformed(t, s, member.Secret, port) })
	t.Run("join token out of bounds", func(t *testing.T) {
		for _, req := range []apitype.CreateJoinTokenRequest{
			{TTL: -time.Hour}, {TTL: apitype.MaxJoinTokenTTL + time.Second}, {MaxUses: -5},
		} {
			if _, err := admin.CreateJoinToken(ctxShort(t), req); apitype.ErrorCode(err) != apitype.CodeInvalid {
				t.Errorf("join token %+v: got %v, want invalid", req, err)
			}
		}
	})
	t.Run("join token past its uses", func(t *testing.T) {
		join, err := s.Controller().CreateJoinToken(ctxShort(t), time.Hour, 1)
		if err != nil {
			t.Fatal(err)
		}
		a := s.StartAgent("first", func(o *agent.Options) { o.Token = join })
		_ = a
		o := a.Opts
		o.DataDir, o.Name = t.TempDir(), "second"
		ag, err := agent.New(o)
		if err != nil {
			t.Fatal(err)
		}
		err = ag.Run(ctxShort(t))
		if err == nil || !strings.Contains(err.Error(), "no uses left") {
			t.Fatalf("second join: %v", err)
		}
	})
}

// malformed sends hand-written HTTP requests to the port-forward route.
func malformed(t *testing.T, s *burrowtest.System, token string, port int) {
	tests := []struct {
		name, req string
		status    int
	}{
		{"no upgrade", "GET /v1/targets/web-1/port-forward?port=80 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\n\r\n", 400},
		{"unknown upgrade", "GET /v1/targets/web-1/port-forward?port=80 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", 400},
		{"port not a number", "GET /v1/targets/web-1/port-forward?port=eighty HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nConnection: Upgrade\r\nUpgrade: burrow-tcp/1\r\n\r\n", 400},
		{"no token", "GET /v1/targets/web-1/port-forward?port=80 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: burrow-tcp/1\r\n\r\n", 401},
		{"ticket reused or forged", "GET /v1/targets/web-1/port-forward?port=80&ticket=brwt_forged HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 401},
		{"websocket without key", "GET /v1/targets/web-1/port-forward?port=" + fmt.Sprint(port) + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 400},
		{"garbage", "\x16\x03\x01garbage\r\n\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", s.Addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(burrowtest.WaitShort))
			io.WriteString(conn, tt.req)
			resp, err := http.ReadResponse(bufioReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

func TestWebSocketTicket(t *testing.T) {
	s := burrowtest.Start(t)
	s.StartAgent("web-1", nil)
	port := burrowtest.Echo(t)
	ctx := ctxShort(t)
	hc := httpsClient(s)
	ticket := postTicket(t, hc, s)
	u := fmt.Sprintf("wss://%s/v1/targets/web-1/port-forward?port=%d&ticket=%s", s.Addr, port, ticket)
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	conn := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	defer conn.Close()
	io.WriteString(conn, "hello websocket")
	buf := make([]byte, 15)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "hello websocket" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if _, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc}); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("reused ticket: %v", err)
	}
}

func TestAgentOfflineAndBack(t *testing.T) {
	s := burrowtest.Start(t)
	a := s.StartAgent("web-1", nil)
	port := burrowtest.Echo(t)
	c := s.Client(s.AdminToken)
	a.Stop()
	eventually(t, func() error {
		_, err := c.DialPortForward(ctxShort(t), "web-1", port)
		if apitype.ErrorCode(err) != apitype.CodeUnavailable || !strings.Contains(err.Error(), "last seen") {
			return fmt.Errorf("dial: %v", err)
		}
		return nil
	})
	ts, err := c.Targets(ctxShort(t))
	if err != nil || len(ts) != 1 || ts[0].Online {
		t.Fatalf("targets %+v %v", ts, err)
	}
	a.Run(t)
	a.WaitWelcome(t)
	if err := roundTrip(ctxShort(t), c, "web-1", port, "back"); err != nil {
		t.Fatal(err)
	}
	s.RestartController()
	a.WaitWelcome(t)
	c = s.Client(s.AdminToken)
	if err := roundTrip(ctxShort(t), c, "web-1", port, "after restart"); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(burrowtest.WaitShort)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func httpsClient(s *burrowtest.System) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}}}
}

func postTicket(t *testing.T, hc *http.Client, s *burrowtest.System) string {
	req, _ := http.NewRequest("POST", s.URL()+"/v1/tickets", nil)
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tk apitype.Ticket
	if err := json.NewDecoder(resp.Body).Decode(&tk); err != nil || tk.Ticket == "" {
		t.Fatalf("ticket: %v", err)
	}
	return tk.Ticket
}

// TestHTTP2ClientsGetTheAPI: a client offering h2 and http/1.1 (curl,
// browsers, Go's http.Client) must reach the REST API, not the agents' gRPC.
func TestHTTP2ClientsGetTheAPI(t *testing.T) {
	s := burrowtest.Start(t)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	resp, err := (&http.Client{Transport: tr}).Get(s.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /healthz offering h2: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
}

// TestAbortIsAudited: a target that resets the connection ends the session
// as "aborted: …" in the audit log, not "ok".
func TestAbortIsAudited(t *testing.T) {
	s := burrowtest.Start(t)
	s.StartAgent("web-1", nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.(*net.TCPConn).SetLinger(0) // Close sends RST
		c.Read(make([]byte, 1))
		c.Close()
	}()
	c := s.Client(s.AdminToken)
	conn, err := c.DialPortForward(ctxShort(t), "web-1", ln.Addr().(*net.TCPAddr).Port)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte{1})
	io.Copy(io.Discard, conn)
	conn.Close()
	eventually(t, func() error {
		ss, err := c.Sessions(ctxShort(t), 1)
		if err != nil {
			return err
		}
		if len(ss) != 1 || !strings.HasPrefix(ss[0].Result, "aborted") {
			return fmt.Errorf("sessions %+v", ss)
		}
		return nil
	})
}

// TestRevokeCutsSessions: revoking a token ends the sessions it opened.
func TestRevokeCutsSessions(t *testing.T) {
	s := burrowtest.Start(t)
	s.StartAgent("web-1", nil)
	port := burrowtest.Echo(t)
	admin := s.Client(s.AdminToken)
	tok, err := admin.CreateToken(ctxShort(t), apitype.CreateTokenRequest{Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	bob := s.Client(tok.Secret)
	conn, err := bob.DialPortForward(ctxShort(t), "web-1", port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := admin.RevokeToken(ctxShort(t), tok.ID); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(burrowtest.WaitShort))
	if _, err := io.Copy(io.Discard, conn); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("session still open after its token was revoked")
	}
	eventually(t, func() error {
		ss, err := admin.Sessions(ctxShort(t), 1)
		if err != nil {
			return err
		}
		if len(ss) != 1 || ss[0].Result != "aborted: token revoked" {
			return fmt.Errorf("sessions %+v", ss)
		}
		return nil
	})
}

// TestAgentBootsBeforeController: an agent started while the controller is
// down keeps retrying and comes online when the controller appears.
func TestAgentBootsBeforeController(t *testing.T) {
	s := burrowtest.Start(t)
	a := s.StartAgent("web-1", nil)
	port := burrowtest.Echo(t)
	a.Stop()
	s.StopController()
	a.Run(t) // reuses its saved credential; nothing answers yet
	s.RestartController()
	a.WaitWelcome(t)
	if err := roundTrip(ctxShort(t), s.Client(s.AdminToken), "web-1", port, "late controller"); err != nil {
		t.Fatal(err)
	}
}

// TestGatewayStreams: the multiplexed front door carries sessions with
// half-close and refuses like the HTTP doors.
func TestGatewayStreams(t *testing.T) {
	s := burrowtest.Start(t)
	s.StartAgent("web-1", func(o *agent.Options) { o.Deny = "25" })
	port := burrowtest.Echo(t)
	c := s.Client(s.AdminToken)
	defer c.Close()
	echoHalfClose(t, c.DialStream, port, 1<<20)
	refusals := []struct {
		token, target string
		port          int
		code          string
	}{
		{"brw_nope", "web-1", port, apitype.CodeUnauthenticated},
		{s.AdminToken, "nosuch", port, apitype.CodeNotFound},
		{s.AdminToken, "web-1", 25, apitype.CodeForbidden},
		{s.AdminToken, "web-1", 1, apitype.CodeUnavailable},
	}
	for _, r := range refusals {
		bad := s.Client(r.token)
		_, err := bad.DialStream(ctxShort(t), r.target, r.port)
		bad.Close()
		if apitype.ErrorCode(err) != r.code {
			t.Errorf("%s:%d with %.8s…: got %v, want %s", r.target, r.port, r.token, err, r.code)
		}
	}
	eventually(t, func() error {
		ss, err := c.Sessions(ctxShort(t), 10)
		if err != nil || len(ss) == 0 {
			return fmt.Errorf("sessions %v %v", ss, err)
		}
		for _, x := range ss {
			if x.FrontDoor == "gateway" && x.Result == "ok" && x.BytesUp == 1<<20 {
				return nil
			}
		}
		return fmt.Errorf("no ok gateway session in %+v", ss)
	})
}

// TestGatewayStreamsOutliveRestart: a client's shared gateway connection
// comes back after a controller restart, and the next session waits for it
// instead of failing (what keeps a running port-forward usable).
func TestGatewayStreamsOutliveRestart(t *testing.T) {
	s := burrowtest.Start(t)
	a := s.StartAgent("web-1", nil)
	port := burrowtest.Echo(t)
	c := s.Client(s.AdminToken)
	defer c.Close()
	echoHalfClose(t, c.DialStream, port, 64<<10)
	s.RestartController()
	a.WaitWelcome(t)
	echoHalfClose(t, c.DialStream, port, 64<<10)
}

// TestInProcessAgent: an agent in the controller's process (burrow dev)
// joins and serves sessions over Controller.DialInProcess, without TLS; its
// sessions keep every byte and the half-close, and it rejoins after a stop.
func TestInProcessAgent(t *testing.T) {
	s := burrowtest.Start(t)
	a := s.StartAgent("web-1", func(o *agent.Options) { o.InProcessDial = s.Controller().DialInProcess })
	port := burrowtest.Echo(t)
	c := s.Client(s.AdminToken)
	echoHalfClose(t, c.DialPortForward, port, 8<<20)
	echoHalfClose(t, c.DialStream, port, 1<<20)

	a.Stop()
	a.Run(t) // reuses its saved credential
	a.WaitWelcome(t)
	echoHalfClose(t, c.DialPortForward, port, 1<<20)
}
