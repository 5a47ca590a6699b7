package tunnel

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"

	"github.com/burrow-dev/burrow/internal/bufpool"
)

// HTTP/2 flow-control and buffer sizes shared by the controller's gRPC
// server and the agent's client. Both windows are set together: setting one
// alone disables BDP estimation and leaves the other at 64 KiB
// (grpc/grpc-go#9096). Sized so one stream can keep a loopback or LAN path
// full; see the benchmark notes in docs/protocol.md.
//
// Reads are not buffered by gRPC: the connection is always TLS, which
// already holds a decrypted record, so a bufio.Reader on top only added a
// copy of every byte. Frame buffers come from bufpool, which does not zero
// what gRPC fills anyway.
const (
	StreamWindow = 4 << 20  // per stream
	ConnWindow   = 16 << 20 // per agent connection
	WriteBuffer  = 256 << 10
)

// ClientOptions are the gRPC dial options every client of the controller
// (agents, and users on the gateway) shares: the windows and buffers above,
// and Codec.
func ClientOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(StreamWindow),
		grpc.WithInitialConnWindowSize(ConnWindow),
		grpc.WithReadBufferSize(0),
		grpc.WithWriteBufferSize(WriteBuffer),
		experimental.WithBufferPool(bufpool.Pool{}),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec)),
	}
}

// GRPCServerOptions are the controller's counterparts of ClientOptions.
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InitialWindowSize(StreamWindow),
		grpc.InitialConnWindowSize(ConnWindow),
		grpc.ReadBufferSize(0),
		grpc.WriteBufferSize(WriteBuffer),
		experimental.BufferPool(bufpool.Pool{}),
		grpc.ForceServerCodecV2(Codec),
	}
}
