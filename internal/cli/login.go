package cli

import (
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/burrow-dev/burrow/internal/client"
	"github.com/burrow-dev/burrow/internal/tlsutil"
)

func newLoginCmd(g *globals) *cobra.Command {
	var token, fingerprint, caFile, name string
	cmd := &cobra.Command{
		Use:   "login URL --token TOKEN",
		Short: "Save a controller and token as a context, pinning its certificate",
		Long: `Log in to a controller: check the token, pin the controller's TLS
certificate (shown; pass --fingerprint to require a known one, or --ca-file
for a CA-signed certificate) and save it all as a context, then select it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := url.Parse(args[0])
			if err != nil || u.Scheme != "https" || u.Host == "" {
				return fmt.Errorf("URL %q must look like https://host:port", args[0])
			}
			ctxt := Context{Name: name, URL: args[0], Token: token, CAFile: caFile}
			if ctxt.Name == "" {
				ctxt.Name = u.Hostname()
			}
			if caFile == "" {
				if ctxt.Fingerprint, err = pin(g, u, fingerprint); err != nil {
					return err
				}
			}
			c, err := client.New(client.Config{URL: ctxt.URL, Token: token, TLS: tlsutil.ClientOptions{Fingerprint: ctxt.Fingerprint, CAFile: caFile}})
			if err != nil {
				return err
			}
			who, err := c.Whoami(cmd.Context())
			if err != nil {
				return err
			}
			cfg, path, err := loadConfig()
			if err != nil {
				return err
			}
			cfg.upsert(ctxt)
			if err := cfg.save(path); err != nil {
				return err
			}
			// The certificate ssh-config's entries use was issued for the
			// context's old token: drop it, so the next ssh gets one for
			// this token.
			if id, err := managedIdentity(ctxt.Name); err == nil {
				if err := id.forget(); err != nil {
					fmt.Fprintf(g.stderr, "burrow: %v; run `burrow ssh-config --context %s` to renew it\n", err, ctxt.Name)
				}
			}
			fmt.Fprintf(g.stdout, "Logged in to %s as %s (%s); context %q selected", ctxt.URL, who.Subject, who.Role, ctxt.Name)
			if ctxt.Fingerprint != "" {
				fmt.Fprintf(g.stdout, ", certificate %s pinned", ctxt.Fingerprint)
			}
			fmt.Fprintln(g.stdout, ".")
			return nil
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "API token (required)")
	cmd.Flags().StringVar(&fingerprint, "fingerprint", "", "expected controller certificate fingerprint, sha256:…")
	cmd.Flags().StringVar(&caFile, "ca-file", "", "CA certificate that signs the controller's certificate")
	cmd.Flags().StringVar(&name, "context", "", "context name (default: the URL's host)")
	cmd.MarkFlagRequired("token")
	return cmd
}

// pin fetches the controller's certificate fingerprint, checks it against
// want if given, and shows it.
func pin(g *globals, u *url.URL, want string) (string, error) {
	addr := u.Host
	if u.Port() == "" {
		addr += ":443"
	}
	got, err := tlsutil.FetchFingerprint(addr, 10*time.Second)
	if err != nil {
		return "", err
	}
	if want != "" {
		w, err := tlsutil.ParseFingerprint(want)
		if err != nil {
			return "", err
		}
		if w != got {
			return "", fmt.Errorf("controller certificate is %s, not the expected %s: refusing to log in", got, w)
		}
	}
	fmt.Fprintf(g.stderr, "Controller certificate fingerprint: %s\n", got)
	return got, nil
}

func newContextCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "context", Short: "List, select or delete saved contexts"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List contexts", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := loadConfig()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CURRENT\tNAME\tURL")
			for _, c := range cfg.Contexts {
				cur := ""
				if c.Name == cfg.CurrentContext {
					cur = "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", cur, c.Name, c.URL)
			}
			return tw.Flush()
		},
	}, &cobra.Command{
		Use: "use NAME", Short: "Select a context", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return editConfig(args[0], func(cfg *Config) { cfg.CurrentContext = args[0] })
		},
	}, &cobra.Command{
		Use: "delete NAME", Short: "Delete a context (and its section of ~/.ssh/config)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := editConfig(args[0], func(cfg *Config) {
				kept := cfg.Contexts[:0]
				for _, c := range cfg.Contexts {
					if c.Name != args[0] {
						kept = append(kept, c)
					}
				}
				cfg.Contexts = kept
				if cfg.CurrentContext == args[0] {
					cfg.CurrentContext = ""
				}
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Deleted context %s.\n", args[0])
			// Its ssh-config entries would only fail now ("no context").
			if path, err := defaultSSHConfig(); err == nil {
				if removed, err := removeSSHConfigSection(path, args[0]); err != nil {
					fmt.Fprintf(g.stderr, "burrow: %v\n", err)
				} else if removed {
					fmt.Fprintf(g.stdout, "Removed its section from %s.\n", path)
				}
			}
			return nil
		},
	})
	return cmd
}

func editConfig(name string, edit func(*Config)) error {
	cfg, path, err := loadConfig()
	if err != nil {
		return err
	}
	if cfg.find(name) == nil {
		return fmt.Errorf("no context named %q (`burrow context list`)", name)
	}
	edit(cfg)
	return cfg.save(path)
}
