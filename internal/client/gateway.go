package client

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/tlsutil"
	"github.com/burrow-dev/burrow/internal/tunnel"
	"github.com/burrow-dev/burrow/internal/tunnel/tunnelpb"
)

// gateway is the client's one long-lived HTTP/2 connection for sessions.
type gateway struct {
	once sync.Once
	conn *grpc.ClientConn
	err  error
	// worked is set once a session opened: from then on a lost connection
	// (a controller restart) makes new sessions wait for the reconnect
	// instead of failing.
	worked atomic.Bool
}

// reconnect is how quickly the shared connection comes back after it
// broke; gRPC's default waits up to two minutes between attempts.
var reconnect = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
	MinConnectTimeout: 10 * time.Second,
}

func (c *Client) gatewayConn() (*grpc.ClientConn, error) {
	c.gw.once.Do(func() {
		o := c.cfg.TLS
		o.NextProtos = []string{"h2"} // offering only h2 selects the controller's gRPC side
		cfg, err := tlsutil.ClientConfig(o)
		if err != nil {
			c.gw.err = err
			return
		}
		c.gw.conn, c.gw.err = grpc.NewClient(c.addr, append(tunnel.ClientOptions(),
			grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
			grpc.WithConnectParams(reconnect),
		)...)
	})
	return c.gw.conn, c.gw.err
}

// DialStream opens a session to port on target as a stream on the client's
// shared gRPC connection (the gateway front door). Opening a session then
// costs one HTTP/2 stream instead of a TCP and TLS handshake. ctx bounds
// only the opening. Until a first session opened, a connection error fails
// at once (a wrong pin, nothing listening); after that, a session waits
// within ctx for the connection to come back.
func (c *Client) DialStream(ctx context.Context, target string, port int) (net.Conn, error) {
	stream, cancel, err := c.forward(ctx, target, port, c.gw.worked.Load())
	if err != nil {
		return nil, err
	}
	if _, err := stream.Recv(); err != nil { // the opened frame, or the refusal
		cancel()
		return nil, fromStatus(err)
	}
	c.gw.worked.Store(true)
	conn := tunnel.NewConn(stream, cancel, tunnel.Addr("client"), tunnel.Addr(fmt.Sprintf("%s:%d", target, port)), nil)
	conn.MarkOpened()
	return conn, nil
}

// forward starts a Forward stream for target:port on the shared gRPC
// connection. ctx bounds only the start. On success the caller owns
// cancel, which ends the stream; on failure nothing is left to cancel.
func (c *Client) forward(ctx context.Context, target string, port int, waitForReady bool) (tunnelpb.Gateway_ForwardClient, context.CancelFunc, error) {
	gc, err := c.gatewayConn()
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	sctx = metadata.AppendToOutgoingContext(sctx, "authorization", "Bearer "+c.cfg.Token,
		"burrow-target", target, "burrow-port", strconv.Itoa(port))
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	stream, err := tunnelpb.NewGatewayClient(gc).Forward(sctx, grpc.WaitForReady(waitForReady))
	if err != nil {
		cancel()
		return nil, nil, fromStatus(err)
	}
	return stream, cancel, nil
}

// OpenStream is DialStream without waiting for the controller's answer,
// once a session has opened on this client: the session starts at once,
// and what the user's side sends first travels with the open (one round
// trip less, as with TCP Fast Open). A refusal then ends the stream
// instead: after Close, a conn that never Opened() has its refusal in
// Refusal(conn.EndError()). The first session waits, so that a wrong token
// or target fails as DialStream does.
func (c *Client) OpenStream(ctx context.Context, target string, port int) (net.Conn, error) {
	if !c.gw.worked.Load() {
		return c.DialStream(ctx, target, port)
	}
	stream, cancel, err := c.forward(ctx, target, port, true)
	if err != nil {
		return nil, err
	}
	// The controller's opened frame carries no data; the conn skips it.
	return tunnel.NewConn(stream, cancel, tunnel.Addr("client"), tunnel.Addr(fmt.Sprintf("%s:%d", target, port)), nil), nil
}

// Refusal returns the controller's refusal of a session, when err (a
// session stream's end) is one, and nil for anything else: a clean end, an
// abort, a cancellation.
func Refusal(err error) error {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return nil
	}
	switch st.Code() {
	case codes.Unauthenticated, codes.PermissionDenied, codes.NotFound, codes.InvalidArgument, codes.Unavailable, codes.DeadlineExceeded:
		return fromStatus(err)
	}
	return nil
}

// DropGateway closes the shared gRPC connection, which would otherwise
// keep trying to reconnect, after GatewayReady failed; the client then
// opens sessions with DialPortForward only.
func (c *Client) DropGateway() {
	if gc, err := c.gatewayConn(); err == nil {
		gc.Close()
	}
}

// GatewayReady connects the shared gRPC connection and waits (at most
// until ctx ends) until it is up, or has failed: a controller behind an
// HTTP/1.1-only proxy, for one, never gets there.
func (c *Client) GatewayReady(ctx context.Context) error {
	gc, err := c.gatewayConn()
	if err != nil {
		return err
	}
	gc.Connect()
	for {
		switch st := gc.GetState(); st {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			return fmt.Errorf("the controller's gRPC side at %s cannot be reached (%s)", c.addr, st)
		default:
			if !gc.WaitForStateChange(ctx, st) {
				return fmt.Errorf("the controller's gRPC side at %s did not answer: %w", c.addr, ctx.Err())
			}
		}
	}
}

// Close releases the shared gRPC connection, if one was made.
func (c *Client) Close() error {
	if c.gw.conn != nil {
		return c.gw.conn.Close()
	}
	return nil
}

var codeOf = map[codes.Code]string{
	codes.Unauthenticated:  apitype.CodeUnauthenticated,
	codes.PermissionDenied: apitype.CodeForbidden,
	codes.NotFound:         apitype.CodeNotFound,
	codes.InvalidArgument:  apitype.CodeInvalid,
	codes.AlreadyExists:    apitype.CodeConflict,
	codes.Unavailable:      apitype.CodeUnavailable,
	codes.DeadlineExceeded: apitype.CodeTimeout,
	codes.Canceled:         apitype.CodeTimeout,
}

// fromStatus turns a gRPC status into the *apitype.Error the API would
// have returned.
func fromStatus(err error) error {
	st := status.Convert(err)
	code, ok := codeOf[st.Code()]
	if !ok {
		code = apitype.CodeInternal
	}
	return &apitype.Error{Code: code, Message: st.Message()}
}
