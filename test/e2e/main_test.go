//go:build e2e && linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Binaries built once by TestMain.
var (
	burrowBin    string // cmd/burrow
	targetsrvBin string // testdata/targetsrv
	skipReason   string // why the tests skip; "" when they can run

	burrowBuildErr, targetsrvBuildErr error // why a binary did not build
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	skipReason = prerequisites()
	if skipReason == "" {
		dir, err := os.MkdirTemp("", "burrow-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		// Other users run burrow too: the agent re-executes itself as the
		// login user for sftp, and TestSSH runs an agent as a non-root user.
		if err := os.Chmod(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		burrowBin = filepath.Join(dir, "burrow")
		targetsrvBin = filepath.Join(dir, "targetsrv")
		targetsrvBuildErr = goBuild(targetsrvBin, "./testdata/targetsrv", false)
		burrowBuildErr = goBuild(burrowBin, "github.com/burrow-dev/burrow/cmd/burrow", os.Getenv("BURROW_E2E_RACE") != "")
	}
	return m.Run()
}

// prerequisites returns why this machine cannot run the test, or "".
func prerequisites() string {
	if os.Geteuid() != 0 {
		return fmt.Sprintf("e2e: needs root to create network namespaces (euid is %d); run with sudo", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "e2e: needs the ip(8) tool (iproute2) to create network namespaces: " + err.Error()
	}
	return ""
}

// sshTools are the programs TestSSH drives besides burrow. On Debian:
// apt-get install openssh-client rsync tmux (setpriv, useradd and userdel
// are in the base system).
var sshTools = []string{"ssh", "scp", "sftp", "ssh-keygen", "ssh-agent", "ssh-add", "rsync", "tmux", "setpriv", "useradd", "userdel"}

// missingSSHTools returns why TestSSH cannot run, or "".
func missingSSHTools() string {
	var missing []string
	for _, tool := range sshTools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("e2e: the SSH tests need %s, which are not installed (Debian: apt-get install openssh-client rsync tmux)", strings.Join(missing, ", "))
}

func goBuild(out, pkg string, race bool) error {
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v: %v\n%s", cmd.Args[1:], err, b)
	}
	return nil
}

// requireEnv skips t when the machine cannot run the test and fails it
// when targetsrv did not build.
func requireEnv(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if targetsrvBuildErr != nil {
		t.Fatalf("build targetsrv: %v", targetsrvBuildErr)
	}
}

// requireBurrow is requireEnv that also fails t when burrow did not build.
func requireBurrow(t *testing.T) {
	t.Helper()
	requireEnv(t)
	if burrowBuildErr != nil {
		t.Fatalf("build burrow: %v", burrowBuildErr)
	}
}

// requireSSHTools is requireBurrow that also needs sshTools: without them
// it skips t, or fails it under CI, which must install them (.ci/run).
func requireSSHTools(t *testing.T) {
	t.Helper()
	requireBurrow(t)
	if why := missingSSHTools(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
}
