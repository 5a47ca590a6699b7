package cli

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/burrow-dev/burrow/internal/controller"
	"github.com/burrow-dev/burrow/internal/gateway"
	"github.com/burrow-dev/burrow/internal/sshca"
)

func newServerCmd(g *globals) *cobra.Command {
	var o controller.Options
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the controller (the one public endpoint)",
		Long: `Run the controller: one TCP port carries gRPC for agents and HTTPS for users.
On first start it makes a self-signed TLS certificate (its fingerprint is
logged; clients pin it) and writes an admin API token to DATA-DIR/admin-token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if p := o.SSHCertPolicy; p.MaxTTL < sshca.MinPolicyTTL || p.MaxTTL > sshca.MaxTTL {
				return fmt.Errorf("--ssh-cert-max-ttl %v: must be between %v and %v", p.MaxTTL, sshca.MinPolicyTTL, sshca.MaxTTL)
			}
			for _, d := range o.SSHCertPolicy.Deny {
				if !slices.Contains(sshca.Denials, d) {
					return fmt.Errorf("--ssh-cert-deny %s: not one of %s", d, strings.Join(sshca.Denials, ", "))
				}
			}
			for _, name := range []string{"ssh-login-grace-time", "ssh-max-startups", "ssh-per-source-max-startups", "ssh-max-auth-failures"} {
				if v := cmd.Flags().Lookup(name).Value.String(); strings.HasPrefix(v, "-") {
					return fmt.Errorf("--%s %s: must not be negative (0 takes the default)", name, v)
				}
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			o.Logger = log
			c, err := controller.New(o)
			if err != nil {
				return err
			}
			path, err := c.EnsureAdminToken(cmd.Context(), []string{"root"})
			if err != nil {
				return err
			}
			if path != "" {
				log.Info("wrote the first admin token; log in with it and keep it safe", "path", path)
			}
			fmt.Fprintf(g.stderr, "burrow controller at %s  tls fingerprint %s\n", c.URL(), c.Fingerprint())
			return c.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", ":8443", "address of the one port (gRPC and HTTPS)")
	f.StringVar(&o.DataDir, "data-dir", dataDir("server"), "database, TLS certificate and first admin token")
	f.StringVar(&o.TLSCert, "tls-cert", "", "PEM certificate to use instead of the self-signed one")
	f.StringVar(&o.TLSKey, "tls-key", "", "PEM key of --tls-cert")
	f.StringSliceVar(&o.Hostnames, "hostname", nil, "extra DNS names or IPs for the self-signed certificate")
	f.StringVar(&o.Org, "org", "", "the org's `NAME`, in user certificates' key ids and target names (TARGET.NAME.burrow); fixed at the first start (default \""+controller.DefaultOrg+"\")")
	f.DurationVar(&o.DrainTimeout, "drain-timeout", 10*time.Second, "how long shutdown waits for open sessions")
	f.StringVar(&o.SSHListen, "ssh-listen", "", "`ADDR` of a plain SSH port for ssh -J through the gateway, e.g. :2222 (default: none)")
	f.DurationVar(&o.SSHCertPolicy.MaxTTL, "ssh-cert-max-ttl", sshca.MaxTTL, "longest lifetime of the SSH certificates users get (at most the default)")
	f.StringSliceVar(&o.SSHCertPolicy.Deny, "ssh-cert-deny", nil, "permit-* extensions to leave out of every user certificate: "+strings.Join(sshca.Denials, ", "))
	l, d := &o.SSHLimits, gateway.DefaultLimits()
	f.DurationVar(&l.LoginGraceTime, "ssh-login-grace-time", d.LoginGraceTime, "SSH gateway: time a client has to log in before it is disconnected (0: the default)")
	f.IntVar(&l.MaxStartups, "ssh-max-startups", d.MaxStartups, "SSH gateway: connections not yet logged in, from all addresses; more are closed at once (0: the default)")
	f.IntVar(&l.PerSourceMaxStartups, "ssh-per-source-max-startups", d.PerSourceMaxStartups, "SSH gateway: connections not yet logged in from one IP address (0: the default)")
	f.IntVar(&l.MaxAuthFailures, "ssh-max-auth-failures", d.MaxAuthFailures, "SSH gateway: failed logins from one IP address within a minute before it is refused for 5 minutes (0: the default)")
	return cmd
}
