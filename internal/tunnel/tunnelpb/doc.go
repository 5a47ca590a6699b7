// Package tunnelpb is the generated gRPC code of the agent <-> controller
// protocol in tunnel.proto. Regenerate with `go generate ./internal/tunnel/...`.
package tunnelpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative tunnel.proto
