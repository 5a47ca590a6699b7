package main

// The SSH section's helpers: timing whole commands (`ssh TARGET true`, scp),
// keystroke echo latency through a terminal, and the 1 GiB test file.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/term"
)

// ---------------------------------------------------------------- cmdtime

type cmdResult struct {
	Cmd        string  `json:"cmd"`
	N          int     `json:"n"`
	OK         int     `json:"ok"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	P50ms      float64 `json:"p50_ms"`
	P90ms      float64 `json:"p90_ms"`
	MeanMs     float64 `json:"mean_ms"`
	MinMs      float64 `json:"min_ms"`
	MaxMs      float64 `json:"max_ms"`
	// Bytes is what one run moves (-bytes); MBps is Bytes over the median
	// wall time, in 10^6 bytes per second.
	Bytes int64   `json:"bytes,omitempty"`
	MBps  float64 `json:"mb_per_s,omitempty"`
}

// cmdSep separates the commands of cmdtime and echolat.
const cmdSep = "---"

// splitCommands splits args at cmdSep into non-empty commands.
func splitCommands(args []string) ([][]string, error) {
	var cmds [][]string
	cur := []string{}
	for _, a := range append(args, cmdSep) {
		if a != cmdSep {
			cur = append(cur, a)
			continue
		}
		if len(cur) == 0 {
			return nil, errors.New("empty command")
		}
		cmds = append(cmds, cur)
		cur = []string{}
	}
	return cmds, nil
}

// runCmdTime runs one or more commands N times each, stdin from
// /dev/null, and reports the wall time of each run from fork to exit. With
// several commands the runs take turns (A B C A B C ...), so that load from
// elsewhere on the machine hits all of them alike. A run fails if it exits
// non-zero or outlives -timeout; stdout is discarded. It prints one JSON
// line per command, in order.
func runCmdTime(args []string) error {
	fs := flag.NewFlagSet("cmdtime", flag.ContinueOnError)
	n := fs.Int("n", 30, "measured runs of each command")
	warmup := fs.Int("warmup", 2, "unmeasured runs of each command first")
	timeout := fs.Duration("timeout", 60*time.Second, "limit for one run")
	size := fs.Int64("bytes", 0, "bytes one run transfers (adds mb_per_s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cmds, err := splitCommands(fs.Args())
	if err != nil || *n <= 0 || *warmup < 0 {
		return errors.New("usage: burrow-bench cmdtime [-n N] [-warmup W] [-timeout D] [-bytes B] -- CMD [ARG...] [--- CMD [ARG...]]...")
	}
	res := make([]cmdResult, len(cmds))
	samples := make([][]time.Duration, len(cmds))
	for i := range cmds {
		res[i] = cmdResult{Cmd: strings.Join(cmds[i], " "), N: *n, Bytes: *size}
	}
	for round := 0; round < *warmup+*n; round++ {
		for i, argv := range cmds {
			d, err := timeOnce(argv, *timeout)
			if round < *warmup {
				continue
			}
			if err != nil {
				res[i].Errors++
				if res[i].FirstError == "" {
					res[i].FirstError = fmt.Sprintf("run %d: %v", round-*warmup+1, err)
				}
				continue
			}
			res[i].OK++
			samples[i] = append(samples[i], d)
		}
	}
	var failed []string
	for i := range res {
		res[i].fill(samples[i])
		if err := printJSON(res[i]); err != nil {
			return err
		}
		if res[i].Errors > 0 {
			failed = append(failed, fmt.Sprintf("%s: %d of %d runs failed (first: %s)", cmds[i][0], res[i].Errors, res[i].N, res[i].FirstError))
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// fill sets the statistics from the successful runs' wall times.
func (r *cmdResult) fill(samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	st := summarize(samples)
	r.P50ms, r.P90ms, r.MeanMs = st.p50/1e3, st.p90/1e3, st.mean/1e3
	r.MinMs, r.MaxMs = st.min/1e3, st.max/1e3
	if r.Bytes > 0 && st.p50 > 0 {
		r.MBps = float64(r.Bytes) / (st.p50 / 1e6) / 1e6
	}
}

// timeOnce runs argv once and returns its wall time; on failure the error
// carries the tail of its stderr.
func timeOnce(argv []string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr tailBuffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second // a ProxyCommand holding stderr open must not hang us
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %s", timeout)
		}
		return d, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return d, nil
}

// tailBuffer keeps the last 300 bytes written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 300 {
		t.b = t.b[len(t.b)-300:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.ReplaceAll(string(t.b), "\n", " ") }

// ---------------------------------------------------------------- echolat

type echoResult struct {
	Cmd     string  `json:"cmd"`
	N       int     `json:"n"`
	GapMs   float64 `json:"gap_ms"`
	P50us   float64 `json:"p50_us"`
	P90us   float64 `json:"p90_us"`
	P99us   float64 `json:"p99_us"`
	MeanUs  float64 `json:"mean_us"`
	MinUs   float64 `json:"min_us"`
	MaxUs   float64 `json:"max_us"`
	SetupMs float64 `json:"setup_ms"`
	// Error says why this command has no (or too few) samples.
	Error string `json:"error,omitempty"`
}

// runEchoLat starts each command on a terminal of its own, waits until
// each has printed the -ready marker, then types one byte at a time and
// times how long the byte takes to come back. The commands are expected to
// echo what they read (e.g. ssh -tt HOST 'stty raw -echo; echo READY; exec
// cat'), as a shell's line editor does. With several commands the
// keystrokes take turns (A B C A B C ...), one at a time, so that load from
// elsewhere on the machine hits all of them alike. The pause after every
// keystroke lets the processes that handled it go idle: with pauses of a
// few ms, one session's leftover work was seen to add ~2 ms to the next
// session's echo on 2 CPUs. It prints one JSON line per command, in order.
func runEchoLat(args []string) error {
	fs := flag.NewFlagSet("echolat", flag.ContinueOnError)
	n := fs.Int("n", 500, "measured keystrokes per command")
	warmup := fs.Int("warmup", 20, "unmeasured keystrokes per command first")
	gap := fs.Duration("gap", 10*time.Millisecond, "pause after each keystroke, whichever command it went to")
	ready := fs.String("ready", "READY", "marker a command prints once it echoes")
	timeout := fs.Duration("timeout", 30*time.Second, "limit for start-up, and for each echo")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cmds, err := splitCommands(fs.Args())
	if err != nil || *n <= 0 || *warmup < 0 || *ready == "" {
		return errors.New("usage: burrow-bench echolat [-n N] [-gap D] [-ready MARKER] -- CMD [ARG...] [--- CMD [ARG...]]...")
	}
	res := make([]echoResult, len(cmds))
	for i, argv := range cmds {
		res[i] = echoResult{Cmd: strings.Join(argv, " "), N: *n, GapMs: float64(*gap) / 1e6}
	}
	terms := startTerminals(cmds, []byte(*ready), *timeout, res)
	defer func() {
		for _, t := range terms {
			if t != nil {
				t.close()
			}
		}
	}()
	samples := typeInTurns(terms, *warmup, *n, *gap, *timeout, res)
	var failed []string
	for i := range res {
		if res[i].Error == "" {
			st := summarize(samples[i])
			res[i].P50us, res[i].P90us, res[i].P99us = st.p50, st.p90, st.p99
			res[i].MeanUs, res[i].MinUs, res[i].MaxUs = st.mean, st.min, st.max
		} else {
			failed = append(failed, cmds[i][0]+": "+res[i].Error)
		}
		if err := printJSON(res[i]); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// startTerminals starts every command and waits for its ready marker;
// a command that fails gets its res[i].Error set (its terminal, if any,
// is still returned, to be closed).
func startTerminals(cmds [][]string, ready []byte, timeout time.Duration, res []echoResult) []*terminal {
	terms := make([]*terminal, len(cmds))
	for i, argv := range cmds {
		t0 := time.Now()
		t, err := startOnTerminal(argv)
		if err == nil {
			terms[i] = t
			err = t.waitFor(ready, timeout)
		}
		if err != nil {
			res[i].Error = err.Error()
			continue
		}
		res[i].SetupMs = float64(time.Since(t0)) / 1e6
	}
	return terms
}

// typeInTurns types warmup+n keystrokes into each healthy terminal, one
// terminal after the other, and returns the measured echo times.
func typeInTurns(terms []*terminal, warmup, n int, gap, timeout time.Duration, res []echoResult) [][]time.Duration {
	samples := make([][]time.Duration, len(terms))
	for k := 0; k < warmup+n; k++ {
		for i, t := range terms {
			if res[i].Error != "" {
				continue
			}
			d, err := t.echo(byte('a'+k%26), timeout)
			if err != nil {
				res[i].Error = fmt.Sprintf("keystroke %d: %v", k, err)
				continue
			}
			if k >= warmup {
				samples[i] = append(samples[i], d)
			}
			time.Sleep(gap)
		}
	}
	return samples
}

// terminal is a command running on a pty whose output arrives on out.
type terminal struct {
	cmd  *exec.Cmd
	ptmx *os.File
	out  chan []byte
	seen []byte // output so far, for error messages
}

// startOnTerminal runs argv as a session leader on a new pty in raw mode,
// so that nothing on our side echoes or translates bytes.
func startOnTerminal(argv []string) (*terminal, error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		ptmx.Close()
		return nil, err
	}
	if _, err := term.MakeRaw(int(tty.Fd())); err != nil {
		ptmx.Close()
		return nil, fmt.Errorf("raw mode: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		ptmx.Close()
		return nil, err
	}
	t := &terminal{cmd: cmd, ptmx: ptmx, out: make(chan []byte, 64)}
	go t.readLoop()
	return t, nil
}

func (t *terminal) readLoop() {
	defer close(t.out)
	for {
		buf := make([]byte, 4096)
		n, err := t.ptmx.Read(buf)
		if n > 0 {
			t.out <- buf[:n]
		}
		if err != nil {
			return
		}
	}
}

// waitFor reads output until it contains marker.
func (t *terminal) waitFor(marker []byte, timeout time.Duration) error {
	deadline := time.After(timeout)
	for !bytes.Contains(t.seen, marker) {
		select {
		case b, ok := <-t.out:
			if !ok {
				return fmt.Errorf("command ended before printing %q; its output: %q", marker, t.tail())
			}
			t.seen = append(t.seen, b...)
		case <-deadline:
			return fmt.Errorf("no %q after %s; output so far: %q", marker, timeout, t.tail())
		}
	}
	return nil
}

// echo types c and returns how long it took to see c come back. Other
// output is skipped.
func (t *terminal) echo(c byte, timeout time.Duration) (time.Duration, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	t0 := time.Now()
	if _, err := t.ptmx.Write([]byte{c}); err != nil {
		return 0, err
	}
	for {
		select {
		case b, ok := <-t.out:
			if !ok {
				return 0, fmt.Errorf("command ended; its output: %q", t.tail())
			}
			t.seen = append(t.seen, b...)
			if bytes.IndexByte(b, c) >= 0 {
				return time.Since(t0), nil
			}
		case <-deadline.C:
			return 0, fmt.Errorf("no echo of %q after %s; output so far: %q", c, timeout, t.tail())
		}
	}
}

func (t *terminal) tail() []byte {
	if len(t.seen) > 300 {
		return t.seen[len(t.seen)-300:]
	}
	return t.seen
}

// close hangs up: SIGHUP to the command's process group, as the kernel
// would send when a terminal goes away (closing ptmx does not do it while
// readLoop's blocking read holds the descriptor), then SIGKILL if it
// lingers. Once the command is gone the read ends and ptmx closes.
func (t *terminal) close() {
	done := make(chan struct{})
	go func() { t.cmd.Wait(); close(done) }()
	syscall.Kill(-t.cmd.Process.Pid, syscall.SIGHUP)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	t.ptmx.Close()
}

// ---------------------------------------------------------------- files

// runRandFile writes -size bytes of pseudo-random (incompressible) data
// and prints its SHA-256.
func runRandFile(args []string) error {
	fs := flag.NewFlagSet("randfile", flag.ContinueOnError)
	size := fs.Int64("size", 1<<30, "bytes")
	out := fs.String("out", "", "file to write (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *size < 0 {
		return errors.New("usage: burrow-bench randfile -size BYTES -out FILE")
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{'b', 'u', 'r', 'r', 'o', 'w'})
	if _, err := io.CopyBuffer(io.MultiWriter(f, h), io.LimitReader(src, *size), make([]byte, 1<<20)); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Println(hex.EncodeToString(h.Sum(nil)))
	return nil
}

// runSHA256 prints the SHA-256 of a file (faster than sha256sum where the
// CPU has SHA extensions).
func runSHA256(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: burrow-bench sha256 FILE")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return err
	}
	fmt.Println(hex.EncodeToString(h.Sum(nil)))
	return nil
}
