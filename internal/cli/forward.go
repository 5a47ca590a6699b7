package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/burrow-dev/burrow/internal/client"
	"github.com/burrow-dev/burrow/internal/relay"
	"github.com/burrow-dev/burrow/internal/tunnel"
)

// forwardSpec is one LOCAL:REMOTE pair.
type forwardSpec struct{ local, remote int }

func parseForward(s string) (forwardSpec, error) {
	l, r, hasLocal := strings.Cut(s, ":")
	if !hasLocal {
		l, r = s, s
	}
	local, err1 := strconv.Atoi(l)
	remote, err2 := strconv.Atoi(r)
	if err1 != nil || err2 != nil || local < 0 || local > 65535 || remote < 1 || remote > 65535 {
		return forwardSpec{}, fmt.Errorf("%q: want [LOCAL:]REMOTE with ports 1-65535 (LOCAL 0 picks a free port)", s)
	}
	return forwardSpec{local, remote}, nil
}

func newPortForwardCmd(g *globals) *cobra.Command {
	var address, transport string
	cmd := &cobra.Command{
		Use:   "port-forward TARGET [LOCAL:]REMOTE...",
		Short: "Forward local ports to ports on a target",
		Long: `Listen on local ports and forward each connection to a port on the target,
through the controller. 0:REMOTE picks a free local port and prints it.
TARGET may also be written as OpenSSH users know it: NAME.burrow,
NAME.<org>.burrow or NAME.<org>.`,
		Example: "  burrow port-forward web-1 8080:80 0:5432",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			specs := make([]forwardSpec, 0, len(args)-1)
			for _, a := range args[1:] {
				s, err := parseForward(a)
				if err != nil {
					return err
				}
				specs = append(specs, s)
			}
			return portForward(cmd.Context(), g, targetName(args[0]), address, transport, specs)
		},
	}
	cmd.Flags().StringVar(&address, "address", "127.0.0.1", "local address to listen on")
	cmd.Flags().StringVar(&transport, "transport", "gateway", "gateway: every connection is a stream on one shared connection (about twice the new connections per second); upgrade: a TLS connection per forwarded connection")
	return cmd
}

// gatewayProbe bounds how long port-forward waits for the controller's
// gRPC side before it falls back to the upgrade door.
const gatewayProbe = 10 * time.Second

func portForward(ctx context.Context, g *globals, target, address, transport string, specs []forwardSpec) error {
	c, err := newClient()
	if err != nil {
		return err
	}
	defer c.Close()
	dial := c.DialPortForward
	switch transport {
	case "upgrade":
	case "gateway":
		dial = c.OpenStream
	default:
		return fmt.Errorf("--transport must be upgrade or gateway, not %q", transport)
	}
	// Fail early, with the controller's words, when the target is unknown
	// or offline; and name it as the controller does.
	t, err := findTarget(ctx, c, target)
	if err != nil {
		return err
	}
	target = t.Name
	if transport == "gateway" {
		// The API answered; if its gRPC side does not (an HTTP/1.1-only
		// proxy in front of the controller), the upgrade door still works.
		rctx, cancel := context.WithTimeout(ctx, gatewayProbe)
		err := c.GatewayReady(rctx)
		cancel()
		if err != nil {
			fmt.Fprintf(g.stderr, "burrow: %v; forwarding with --transport upgrade instead\n", err)
			c.DropGateway()
			dial = c.DialPortForward
		}
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for _, s := range specs {
		ln, err := net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(s.local)))
		if err != nil {
			return fmt.Errorf("listen for %d: %w", s.remote, err)
		}
		lns = append(lns, ln)
		fmt.Fprintf(g.stdout, "Forwarding from %s -> %s:%d\n", ln.Addr(), target, s.remote)
	}
	var wg sync.WaitGroup
	for i, ln := range lns {
		wg.Add(1)
		go func() { defer wg.Done(); serveForward(ctx, g, dial, ln, target, specs[i].remote) }()
	}
	<-ctx.Done()
	for _, ln := range lns {
		ln.Close()
	}
	wg.Wait()
	return nil
}

// serveForward accepts local connections until ln closes; sessions still
// open then are cut when ctx ends.
func serveForward(ctx context.Context, g *globals, dial dialFunc, ln net.Listener, target string, port int) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		local, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			forwardOne(ctx, g, dial, local, target, port)
		}()
	}
}

// dialFunc opens a session: Client.DialPortForward or Client.OpenStream.
type dialFunc func(ctx context.Context, target string, port int) (net.Conn, error)

func forwardOne(ctx context.Context, g *globals, dial dialFunc, local net.Conn, target string, port int) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	remote, err := dial(dctx, target, port)
	cancel()
	if err != nil {
		fmt.Fprintf(g.stderr, "burrow: forward %s -> %s:%d: %s\n", local.RemoteAddr(), target, port, describe(err))
		local.Close()
		return
	}
	stop := context.AfterFunc(ctx, func() { local.Close(); remote.Close() })
	defer stop()
	relay.Join(local, remote)
	// After an optimistic open, a refusal ends the stream before it opened.
	if s, ok := remote.(interface {
		Opened() bool
		EndError() error
	}); ok && !s.Opened() {
		if err := client.Refusal(s.EndError()); err != nil {
			fmt.Fprintf(g.stderr, "burrow: forward %s -> %s:%d: %s\n", local.RemoteAddr(), target, port, describe(err))
		}
	}
}

func newProxyCmd(g *globals) *cobra.Command {
	var ctxName, config string
	cmd := &cobra.Command{
		Use:   "proxy TARGET PORT",
		Short: "Connect stdin/stdout to a port on a target (an OpenSSH ProxyCommand)",
		Long: `Connect standard input and output to PORT on TARGET through the controller.
End of input is passed on as a half-close. Use it as an OpenSSH ProxyCommand:
  ssh -o ProxyCommand='burrow proxy %n 22' user@web-1
TARGET may also be NAME.burrow (the ssh-config wildcard), NAME.<org>.burrow
or NAME.<org>. For port 22 it also renews the certificate that "burrow
ssh-config" set up, before it expires.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			useConfig(config)
			target := targetName(args[0])
			if err := tunnel.ValidName(target); err != nil {
				return fmt.Errorf("target %v", err)
			}
			port, err := strconv.Atoi(args[1])
			if err != nil {
				return fmt.Errorf("port %q is not a number", args[1])
			}
			ctxName = contextName(ctxName)
			c, err := newClientFor(ctxName)
			if err != nil {
				return err
			}
			defer c.Close()
			if port == 22 {
				if id, err := managedIdentity(ctxName); err == nil && id.exists() {
					if _, err := id.renew(cmd.Context(), c, managedCertRenew); err != nil {
						fmt.Fprintf(g.stderr, "burrow: could not renew the SSH certificate: %s\n", describe(err))
					}
				}
			}
			conn, err := c.DialPortForward(cmd.Context(), target, port)
			if err != nil {
				return err
			}
			return proxyStdio(cmd.Context(), conn, os.Stdin, g.stdout)
		},
	}
	cmd.Flags().StringVar(&ctxName, "context", "", "context to use (default: the current one)")
	cmd.Flags().StringVar(&config, "config", "", "client config file (default $BURROW_CONFIG, else ~/.config/burrow/config.yaml)")
	return cmd
}

func proxyStdio(ctx context.Context, conn net.Conn, in io.Reader, out io.Writer) error {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	go func() {
		if _, err := io.Copy(conn, in); err == nil {
			conn.(interface{ CloseWrite() error }).CloseWrite()
		} else {
			conn.Close()
		}
	}()
	_, err := io.Copy(out, conn)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
