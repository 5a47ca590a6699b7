package cli

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/sshca"
)

// userCAHeader explains, in the exported file itself, how an OpenSSH sshd
// comes to trust burrow's user certificates. sshd skips # lines in a
// TrustedUserCAKeys file.
const userCAHeader = `# burrow SSH user CA: sshd accepts user certificates signed by these keys.
#
# 1. Put these lines in /etc/ssh/burrow_user_ca.pub:
#      burrow ca export --user | sudo tee /etc/ssh/burrow_user_ca.pub
# 2. Add this line to /etc/ssh/sshd_config and reload sshd:
#      TrustedUserCAKeys /etc/ssh/burrow_user_ca.pub
# 3. So that certificates of revoked tokens stop working here too, write
#    the revocation list (and again after each revocation, e.g. from cron):
#      burrow ca krl --out /etc/ssh/burrow_revoked.krl
#    then add this line to /etc/ssh/sshd_config (sshd refuses every key
#    while the file it names is missing):
#      RevokedKeys /etc/ssh/burrow_revoked.krl
#
# On a machine that runs a burrow agent, the agent can keep both files
# itself, rewritten within seconds of every rotation and revocation:
#      burrow agent ... --sshd-user-ca-file /etc/ssh/burrow_user_ca.pub \
#                       --sshd-krl-file /etc/ssh/burrow_revoked.krl
#
# A certificate's principals are the logins its token may use. Without
# AuthorizedPrincipalsFile, sshd lets a certificate log in as LOGIN when
# LOGIN is one of its principals. To decide per login instead, add
#      AuthorizedPrincipalsFile /etc/ssh/auth_principals/%u
# and list in /etc/ssh/auth_principals/LOGIN, one per line, the principals
# that may log in as LOGIN (a login without that file then accepts none).
`

func newCACmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "ca", Short: "The controller's SSH certificate authorities"}
	var user bool
	export := &cobra.Command{
		Use:   "export --user",
		Short: "Print the user CA keys for an OpenSSH sshd's TrustedUserCAKeys file",
		Long: `Print the SSH user CA public keys that burrow certificates are signed
with, as a TrustedUserCAKeys file for a machine's own OpenSSH sshd, with a
comment header saying where to put it. Name the CA with --user (the host
CA is for clients: burrow ca known-hosts).`,
		Example: "  burrow ca export --user | sudo tee /etc/ssh/burrow_user_ca.pub",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !user {
				return errors.New("say which CA to export: --user (the user CA that signs login certificates; for the host CA, use burrow ca known-hosts)")
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			ca, err := c.SSHCA(cmd.Context())
			if err != nil {
				return err
			}
			return writeUserCA(g.stdout, ca.UserCAKeys)
		},
	}
	export.Flags().BoolVar(&user, "user", false, "the user CA, for sshd's TrustedUserCAKeys")
	cmd.AddCommand(export, newCAKnownHostsCmd(g), newCARotateCmd(g), newCAKRLCmd(g))
	return cmd
}

func newCAKnownHostsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "known-hosts",
		Short: "Print the @cert-authority line that makes OpenSSH trust every target",
		Long: `Print a known_hosts line that trusts the controller's host CA for the
targets you can reach (by name and as NAME.burrow): each agent's SSH server
shows a host certificate from that CA, so OpenSSH never asks about host keys.
During a host CA rotation it prints a line for each trusted key, old and new.`,
		Example: "  burrow ca known-hosts >> ~/.ssh/known_hosts",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			defer c.Close()
			ca, err := c.SSHCA(cmd.Context())
			if err != nil {
				return err
			}
			ts, err := c.Targets(cmd.Context())
			if err != nil {
				return err
			}
			lines := certAuthorityLines(ca, ts)
			if len(lines) == 0 {
				return errors.New("the controller has no host CA keys")
			}
			for _, l := range lines {
				fmt.Fprintln(g.stdout, l)
			}
			return nil
		},
	}
}

// certAuthorityLines are the known_hosts lines trusting the host CA keys
// for the targets with a built-in SSH server, for *.burrow, and for the
// names of the controller's SSH gateway, on any port ([NAME]:* is how
// known_hosts names a host on a port other than 22), so that plain ssh
// and ssh -J check every hop without a pinned key. The CA is trusted for
// these names only, not for every host.
func certAuthorityLines(ca apitype.SSHCA, ts []apitype.Target) []string {
	names := []string{"*" + sshca.HostSuffix}
	for _, t := range ts {
		if t.SSH == "builtin" && safeName.MatchString(t.Name) {
			names = append(names, t.Name)
		}
	}
	for _, h := range ca.GatewayHosts {
		if gatewayHostName.MatchString(h) {
			names = append(names, h, "["+h+"]:*")
		}
	}
	seen := map[string]bool{}
	names = slices.DeleteFunc(names, func(n string) bool { dup := seen[n]; seen[n] = true; return dup })
	var out []string
	for _, k := range ca.HostCAKeys {
		out = append(out, "@cert-authority "+strings.Join(names, ",")+" "+k)
	}
	return out
}

// gatewayHostName is a host name or an IPv4 or IPv6 address, nothing a
// known_hosts pattern list would read otherwise.
var gatewayHostName = regexp.MustCompile(`^[A-Za-z0-9:][A-Za-z0-9.:-]*$`)

// writeUserCA writes the TrustedUserCAKeys file of keys.
func writeUserCA(w io.Writer, keys []string) error {
	if len(keys) == 0 {
		return errors.New("the controller has no user CA keys to trust")
	}
	if _, err := io.WriteString(w, userCAHeader); err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := fmt.Fprintln(w, k); err != nil {
			return err
		}
	}
	return nil
}
