package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/burrow-dev/burrow/internal/apitype"
)

func newTargetsCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "targets",
		Aliases: []string{"ls"},
		Short:   "List targets and whether they are online",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			ts, err := c.Targets(cmd.Context())
			if err != nil {
				return err
			}
			switch output {
			case "json":
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(ts)
			case "", "table":
				return printTargets(g, ts)
			}
			return fmt.Errorf("-o must be table or json, not %q", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func printTargets(g *globals, ts []apitype.Target) error {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tAGENT\tOS/ARCH\tPORTS\tLABELS")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, status(t), t.Agent, t.OS+"/"+t.Arch, ports(t), labels(t.Labels))
	}
	return tw.Flush()
}

func status(t apitype.Target) string {
	if t.Online {
		return "online"
	}
	return "offline (seen " + time.Since(t.LastSeen).Round(time.Second).String() + " ago)"
}

// ports is what the agent allows and, if the controller's policy narrows
// it, what that allows.
func ports(t apitype.Target) string {
	s := portList(t.Allow, t.Deny)
	if t.PolicyAllow != "" || t.PolicyDeny != "" {
		s += "; controller: " + portList(t.PolicyAllow, t.PolicyDeny)
	}
	return s
}

func portList(allow, deny string) string {
	s := "all"
	if allow != "" {
		s = allow
	}
	if deny != "" {
		s += " except " + deny
	}
	return s
}

func labels(m map[string]string) string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}
