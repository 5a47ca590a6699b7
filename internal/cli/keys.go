package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/burrow-dev/burrow/internal/apitype"
)

// maxKeyFile bounds what `burrow keys add` reads: a .pub file is one line.
const maxKeyFile = 64 << 10

func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage plain SSH public keys that open the gateway (ssh -J)"}
	cmd.AddCommand(newKeysAddCmd(g), newKeysListCmd(g), newKeysRemoveCmd(g))
	return cmd
}

func newKeysAddCmd(g *globals) *cobra.Command {
	var name string
	add := &cobra.Command{
		Use:   "add FILE.pub|-",
		Short: "Register a public key (a .pub file, or - for stdin) for gateway logins with this token",
		Long: "Register a plain SSH public key so that the gateway accepts it for `ssh -J`.\n" +
			"The key is bound to the token you are logged in with: it stops working when\n" +
			"that token is revoked or expires. Targets still need a burrow certificate\n" +
			"(`burrow cert issue`).",
		Example: "  burrow keys add ~/.ssh/id_ed25519.pub\n  ssh-add -L | head -1 | burrow keys add --name laptop -",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			line, err := readPublicKeyFile(args[0])
			if err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			k, err := c.AddUserKey(cmd.Context(), apitype.AddUserKeyRequest{Name: name, PublicKey: line})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s %s %s\n", k.ID, k.Fingerprint, k.Name)
			return nil
		},
	}
	add.Flags().StringVar(&name, "name", "", "a label for the key (default: the key's comment)")
	return add
}

// readPublicKeyFile reads a public key file, or stdin for "-".
func readPublicKeyFile(path string) (string, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxKeyFile))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if strings.Contains(string(b), "PRIVATE KEY") {
		return "", fmt.Errorf("%s is a private key: give the public key (%s.pub)", path, path)
	}
	return strings.TrimSpace(string(b)), nil
}

func newKeysListCmd(g *globals) *cobra.Command {
	var output string
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List your registered keys (an admin: everyone's)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			ks, err := c.ListUserKeys(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(g.stdout).Encode(ks)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tFINGERPRINT\tSUBJECT\tTOKEN\tCREATED")
			for _, k := range ks {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Fingerprint, k.Subject, k.TokenID,
					k.CreatedAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return list
}

func newKeysRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "remove ID", Aliases: []string{"rm"}, Short: "Remove a registered key; new gateway logins with it are refused", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.DeleteUserKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "removed key %s\n", args[0])
			return nil
		},
	}
}
