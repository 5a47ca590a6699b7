package tunnel

import "google.golang.org/grpc"

// HTTP/2 flow-control and buffer sizes shared by the controller's gRPC
// server and the agent's client. Both windows are set together: setting one
// alone disables BDP estimation and leaves the other at 64 KiB
// (grpc/grpc-go#9096). Sized so one stream can keep a loopback or LAN path
// full; see the benchmark notes in docs/protocol.md.
const (
	StreamWindow = 4 << 20  // per stream
	ConnWindow   = 16 << 20 // per agent connection
	IOBuffer     = 256 << 10
)

// ClientOptions are the gRPC dial options every client of the controller
// (agents, and users on the gateway) shares: the windows and buffers above,
// and Codec.
func ClientOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(StreamWindow),
		grpc.WithInitialConnWindowSize(ConnWindow),
		grpc.WithReadBufferSize(IOBuffer),
		grpc.WithWriteBufferSize(IOBuffer),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec)),
	}
}
