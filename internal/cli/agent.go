package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/burrow-dev/burrow/internal/agent"
	"github.com/burrow-dev/burrow/internal/sshd"
)

func newAgentCmd(g *globals) *cobra.Command {
	var o agent.Options
	var targets, labels []string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run an agent: dial out to the controller and serve its targets",
		Long: `Run an agent. It connects out to the controller (no listening socket),
joins once with a join token, keeps its credential in --data-dir, and
reconnects by itself forever. Its own machine is a target named --name
(ports on its loopback); --target NAME=HOST declares more.

A machine whose own sshd answers SSH (--ssh system) can have the agent
keep sshd's TrustedUserCAKeys and RevokedKeys files: with
--sshd-user-ca-file and --sshd-krl-file the agent rewrites them whenever
the controller's trust changes (a CA rotation, a revoked token), and at
start from its cached trust. sshd reads both at each login.`,
		Example: `  burrow agent --url https://gw.example.com:8443 --token brwj_… --target db=10.0.0.5
  burrow agent --url https://gw.example.com:8443 --ssh system \
      --sshd-user-ca-file /etc/ssh/burrow_user_ca.pub --sshd-krl-file /etc/ssh/burrow_revoked.krl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			o.Logger, o.Version, o.SFTPCommand = log, Version, sftpCommand()
			if o.Targets, err = parseTargets(targets); err != nil {
				return err
			}
			if o.Labels, err = parseLabels(labels); err != nil {
				return err
			}
			a, err := agent.New(o)
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.URL, "url", "", "controller URL, https://host:port (required)")
	f.StringVar(&o.Token, "token", "", "join token (needed on first start only)")
	f.StringVar(&o.DataDir, "data-dir", dataDir("agent"), "where the agent keeps its credential")
	f.StringVar(&o.Name, "name", "", "agent and target name (default: hostname)")
	f.StringArrayVar(&targets, "target", nil, "another reachable host, NAME=HOST[,allow=PORTS][,deny=PORTS][,ssh=system] (repeatable)")
	f.StringVar(&o.SSH, "ssh", "builtin", "who answers port 22 of this machine: builtin (the agent's SSH server), system (its sshd) or off")
	f.StringArrayVar(&o.SSHEnvAllow, "ssh-env", nil, "environment variable SSH clients may set besides LANG, LC_*, TERM (repeatable; NAME or PREFIX*)")
	f.StringVar(&o.SSHDUserCAFile, "sshd-user-ca-file", "", "keep `FILE` holding the user CA keys, for TrustedUserCAKeys of this machine's sshd")
	f.StringVar(&o.SSHDKRLFile, "sshd-krl-file", "", "keep `FILE` as a KRL of revoked tokens' certificates, for RevokedKeys of this machine's sshd")
	f.StringVar(&o.Allow, "allow-ports", "", "ports of this machine users may reach, e.g. 22,80,8000-8999 (default all)")
	f.StringVar(&o.Deny, "deny-ports", "", "ports of this machine users may not reach")
	f.StringArrayVar(&labels, "label", nil, "label KEY=VALUE for inventory (repeatable)")
	f.StringVar(&o.TLS.Fingerprint, "fingerprint", "", "pin the controller certificate (default: from the join token)")
	f.StringVar(&o.TLS.CAFile, "ca-file", "", "trust controller certificates signed by this CA")
	cmd.MarkFlagRequired("url")
	return cmd
}

// parseTargets reads NAME=HOST[,allow=PORTS][,deny=PORTS][,ssh=system]; a port list
// may itself hold commas ("db=10.0.0.5,allow=5432,6432,deny=22").
func parseTargets(specs []string) ([]agent.Target, error) {
	var ts []agent.Target
	for _, s := range specs {
		name, rest, ok := strings.Cut(s, "=")
		if !ok || name == "" || rest == "" || rest[0] == ',' { // no HOST before the options
			return nil, fmt.Errorf("--target %q: want NAME=HOST[,allow=PORTS][,deny=PORTS][,ssh=system]", s)
		}
		parts := strings.Split(rest, ",")
		t := agent.Target{Name: name, Host: parts[0]}
		var cur *string
		for _, p := range parts[1:] {
			k, v, isKey := strings.Cut(p, "=")
			switch {
			case isKey && k == "allow":
				cur = &t.Allow
			case isKey && k == "deny":
				cur = &t.Deny
			case isKey && k == "ssh":
				if v != agent.SSHSystem {
					return nil, fmt.Errorf("--target %q: ssh=%s: only ssh=system (the host runs its own sshd) is possible", s, v)
				}
				t.SSH, cur = v, nil
				continue
			case !isKey && cur != nil:
				v = p
			default:
				return nil, fmt.Errorf("--target %q: unknown option %q (want allow=PORTS, deny=PORTS or ssh=system)", s, p)
			}
			if *cur != "" {
				*cur += ","
			}
			*cur += v
		}
		ts = append(ts, t)
	}
	return ts, nil
}

func parseLabels(specs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, s := range specs {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--label %q: want KEY=VALUE", s)
		}
		m[k] = v
	}
	return m, nil
}

// sftpCommand is how the agent runs SFTP as another user: this very
// binary, as `burrow sftp-server`.
func sftpCommand() []string {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	return []string{exe, "sftp-server"}
}

func newSFTPServerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "sftp-server",
		Short:  "Serve SFTP on stdin and stdout (run by the agent's SSH server)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := os.Getwd()
			if err != nil {
				dir = "/"
			}
			return sshd.ServeSFTP(stdio{}, dir)
		},
	}
}

// stdio is stdin and stdout as one stream.
type stdio struct{}

func (stdio) Read(p []byte) (int, error)  { return os.Stdin.Read(p) }
func (stdio) Write(p []byte) (int, error) { return os.Stdout.Write(p) }
func (stdio) Close() error                { return os.Stdout.Close() }
