package cli

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestReadmeReference checks that every line of the README's CLI reference
// names a real command, and every flag on it exists on that command; and
// that every command of the CLI appears in the reference.
func TestReadmeReference(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ref := section(t, string(b), "## CLI reference")
	root := newRoot(io.Discard, io.Discard)
	seen := map[*cobra.Command]bool{}
	flagRE := regexp.MustCompile(`(?:^|[\s\[])(--?[a-z][a-z-]*)`)
	defaultRE := regexp.MustCompile(`\[--([a-z][a-z-]*) ([^\]\s]+)\]`)
	for _, line := range strings.Split(ref, "\n") {
		if !strings.HasPrefix(line, "burrow ") {
			continue
		}
		cmd, _, err := root.Find(strings.Fields(line)[1:])
		if err != nil || cmd == root {
			t.Errorf("README line %q: no such command (%v)", line, err)
			continue
		}
		seen[cmd] = true
		for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
			name := strings.TrimLeft(m[1], "-")
			if cmd.Flags().Lookup(name) == nil && cmd.Flags().ShorthandLookup(name) == nil && cmd.InheritedFlags().Lookup(name) == nil {
				t.Errorf("README line %q: %s has no flag %s", line, cmd.CommandPath(), m[1])
			}
		}
		// "[--flag VALUE]" shows the default, unless VALUE is a
		// placeholder (capitals) or a choice (a|b, a,b).
		for _, m := range defaultRE.FindAllStringSubmatch(line, -1) {
			f, v := cmd.Flags().Lookup(m[1]), m[2]
			placeholder := strings.ToUpper(v) == v && strings.ToLower(v) != v
			if f == nil || placeholder || strings.ContainsAny(v, "|,") {
				continue
			}
			d1, err1 := time.ParseDuration(v)
			d2, err2 := time.ParseDuration(f.DefValue)
			if f.DefValue != v && (err1 != nil || err2 != nil || d1 != d2) {
				t.Errorf("README line %q: --%s shows %q, but its default is %q", line, m[1], m[2], f.DefValue)
			}
		}
	}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && !c.Hidden && !seen[c] && c != root && !strings.Contains(c.CommandPath(), "completion") && c.Name() != "help" {
			t.Errorf("command %q is missing from the README's CLI reference", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func section(t *testing.T, doc, heading string) string {
	i := strings.Index(doc, heading)
	if i < 0 {
		t.Fatalf("README has no %q section", heading)
	}
	rest := doc[i+len(heading):]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
