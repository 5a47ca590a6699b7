package agent

import (
	"context"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/tlsutil"
	"github.com/burrow-dev/burrow/internal/tunnel"
)

// dial makes the one gRPC connection to the controller. gRPC re-resolves
// the address and redials by itself; Run's loop reopens streams on it.
func (a *Agent) dial() (*grpc.ClientConn, error) {
	creds, err := a.credentials()
	if err != nil {
		return nil, err
	}
	opts := append(tunnel.ClientOptions(),
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: a.opts.MinBackoff, Multiplier: 1.6, Jitter: 0.2, MaxDelay: a.opts.MaxBackoff},
			MinConnectTimeout: 10 * time.Second,
		}))
	if a.opts.InProcessDial != nil {
		opts = append(opts, grpc.WithContextDialer(a.opts.InProcessDial))
	}
	return grpc.NewClient(a.addr, opts...)
}

// credentials is TLS checked as trust says, or none for a controller in
// the same process.
func (a *Agent) credentials() (credentials.TransportCredentials, error) {
	if a.opts.InProcessDial != nil {
		return insecure.NewCredentials(), nil
	}
	tlsOpts := a.trust()
	tlsOpts.NextProtos = []string{"h2"}
	cfg, err := tlsutil.ClientConfig(tlsOpts)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

// trust decides how the controller's certificate is checked: explicit
// options first, then a fingerprint carried by the join token (saved for
// later runs), then the one saved at join.
func (a *Agent) trust() tlsutil.ClientOptions {
	o := a.opts.TLS
	if o.Fingerprint != "" || o.CAFile != "" {
		return o
	}
	if jt, err := auth.ParseJoinToken(a.opts.Token); err == nil && jt.Fingerprint != "" && a.state.Credential == "" {
		a.state.Fingerprint = jt.Fingerprint
	}
	o.Fingerprint = a.state.Fingerprint
	return o
}

func withBearer(ctx context.Context, secret string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}

func (a *Agent) authed(ctx context.Context) context.Context {
	return withBearer(ctx, a.state.Credential)
}
