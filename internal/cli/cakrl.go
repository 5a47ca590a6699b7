package cli

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/sshca"
)

func newCAKRLCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "krl [--out FILE]",
		Short: "Write an OpenSSH KRL revoking revoked tokens' certificates, for sshd's RevokedKeys",
		Long: `Write an OpenSSH key revocation list (KRL) that revokes the certificates of
revoked API tokens, for the RevokedKeys option of a machine's own sshd,
next to the TrustedUserCAKeys file of ` + "`burrow ca export --user`" + `. It lists
the key ids (burrow:ORG:SUBJECT:TOKEN-ID) of tokens revoked in the last 12 h
that have not expired (older certificates have expired anyway), for any
CA. Agents learn revocations by themselves; an sshd only from this file,
so write it again after each revocation (e.g. from cron). With --out the
file is replaced at once, never half written (sshd refuses every key
while it cannot read the file); without, the KRL goes to standard output.
Admin only (it reads the token list).`,
		Example: "  burrow ca krl --out /etc/ssh/burrow_revoked.krl\n" +
			"  echo 'RevokedKeys /etc/ssh/burrow_revoked.krl' | sudo tee -a /etc/ssh/sshd_config",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" && isTerminal(g.stdout) {
				return errors.New("a KRL is binary: redirect standard output to a file, or use --out FILE")
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			defer c.Close()
			ts, err := c.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			ca, err := c.SSHCA(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			ids := revokedKeyIDs(ts, ca.Org, now)
			krl := sshca.MarshalKRL(ids, uint64(now.Unix()), now, "burrow: certificates of revoked tokens")
			if out == "" {
				_, err := g.stdout.Write(krl)
				return err
			}
			if err := writeFileAtomic(out, krl, 0o644); err != nil {
				return err
			}
			return reportKRL(g.stdout, out, len(ids))
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the KRL to FILE (replaced at once) instead of standard output")
	return cmd
}

// revokedKeyIDs are the key ids of the certificates a KRL made at now
// revokes. The window reaches a clock skew further back, for servers
// whose clock is behind this one.
func revokedKeyIDs(ts []apitype.Token, org string, now time.Time) []string {
	var ids []string
	for _, t := range ts {
		if sshca.StillRevoked(t.RevokedAt, t.ExpiresAt, now.Add(-sshca.ClockSkew)) {
			ids = append(ids, sshca.RevokedKeyIDs(org, t.Subject, t.ID)...)
		}
	}
	return ids
}

func reportKRL(w io.Writer, path string, n int) error {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs // sshd resolves a relative RevokedKeys against / and would refuse every key
	}
	_, err := fmt.Fprintf(w, "wrote %s: %d revoked token(s); sshd reads it with\n  RevokedKeys %s\n", path, n, path)
	return err
}
