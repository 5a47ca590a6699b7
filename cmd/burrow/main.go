// Package main is the burrow command: controller, agent and client in one
// binary. All of it lives in internal/cli.
package main

import (
	"context"
	"os"

	"github.com/burrow-dev/burrow/internal/cli"
)

func main() {
	ctx, stop := cli.SignalContext(context.Background())
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
