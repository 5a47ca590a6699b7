package cli

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"

	"github.com/spf13/cobra"
)

func newVNCCmd(g *globals) *cobra.Command {
	var port int
	var username, password string
	var noViewer bool
	cmd := &cobra.Command{
		Use:   "vnc TARGET",
		Short: "Open the target's screen in the system's VNC viewer",
		Long: `Forward a free local port to the target's VNC port (5900) and open the
system's VNC viewer on it: "open vnc://…" on macOS (Screen Sharing), vncviewer
or xdg-open on Linux. Credentials come from the target's labels vnc-username
and vnc-password, or from --username/--password. Without a viewer, the
address is printed instead. The forward lasts until Ctrl-C.
TARGET may also be written as OpenSSH users know it: NAME.burrow,
NAME.<org>.burrow or NAME.<org>.`,
		Example: "  burrow vnc mac-1\n  burrow vnc mac-1 --username admin --password '…'",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVNC(cmd.Context(), g, args[0], port, username, password, noViewer)
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", 5900, "VNC port on the target")
	f.StringVar(&username, "username", "", "VNC user name (default: the target's vnc-username label)")
	f.StringVar(&password, "password", "", "VNC password (default: the target's vnc-password label)")
	f.BoolVar(&noViewer, "no-viewer", false, "only forward and print the address")
	return cmd
}

func runVNC(ctx context.Context, g *globals, target string, port int, username, password string, noViewer bool) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("--port %d: want a TCP port, 1-65535", port)
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	defer c.Close()
	t, err := findTarget(ctx, c, targetName(target))
	if err != nil {
		return err
	}
	target = t.Name
	// One connection first, so that a port the policy forbids, an offline
	// target or no VNC server there is said now, not when a viewer tries.
	probe, err := c.DialPortForward(ctx, target, port)
	if err != nil {
		return err
	}
	probe.Close()
	if username == "" {
		username = t.Labels["vnc-username"]
	}
	if password == "" {
		password = t.Labels["vnc-password"]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); serveForward(ctx, g, c.DialPortForward, ln, target, port) }()

	local := ln.Addr().(*net.TCPAddr)
	shown := url.URL{Scheme: "vnc", Host: local.String()}
	if username != "" {
		shown.User = url.User(username)
	}
	fmt.Fprintf(g.stdout, "Forwarding %s -> %s:%d\n", local, target, port)
	if noViewer {
		fmt.Fprintf(g.stdout, "Connect your VNC viewer to %s; Ctrl-C ends the forward.\n", shown.String())
	} else if err := openViewer(local, username, password); err != nil {
		fmt.Fprintf(g.stdout, "No VNC viewer found (%v).\nConnect yours to %s; Ctrl-C ends the forward.\n", err, shown.String())
	} else {
		fmt.Fprintf(g.stdout, "Opened a VNC viewer on %s; Ctrl-C ends the forward.\n", shown.String())
	}
	<-ctx.Done()
	ln.Close()
	return nil
}

// openViewer starts the platform's VNC viewer. The password goes only to
// the local viewer (macOS takes it in the URL, as Orchard does); it is
// never printed.
func openViewer(addr *net.TCPAddr, username, password string) error {
	u := url.URL{Scheme: "vnc", Host: addr.String()}
	switch {
	case username != "" && password != "":
		u.User = url.UserPassword(username, password)
	case username != "":
		u.User = url.User(username)
	}
	var cmd *exec.Cmd
	switch {
	case runtime.GOOS == "darwin":
		cmd = exec.Command("open", u.String())
	case hasCommand("vncviewer"):
		// TigerVNC and TightVNC take HOST::PORT for a raw port number.
		cmd = exec.Command("vncviewer", addr.IP.String()+"::"+strconv.Itoa(addr.Port))
	case hasCommand("xdg-open") && os.Getenv("DISPLAY")+os.Getenv("WAYLAND_DISPLAY") != "":
		cmd = exec.Command("xdg-open", u.String())
	default:
		return fmt.Errorf("neither vncviewer nor xdg-open with a display")
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}

func hasCommand(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}
