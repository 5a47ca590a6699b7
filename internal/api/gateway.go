package api

import (
	"context"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/tunnel"
	"github.com/burrow-dev/burrow/internal/tunnel/tunnelpb"
)

// DoorGateway names the multiplexed gRPC front door in the audit log.
const DoorGateway = "gateway"

// Gateway metadata keys of a Forward call.
const (
	TargetMetadata = "burrow-target"
	PortMetadata   = "burrow-port"
)

// Gateway serves tunnelpb.Gateway: sessions as HTTP/2 streams on one
// long-lived client connection. Like the HTTP doors it authenticates,
// calls the one dialer, and relays.
type Gateway struct {
	tunnelpb.UnimplementedGatewayServer
	api *API
}

// Gateway returns the gRPC front door backed by this API.
func (a *API) Gateway() *Gateway { return &Gateway{api: a} }

// Forward authorizes and dials, answers with an opened frame, and relays
// until both directions end.
func (g *Gateway) Forward(stream tunnelpb.Gateway_ForwardServer) error {
	ctx := stream.Context()
	p, target, port, err := g.request(ctx)
	if err != nil {
		return grpcError(err)
	}
	if pr, ok := peer.FromContext(ctx); ok {
		ctx = dial.WithClientAddr(ctx, pr.Addr)
	}
	conn, err := g.api.opts.Dialer.Dial(ctx, p, target, port, DoorGateway)
	if err != nil {
		return grpcError(err)
	}
	if err := stream.Send(&tunnelpb.Frame{Opened: true}); err != nil {
		conn.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sc := tunnel.NewConn(stream, cancel, tunnel.Addr("controller"), tunnel.Addr("gateway client"), nil)
	g.api.relay(sc, conn)
	if sc.Finished() {
		return nil
	}
	return status.Error(codes.Aborted, "session aborted")
}

// request reads the principal, target and port from the call's metadata.
func (g *Gateway) request(ctx context.Context) (dial.Principal, string, int, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	one := func(k string) string {
		if v := md.Get(k); len(v) == 1 {
			return v[0]
		}
		return ""
	}
	secret, ok := strings.CutPrefix(one("authorization"), "Bearer ")
	if !ok || secret == "" {
		return dial.Principal{}, "", 0, apitype.Errorf(apitype.CodeUnauthenticated, "no API token: send 'authorization: Bearer <token>' metadata")
	}
	p, err := g.api.checkToken(ctx, secret)
	if err != nil {
		return dial.Principal{}, "", 0, err
	}
	port, err := strconv.Atoi(one(PortMetadata))
	if err != nil {
		return dial.Principal{}, "", 0, apitype.Errorf(apitype.CodeInvalid, "metadata %s=%q is not a number", PortMetadata, one(PortMetadata))
	}
	return p, one(TargetMetadata), port, nil
}

var grpcCodeOf = map[string]codes.Code{
	apitype.CodeUnauthenticated: codes.Unauthenticated,
	apitype.CodeForbidden:       codes.PermissionDenied,
	apitype.CodeNotFound:        codes.NotFound,
	apitype.CodeInvalid:         codes.InvalidArgument,
	apitype.CodeConflict:        codes.AlreadyExists,
	apitype.CodeUnavailable:     codes.Unavailable,
	apitype.CodeTimeout:         codes.DeadlineExceeded,
	apitype.CodeInternal:        codes.Internal,
}

// grpcError is writeError's twin for the gRPC door.
func grpcError(err error) error {
	return status.Error(grpcCodeOf[apitype.ErrorCode(err)], err.Error())
}
