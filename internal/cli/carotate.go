package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/burrow-dev/burrow/internal/apitype"
)

func newCARotateCmd(g *globals) *cobra.Command {
	var user, host bool
	var overlap time.Duration
	cmd := &cobra.Command{
		Use:   "rotate --user|--host [--overlap 24h]",
		Short: "Make a new CA key sign from now on; the old one stays trusted for the overlap",
		Long: `Rotate the user CA (which signs login certificates) or the host CA (which
signs agents' host certificates). The new key signs from now on; the old
key stays trusted for --overlap, so certificates it signed keep working
until then. Connected agents learn the new trust within seconds; an agent
that is offline learns it when it reconnects. After a host CA rotation,
connected agents and the SSH gateway get a new host certificate at once, so
refresh known_hosts with ` + "`burrow ca known-hosts`" + ` right away (it lists both
keys during the overlap; burrow ssh-config's known hosts refresh themselves), and
a machine's own sshd with ` + "`burrow ca export --user`" + ` after a user CA rotation.
Admin only.`,
		Example: "  burrow ca rotate --user --overlap 24h\n  burrow ca rotate --host --overlap 720h",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == host {
				return errors.New("say which CA to rotate: --user or --host")
			}
			req := apitype.RotateCARequest{Kind: "user", Overlap: overlap.String()}
			if host {
				req.Kind = "host"
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			defer c.Close()
			out, err := c.RotateCA(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "new %s CA key: %s\n", out.Kind, out.Key)
			fmt.Fprintf(g.stdout, "the previous key is trusted until %s\n", out.PreviousTrustedUntil.Format(time.RFC3339))
			fmt.Fprintf(g.stdout, "trusted now:\n")
			for _, k := range out.Trusted {
				fmt.Fprintf(g.stdout, "  %s\n", k)
			}
			if host {
				fmt.Fprintf(g.stdout, "targets and the SSH gateway present certificates from the new key now: refresh known_hosts filled from `burrow ca known-hosts` (burrow ssh-config's refresh themselves)\n")
			} else {
				fmt.Fprintf(g.stdout, "machines' own sshd trusting burrow: refresh TrustedUserCAKeys with `burrow ca export --user` before %s (agents with --sshd-user-ca-file do it themselves)\n", out.PreviousTrustedUntil.Format(time.RFC3339))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&user, "user", false, "rotate the user CA")
	cmd.Flags().BoolVar(&host, "host", false, "rotate the host CA")
	cmd.Flags().DurationVar(&overlap, "overlap", apitype.DefaultCAOverlap, "how long the old key stays trusted (0s: not at all)")
	return cmd
}
