// Package cli implements the `burrow` command line: one file per command,
// built with cobra. Main is called by cmd/burrow with a context that ends
// on SIGINT/SIGTERM.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/burrow-dev/burrow/internal/apitype"
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

// Main runs the CLI with args and returns the process exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		var ex exitError
		if errors.As(err, &ex) { // a remote program's status, already explained
			return int(ex)
		}
		fmt.Fprintln(stderr, "burrow: "+describe(err))
		var sf sshFailure
		if errors.As(err, &sf) {
			return 255
		}
		return 1
	}
	return 0
}

// exitError carries a specific exit status, printed by nobody.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// sshFailure is a failure of `burrow ssh` itself, not of the remote
// command: it exits 255, as OpenSSH does, so that a script tells it from a
// remote command's own status 1.
type sshFailure struct{ error }

func (f sshFailure) Unwrap() error { return f.error }

// asSSHFailure marks err as an sshFailure unless it carries a remote
// command's status.
func asSSHFailure(err error) error {
	var ex exitError
	if err == nil || errors.As(err, &ex) {
		return err
	}
	return sshFailure{err}
}

func describe(err error) string {
	var e *apitype.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

type globals struct {
	logFormat string
	logLevel  string
	stdout    io.Writer
	stderr    io.Writer
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "burrow",
		Short:         "Reach shells, files and ports of machines in private networks",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.AddCommand(
		newServerCmd(g), newAgentCmd(g), newDevCmd(g), newLoginCmd(g), newContextCmd(g),
		newTargetsCmd(g), newPortForwardCmd(g), newProxyCmd(g), newTokenCmd(g), newJoinTokenCmd(g), newKeysCmd(g),
		newPolicyCmd(g), newVersionCmd(g), newSFTPServerCmd(), newSSHCmd(g), newSSHConfigCmd(g), newCpCmd(g), newVNCCmd(g),
		newCertCmd(g), newCACmd(g),
	)
	return root
}

// logger builds the slog logger the flags ask for, writing to stderr.
func (g *globals) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(g.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(g.stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", g.logFormat)
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print burrow's version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(g.stdout, "burrow "+versionString()) },
	}
}

// versionString is Version, set when a release is built. Without one it
// is what Go recorded: the module version (go install …@vX), or the commit
// (go build in a checkout), and Go's version.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if Version != "dev" || !ok {
		return Version
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v + ", " + bi.GoVersion
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			rev = s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	if rev != "" {
		return "dev (git " + rev + dirty + "), " + bi.GoVersion
	}
	return "dev, " + bi.GoVersion
}

// dataDir is $XDG_DATA_HOME/burrow/<sub>, or ~/.local/share/burrow/<sub>.
func dataDir(sub string) string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return d + "/burrow/" + sub
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "burrow-" + sub
	}
	return home + "/.local/share/burrow/" + sub
}
