package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/client"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens (admin)"}
	var req apitype.CreateTokenRequest
	var createOut, listOut string
	create := &cobra.Command{
		Use: "create", Short: "Create an API token and print its secret (shown once)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if createOut == "json" {
				return json.NewEncoder(g.stdout).Encode(t)
			}
			fmt.Fprintln(g.stdout, t.Secret)
			fmt.Fprintf(g.stderr, "token %s for %s (%s, ssh logins: %s) created; the secret above is shown only once\n",
				t.ID, t.Subject, t.Role, logins(t.Logins))
			return nil
		},
	}
	create.Flags().StringVar(&req.Name, "name", "", "token name (required)")
	create.Flags().StringVar(&req.Subject, "subject", "", "user the token acts as (default: the name)")
	create.Flags().StringVar(&req.Role, "role", "member", "admin or member")
	create.Flags().StringSliceVar(&req.Logins, "login", nil, "OS user the token may log in as over SSH; repeat for more (default: root for an admin, the subject for a member)")
	create.Flags().DurationVar(&req.TTL, "ttl", 0, "lifetime, e.g. 720h (default: no expiry)")
	create.Flags().StringVarP(&createOut, "output", "o", "", "json for the whole record (id and secret)")
	create.MarkFlagRequired("name")
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List API tokens", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			ts, err := c.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			if listOut == "json" {
				return json.NewEncoder(g.stdout).Encode(ts)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSUBJECT\tROLE\tLOGINS\tEXPIRES\tREVOKED")
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Subject, t.Role, logins(t.Logins),
					when(t.ExpiresAt), when(t.RevokedAt))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVarP(&listOut, "output", "o", "table", "output format: table or json")
	var revokeUser string
	revoke := &cobra.Command{
		Use:   "revoke ID | --user NAME",
		Short: "Revoke an API token, or every token of a user, at once",
		Long: `Revoke an API token at once: requests with it are refused, its live
sessions are closed and agents refuse the SSH certificates issued for it.
--user NAME does that for every token of the user (the token's subject).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && revokeUser != "":
				return errors.New("give a token ID or --user NAME, not both")
			case len(args) == 0 && revokeUser == "":
				return errors.New("give the ID of the token to revoke (`burrow token list` shows them), or --user NAME")
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			if revokeUser == "" {
				if err := c.RevokeToken(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "revoked token %s\n", args[0])
				return nil
			}
			r, err := c.RevokeUser(cmd.Context(), revokeUser)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "revoked %d token(s) of %s", len(r.TokensRevoked), r.Subject)
			if len(r.TokensRevoked) > 0 {
				fmt.Fprintf(g.stdout, " (%s)", strings.Join(r.TokensRevoked, ", "))
			}
			fmt.Fprintf(g.stdout, "; closed %d session(s)\n", r.SessionsClosed)
			return nil
		},
	}
	revoke.Flags().StringVar(&revokeUser, "user", "", "revoke every token of this user (subject) instead")
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// logins shows a token's SSH logins, "-" for none.
func logins(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func newJoinTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "join-token", Short: "Manage agent join tokens (admin)"}
	var req apitype.CreateJoinTokenRequest
	var output string
	create := &cobra.Command{
		Use: "create", Short: "Create a join token for `burrow agent --token`", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.TTL <= 0 {
				return fmt.Errorf("--ttl %v: a join token needs a lifetime, e.g. 1h", req.TTL)
			}
			if req.MaxUses < 1 {
				return fmt.Errorf("--uses %d: at least one agent must be able to join with it", req.MaxUses)
			}
			cfg, err := clientConfig("")
			if err != nil {
				return err
			}
			c, err := client.New(cfg)
			if err != nil {
				return err
			}
			t, err := c.CreateJoinToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(g.stdout).Encode(t)
			}
			fmt.Fprintln(g.stdout, t.Secret)
			fmt.Fprintf(g.stderr, "join token %s: %d use(s), expires %s. On the agent's machine:\n  burrow agent --url %s --token <the token above>\n",
				t.ID, t.MaxUses, t.ExpiresAt.UTC().Format(time.RFC3339), cfg.URL)
			return nil
		},
	}
	create.Flags().DurationVar(&req.TTL, "ttl", time.Hour, "how long the token can be used (at most 720h)")
	create.Flags().IntVar(&req.MaxUses, "uses", 1, "how many agents may join with it")
	create.Flags().StringVarP(&output, "output", "o", "", "json for the whole record")
	cmd.AddCommand(create)
	return cmd
}

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Controller-side port policy of targets (admin)"}
	var p apitype.Policy
	set := &cobra.Command{
		Use: "set TARGET", Short: "Set which ports of a target may be reached", Args: cobra.ExactArgs(1),
		Example: "  burrow policy set db-1 --allow 5432 --deny ''",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			p.Target = args[0]
			out, err := c.SetPolicy(cmd.Context(), p)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: allow %q deny %q\n", out.Target, out.Allow, out.Deny)
			return nil
		},
	}
	set.Flags().StringVar(&p.Allow, "allow", "", "allowed ports, e.g. 22,80,8000-8999 (empty: all)")
	set.Flags().StringVar(&p.Deny, "deny", "", "denied ports")
	cmd.AddCommand(set)
	return cmd
}
