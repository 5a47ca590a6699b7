//go:build e2e && linux

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	cliTimeout      = 30 * time.Second // one short CLI command
	procStopTimeout = 15 * time.Second // a process to exit after a signal
	procWaitDelay   = 5 * time.Second  // output copying after exit
	logTail         = 32 << 10         // bytes of a process's output logged on failure
)

// syncBuffer is a bytes.Buffer safe for a writer and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// proc is a long-running process inside a namespace.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{} // closed when the process has exited
	err            error         // Wait's result, set before done closes
}

// procs owns every long-running process of a test: Cleanup kills them and,
// when the test failed, logs their output.
type procs struct {
	t    *testing.T
	env  []string
	mu   sync.Mutex
	list []*proc
}

func newProcs(t *testing.T, env []string) *procs {
	ps := &procs{t: t, env: env}
	t.Cleanup(ps.cleanup)
	return ps
}

// start runs bin args... inside ns. stdin may be nil.
func (ps *procs) start(t *testing.T, ns netns, name string, stdin io.Reader, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = nsCommand(ns, ps.env, bin, args...)
	p.cmd.Stdin = stdin
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

func (ps *procs) cleanup() {
	ps.mu.Lock()
	list := ps.list
	ps.mu.Unlock()
	for _, p := range list {
		p.kill()
	}
	for _, p := range list {
		select {
		case <-p.done:
		case <-time.After(procStopTimeout):
			ps.t.Logf("%s: did not exit after SIGKILL", p.name)
		}
	}
	if !ps.t.Failed() && os.Getenv("BURROW_E2E_VERBOSE") == "" {
		return
	}
	for _, p := range list {
		ps.t.Logf("=== %s: %s\n--- exit: %v\n--- stdout:\n%s\n--- stderr:\n%s", p.name, p.cmdline(), p.exitErr(), tail(p.stdout.String()), tail(p.stderr.String()))
	}
}

func (p *proc) cmdline() string { return strings.Join(p.cmd.Args, " ") }

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exitErr is Wait's error, or "running".
func (p *proc) exitErr() any {
	if p.running() {
		return "still running"
	}
	if p.err == nil {
		return "status 0"
	}
	return p.err
}

func (p *proc) kill() {
	if p.running() {
		_ = p.cmd.Process.Kill()
	}
}

// stop sends sig and waits for the process to exit; it returns Wait's
// error.
func (p *proc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if p.running() {
		if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatalf("%s: signal %v: %v", p.name, sig, err)
		}
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(procStopTimeout):
		t.Fatalf("%s did not exit within %v of %v", p.name, procStopTimeout, sig)
		return nil
	}
}

// output is the process's stdout and stderr.
func (p *proc) output() string { return p.stdout.String() + p.stderr.String() }

// nsCommand is bin args... run inside ns with env. The process dies with
// the test binary, even when go test's timeout kills it.
func nsCommand(ns netns, env []string, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.name, bin}, args...)...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = procWaitDelay
	return cmd
}

// result is the outcome of a short command.
type result struct {
	cmdline        string
	stdout, stderr string
	err            error
	exitCode       int
}

func (r result) String() string {
	return fmt.Sprintf("%s: %v\n--- stdout:\n%s--- stderr:\n%s", r.cmdline, r.err, tail(r.stdout), tail(r.stderr))
}

// run runs a short command inside ns and returns its outcome, whatever it
// is.
func run(ns netns, env []string, stdin io.Reader, bin string, args ...string) result {
	return runTimeout(ns, env, stdin, cliTimeout, bin, args...)
}

// runTimeout is run that kills the command after timeout instead of
// cliTimeout.
func runTimeout(ns netns, env []string, stdin io.Reader, timeout time.Duration, bin string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := nsCommand(ns, env, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin = stdin
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Start()
	if err == nil {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			err = fmt.Errorf("killed after %v", timeout)
		}
	}
	r := result{cmdline: strings.Join(append([]string{filepath.Base(bin)}, args...), " "), stdout: stdout.String(), stderr: stderr.String(), err: err, exitCode: -1}
	if cmd.ProcessState != nil {
		r.exitCode = cmd.ProcessState.ExitCode()
	}
	return r
}

func tail(s string) string {
	if len(s) > logTail {
		return "[...]" + s[len(s)-logTail:]
	}
	return s
}
