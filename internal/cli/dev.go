package cli

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/burrow-dev/burrow/internal/agent"
	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/controller"
	"github.com/burrow-dev/burrow/internal/dirlock"
	"github.com/burrow-dev/burrow/internal/tlsutil"
	"github.com/burrow-dev/burrow/internal/tunnel/tunnelpb"
)

func newDevCmd(g *globals) *cobra.Command {
	var dir, listen, sshListen, name string
	var agentTLS bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run controller + agent + embedded store on this machine",
		Long: `Run a whole burrow on this machine: the controller on --listen, an agent
for this machine, and the embedded store in --data-dir. The agent lives in
the same process and reaches the controller in-process, without TLS
(--agent-tls: over TLS on loopback, as an agent on another machine does).
It writes a "dev" context with an admin token to your client config and
selects it, then prints the commands to try. Ctrl-C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), g, devOptions{dir: dir, listen: listen, sshListen: sshListen, name: name, agentTLS: agentTLS})
		},
	}
	cmd.Flags().StringVar(&dir, "data-dir", dataDir("dev"), "data directory of the dev controller and agent")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8443", "controller address")
	cmd.Flags().StringVar(&sshListen, "ssh-listen", "", "`ADDR` of the gateway's plain SSH port for ssh -J, e.g. 127.0.0.1:2222 (default: none)")
	cmd.Flags().StringVar(&name, "name", "", "name of this machine as a target (default: hostname)")
	cmd.Flags().BoolVar(&agentTLS, "agent-tls", false, "connect the agent to the controller over TLS on loopback, like a remote agent (to measure that path)")
	return cmd
}

// devOptions are burrow dev's flags.
type devOptions struct {
	dir, listen, sshListen, name string
	agentTLS                     bool
}

func runDev(ctx context.Context, g *globals, o devOptions) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	// Before anything is written: a second burrow dev on this data dir
	// would take over the "dev" context and the agent's identity.
	unlock, err := dirlock.Lock(o.dir, "burrow dev")
	switch {
	case errors.Is(err, dirlock.ErrUnlockable):
		log.Warn("running without a lock on the data directory", "err", err)
	case err != nil:
		return err
	}
	defer unlock()
	c, err := controller.New(controller.Options{
		Listen: o.listen, SSHListen: o.sshListen, DataDir: filepath.Join(o.dir, "controller"), Logger: log, DrainTimeout: 2 * time.Second,
	})
	if err != nil {
		return err
	}
	join, err := devSetup(ctx, c, filepath.Join(o.dir, "agent"))
	if err != nil {
		c.Close()
		return err
	}
	welcomed := make(chan string, 1)
	ao := agent.Options{
		URL: c.URL(), Token: join, DataDir: filepath.Join(o.dir, "agent"), Name: o.name, Logger: log, Version: Version,
		SFTPCommand: sftpCommand(),
		OnWelcome: func(w *tunnelpb.Welcome) {
			select {
			case welcomed <- firstOr(w.GetAccepted(), "?"):
			default:
			}
		},
	}
	if o.agentTLS {
		// Pinned here, not from the join token: a data dir first used
		// in-process never saved the fingerprint.
		ao.TLS = tlsutil.ClientOptions{Fingerprint: c.Fingerprint()}
	} else {
		ao.InProcessDial = c.DialInProcess
	}
	a, err := agent.New(ao)
	if err != nil {
		c.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errc <- c.Run(ctx); cancel() }()
	go func() { defer wg.Done(); errc <- a.Run(ctx); cancel() }()
	select {
	case target := <-welcomed:
		printDevHelp(g, c.URL(), target)
	case <-ctx.Done():
	}
	wg.Wait()
	return errors.Join(<-errc, <-errc)
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// devSetup writes the dev context and returns a join token for the agent
// ("" when it joined on an earlier run).
func devSetup(ctx context.Context, c *controller.Controller, agentDir string) (string, error) {
	if err := devContext(ctx, c); err != nil {
		return "", err
	}
	if st, err := agent.LoadState(agentDir); err == nil && st.Credential != "" {
		return "", nil
	}
	return c.CreateJoinToken(ctx, 10*time.Minute, 1)
}

// devContext reuses the dev context's token if the store still accepts it
// with every login of devLogins, else mints a new admin token; either way
// it writes and selects the dev context.
func devContext(ctx context.Context, c *controller.Controller) error {
	cfg, path, err := loadConfig()
	if err != nil {
		return err
	}
	dc := cfg.find("dev")
	logins := devLogins()
	token := ""
	if dc != nil && dc.Token != "" {
		t, err := c.Store().TokenByHash(ctx, auth.Hash(dc.Token))
		if err == nil && t.RevokedAt == nil && t.Role == apitype.RoleAdmin && containsAll(t.Logins, logins) {
			token = dc.Token
		}
	}
	if token == "" {
		if token, err = c.CreateToken(ctx, apitype.CreateTokenRequest{Name: "dev", Role: apitype.RoleAdmin, Logins: logins}); err != nil {
			return err
		}
	}
	cfg.upsert(Context{Name: "dev", URL: c.URL(), Token: token, Fingerprint: c.Fingerprint()})
	return cfg.save(path)
}

// devLogins are the SSH logins of the dev admin token: the user running
// burrow dev (when its name is a valid login) and root.
func devLogins() []string {
	if u := auth.LocalLogin(); u != "" && u != "root" {
		return []string{u, "root"}
	}
	return []string{"root"}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func printDevHelp(g *globals, url, target string) {
	if _, err := exec.LookPath("burrow"); err != nil {
		fmt.Fprint(g.stdout, "\n(burrow is not on your PATH: run `go install ./cmd/burrow`, or type `go run ./cmd/burrow` for `burrow` below.)")
	}
	fmt.Fprintf(g.stdout, "\nburrow dev is running: controller at %s, this machine is target %q.\n", url, target)
	fmt.Fprint(g.stdout, "The \"dev\" context (admin) is selected in your client config.\n\nNext, in another terminal:\n")
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	for _, l := range [][2]string{
		{"burrow targets", target + " is online"},
		{"burrow ssh " + target, "a shell on " + target + " (burrow ssh " + target + " -- uname -a)"},
		{"burrow port-forward " + target + " 8080:80", "localhost:8080 -> port 80 on " + target},
		{"burrow ssh-config --write", "then plain ssh, scp, sftp: ssh " + target},
		{"burrow join-token create", "let an agent on another machine join"},
	} {
		fmt.Fprintf(tw, "  %s\t# %s\n", l[0], l[1])
	}
	tw.Flush()
	fmt.Fprint(g.stdout, "\nCtrl-C stops it.\n")
}
