//go:build e2e && linux

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDev runs `burrow dev` as the README's newcomer does, in a namespace
// of its own (loopback only): the machine shows up as an online target,
// `burrow ssh` runs a command on it and `burrow cp` moves 32 MiB both ways
// intact (its agent reaches the controller in-process), a second one on the
// same data dir is refused, Ctrl-C stops it cleanly, and a new start reuses
// the data dir without another join.
func TestDev(t *testing.T) {
	topo := newTopology(t)
	c := newCluster(t, topo)
	ns := topo.ctl
	data := filepath.Join(c.dir, "dev")
	start := func() *proc {
		return c.procs.start(t, ns, "dev", nil, burrowBin, "dev", "--data-dir", data, "--name", "devbox")
	}
	devRun := func(args ...string) result { return run(ns, c.env, nil, burrowBin, args...) }
	waitOnline := func(dev *proc) {
		t.Helper()
		eventually(t, agentOnlineTimeout, "devbox online", func() error {
			if !dev.running() {
				t.Fatalf("burrow dev exited: %v\n%s", dev.exitErr(), dev.output())
			}
			if r := devRun("targets"); r.err != nil || !strings.Contains(r.stdout, "devbox") || !strings.Contains(r.stdout, "online") {
				return fmt.Errorf("%v", r)
			}
			return nil
		})
	}
	dev := start()
	waitOnline(dev)
	if out := dev.stdout.String(); !strings.Contains(out, `this machine is target "devbox"`) || !strings.Contains(out, "burrow ssh devbox") {
		t.Errorf("burrow dev did not print the next commands:\n%s", out)
	}

	// A second burrow dev on the same data dir is refused before it
	// touches anything: the dev context still leads to the first.
	if r := devRun("dev", "--data-dir", data, "--name", "devbox", "--listen", "127.0.0.1:18444"); r.exitCode != 1 || !strings.Contains(r.stderr, "is in use by burrow dev, pid ") {
		t.Errorf("a second burrow dev on the same data dir: want exit 1 saying it is in use, got %v", r)
	}
	if r := devRun("targets"); r.err != nil {
		t.Errorf("the dev context after a refused second burrow dev: %v", r)
	}
	if r := devRun("ssh", "devbox", "--", "echo $((6*7)); exit 3"); r.exitCode != 3 || r.stdout != "42\n" {
		t.Errorf("burrow ssh devbox: want 42 and exit 3, got %v", r)
	}
	src := filepath.Join(c.dir, "src.bin")
	payload := randomBytes("dev", 32<<20)
	if err := os.WriteFile(src, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	remote := filepath.Join(c.dir, "remote.bin")
	back := filepath.Join(c.dir, "back.bin")
	for _, args := range [][]string{{"cp", src, "devbox:" + remote}, {"cp", "devbox:" + remote, back}} {
		if r := devRun(args...); r.err != nil {
			t.Fatalf("%v", r)
		}
	}
	if got, err := os.ReadFile(back); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("32 MiB through burrow cp up and down came back different (%d bytes, %v)", len(got), err)
	}

	if err := dev.stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("burrow dev after Ctrl-C: %v\n%s", err, dev.output())
	}
	if out := dev.output(); strings.Contains(out, "level=ERROR") || strings.Contains(out, "panic") {
		t.Errorf("burrow dev logged errors:\n%s", out)
	}
	again := start() // its join token was used up: the agent's saved credential must do
	waitOnline(again)
	if r := devRun("ssh", "devbox", "--", "true"); r.err != nil {
		t.Errorf("burrow ssh after a restart of burrow dev: %v", r)
	}
	if err := again.stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("second burrow dev after Ctrl-C: %v\n%s", err, again.output())
	}
}
