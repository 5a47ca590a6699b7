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
		Short: "Make a new CA key (--host: published first, signing after the overlap)",
		Long: `Rotate the user CA (which signs login certificates) or the host CA (which
signs agents' host certificates, and the SSH gateway's).

--user: the new key signs from now on; the old key stays trusted for
--overlap, so certificates it signed keep working until then. Refresh a
machine's own sshd with ` + "`burrow ca export --user`" + ` before the overlap ends
(agents with --sshd-user-ca-file do it themselves).

--host: staged, because clients must trust a host CA key before hosts
present certificates from it. The new key is trusted at once, so
` + "`burrow ca known-hosts`" + ` lists both keys; the old key keeps signing until
--overlap ends, then agents and the SSH gateway get certificates from the
new key, and the old key stays trusted 10 minutes more. Refresh
known_hosts filled from ` + "`burrow ca known-hosts`" + ` during the overlap (burrow
ssh-config's known hosts refresh themselves).

--overlap 0s (for a compromised key), either CA: the new key signs at once
and no earlier key is trusted any more, one still in an earlier overlap
included. Certificates from them stop working; known_hosts that lack the
new key refuse the targets until refreshed.

Connected agents learn the new trust within seconds; an agent that is
offline learns it when it reconnects. Admin only.`,
		Example: "  burrow ca rotate --user --overlap 24h\n  burrow ca rotate --host --overlap 720h",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case user && host:
				return errors.New("rotate one CA at a time: --user or --host, not both")
			case !user && !host:
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
			overlap := out.PreviousTrustedUntil.After(out.CreatedAt)
			if out.SignsFrom.After(out.CreatedAt) {
				fmt.Fprintf(g.stdout, "it signs from %s; the previous key signs until then and is trusted until %s\n",
					out.SignsFrom.Format(time.RFC3339), out.PreviousTrustedUntil.Format(time.RFC3339))
			} else if overlap {
				fmt.Fprintf(g.stdout, "it signs from now on; the previous key is trusted until %s\n", out.PreviousTrustedUntil.Format(time.RFC3339))
			} else {
				fmt.Fprintf(g.stdout, "it signs from now on; no earlier key is trusted any more\n")
			}
			fmt.Fprintf(g.stdout, "trusted now:\n")
			for _, k := range out.Trusted {
				fmt.Fprintf(g.stdout, "  %s\n", k)
			}
			switch {
			case host && out.SignsFrom.After(out.CreatedAt):
				fmt.Fprintf(g.stdout, "refresh known_hosts filled from `burrow ca known-hosts` before %s (burrow ssh-config's refresh at their next certificate renewal, or when `burrow ssh-config` runs)\n", out.SignsFrom.Format(time.RFC3339))
			case host:
				fmt.Fprintf(g.stdout, "targets and the SSH gateway present certificates from the new key now: refresh known_hosts filled from `burrow ca known-hosts`, and run `burrow ssh-config` where it is used (its known hosts fall back to the targets' plain keys until their next renewal)\n")
			case overlap:
				fmt.Fprintf(g.stdout, "machines' own sshd trusting burrow: refresh TrustedUserCAKeys with `burrow ca export --user` before %s (agents with --sshd-user-ca-file do it themselves)\n", out.PreviousTrustedUntil.Format(time.RFC3339))
			default:
				fmt.Fprintf(g.stdout, "machines' own sshd trusting burrow: refresh TrustedUserCAKeys with `burrow ca export --user` now (agents with --sshd-user-ca-file do it themselves)\n")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&user, "user", false, "rotate the user CA")
	cmd.Flags().BoolVar(&host, "host", false, "rotate the host CA")
	cmd.Flags().DurationVar(&overlap, "overlap", apitype.DefaultCAOverlap, "user CA: how long the old key stays trusted; host CA: how long the old key keeps signing while the new one is published (0s: switch at once, no earlier key trusted)")
	return cmd
}
