// Package main is burrow-bench: the helper program behind scripts/bench.sh.
//
// Command burrow-bench provides the small measurement tools that the
// port-forwarding benchmark needs, so that the shell script stays short:
//
//	burrow-bench echo     -listen ADDR                 TCP echo server (the target)
//	burrow-bench rtt      -addr ADDR -n N [-size B]    ping-pong RTT over one connection
//	burrow-bench conns    -addr ADDR -n N -c C         new connections/s (dial, 1-byte echo, close)
//	burrow-bench freeport [-n K]                       print K currently free loopback TCP ports
//	burrow-bench waitport -addr ADDR [-timeout D]      wait until ADDR accepts connections
//	burrow-bench cputime  PID...                       CPU seconds of the process trees rooted at PIDs
//	burrow-bench report   -dir DIR [-out FILE]         render the markdown result table
//	burrow-bench pick-target < targets.json            first online target of `burrow targets -o json`
//	burrow-bench cmdtime  [-n N] -- CMD... [--- CMD...]  wall time of N runs of commands (ssh HOST true, scp)
//	burrow-bench echolat  [-n N] -- CMD... [--- CMD...]  keystroke echo latency through ptys (ssh -tt HOST cat)
//	burrow-bench randfile -size B -out FILE            write a pseudo-random file, print its SHA-256
//	burrow-bench sha256   FILE                         print a file's SHA-256
//	burrow-bench relay    -hop FROM=TO...              bare TCP/TLS relay (the floor columns)
//
// The measuring subcommands print exactly one JSON line on stdout; cmdtime
// and echolat print one per command, the commands taking turns.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "echo":
		err = runEcho(args)
	case "rtt":
		err = runRTT(args)
	case "conns":
		err = runConns(args)
	case "freeport":
		err = runFreePort(args)
	case "waitport":
		err = runWaitPort(args)
	case "cputime":
		err = runCPUTime(args)
	case "report":
		err = runReport(args)
	case "pick-target":
		err = runPickTarget(args)
	case "cmdtime":
		err = runCmdTime(args)
	case "echolat":
		err = runEchoLat(args)
	case "randfile":
		err = runRandFile(args)
	case "sha256":
		err = runSHA256(args)
	case "relay":
		err = runRelay(args)
	case "-h", "-help", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "burrow-bench: unknown subcommand %q\n", cmd)
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "burrow-bench %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: burrow-bench SUBCOMMAND [flags]

  echo     -listen ADDR                    TCP echo server
  rtt      -addr ADDR [-n N] [-size B] [-gap D]
                                           ping-pong RTT over one connection (JSON)
  conns    -addr ADDR [-n N] [-c C]        connections/s: dial, 1-byte echo, close (JSON)
  freeport [-n K]                          print K free 127.0.0.1 TCP ports
  waitport -addr ADDR [-timeout D]         wait until ADDR accepts a connection
  cputime  PID...                          CPU seconds of the process trees rooted at PIDs (JSON)
  report   -dir DIR [-out FILE]            render bench results as markdown
  pick-target [-any] < targets.json        print the first online target name from
                                           'burrow targets -o json' (exit 1 if none)
  cmdtime  [-n N] [-warmup W] [-bytes B] -- CMD... [--- CMD...]
                                           wall time of N runs of each CMD, taking
                                           turns, p50/p90 (one JSON line each)
  echolat  [-n N] [-gap D] [-ready M] -- CMD... [--- CMD...]
                                           run each CMD on a pty, wait for M, then
                                           time one-byte keystroke echoes, taking
                                           turns (one JSON line each)
  randfile -size BYTES -out FILE           write pseudo-random data, print its SHA-256
  sha256   FILE                            print a file's SHA-256
  relay    -hop FROM=TO [-hop ...]         forward FROM to TO and nothing else; each is
                                           tcp://HOST:PORT or tls://HOST:PORT (the floor
                                           columns of the port-forward section)
`)
}

func printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%s\n", b)
	return err
}

// ---------------------------------------------------------------- echo

func runEcho(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "burrow-bench echo: listening on %s\n", ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		ln.Close()
	}()

	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Transient accept errors (e.g. EMFILE): back off briefly.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			buf := make([]byte, 32<<10)
			_, _ = io.CopyBuffer(c, c, buf)
		}(c)
	}
}

// ---------------------------------------------------------------- rtt

type rttResult struct {
	Addr    string  `json:"addr"`
	N       int     `json:"n"`
	Size    int     `json:"size"`
	P50us   float64 `json:"p50_us"`
	P90us   float64 `json:"p90_us"`
	P99us   float64 `json:"p99_us"`
	MeanUs  float64 `json:"mean_us"`
	MinUs   float64 `json:"min_us"`
	MaxUs   float64 `json:"max_us"`
	Elapsed float64 `json:"elapsed_s"`
}

func runRTT(args []string) error {
	fs := flag.NewFlagSet("rtt", flag.ContinueOnError)
	addr := fs.String("addr", "", "echo server address (required)")
	n := fs.Int("n", 20000, "measured round trips")
	size := fs.Int("size", 64, "message size in bytes")
	warmup := fs.Int("warmup", 500, "unmeasured round trips before measuring")
	timeout := fs.Duration("timeout", 10*time.Second, "per-round-trip timeout")
	gap := fs.Duration("gap", 0, "pause between round trips (0: back to back)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" || *n <= 0 || *size <= 0 {
		return errors.New("-addr is required; -n and -size must be > 0")
	}
	c, err := net.DialTimeout("tcp", *addr, *timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	out := make([]byte, *size)
	for i := range out {
		out[i] = byte(i)
	}
	in := make([]byte, *size)
	samples := make([]time.Duration, 0, *n)
	start := time.Now()
	for i := 0; i < *warmup+*n; i++ {
		out[0] = byte(i)
		_ = c.SetDeadline(time.Now().Add(*timeout))
		t0 := time.Now()
		if _, err := c.Write(out); err != nil {
			return fmt.Errorf("round trip %d: write: %w", i, err)
		}
		if _, err := io.ReadFull(c, in); err != nil {
			return fmt.Errorf("round trip %d: read: %w", i, err)
		}
		d := time.Since(t0)
		if in[0] != out[0] {
			return fmt.Errorf("round trip %d: echo mismatch", i)
		}
		if i == *warmup {
			start = t0
		}
		if i >= *warmup {
			samples = append(samples, d)
		}
		if *gap > 0 {
			time.Sleep(*gap)
		}
	}
	elapsed := time.Since(start)
	st := summarize(samples)
	return printJSON(rttResult{
		Addr: *addr, N: *n, Size: *size,
		P50us: st.p50, P90us: st.p90, P99us: st.p99, MeanUs: st.mean, MinUs: st.min, MaxUs: st.max,
		Elapsed: elapsed.Seconds(),
	})
}

type stats struct{ p50, p90, p99, mean, min, max float64 }

// summarize returns latency statistics in microseconds.
func summarize(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	s := make([]time.Duration, len(ds))
	copy(s, ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	return stats{
		p50:  us(percentile(s, 50)),
		p90:  us(percentile(s, 90)),
		p99:  us(percentile(s, 99)),
		mean: us(sum / time.Duration(len(s))),
		min:  us(s[0]),
		max:  us(s[len(s)-1]),
	}
}

// percentile uses the nearest-rank method on an ascending slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999999) - 1
	if rank < 0 {
		rank = 0
	}
	if rank >= len(sorted) {
		rank = len(sorted) - 1
	}
	return sorted[rank]
}

// ---------------------------------------------------------------- conns

type connsResult struct {
	Addr        string  `json:"addr"`
	N           int     `json:"n"`
	Concurrency int     `json:"concurrency"`
	OK          int64   `json:"ok"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	ConnsPerSec float64 `json:"conns_per_sec"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	Elapsed     float64 `json:"elapsed_s"`
}

func runConns(args []string) error {
	fs := flag.NewFlagSet("conns", flag.ContinueOnError)
	addr := fs.String("addr", "", "echo server address (required)")
	n := fs.Int("n", 3000, "total connections")
	conc := fs.Int("c", 8, "concurrent workers")
	timeout := fs.Duration("timeout", 10*time.Second, "per-connection timeout")
	maxErr := fs.Int("max-errors", 0, "exit non-zero if more than this many connections fail (-1: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" || *n <= 0 || *conc <= 0 {
		return errors.New("-addr is required; -n and -c must be > 0")
	}

	one := func() (time.Duration, error) {
		t0 := time.Now()
		c, err := net.DialTimeout("tcp", *addr, *timeout)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		_ = c.SetDeadline(t0.Add(*timeout))
		if _, err := c.Write([]byte{'x'}); err != nil {
			return 0, fmt.Errorf("write: %w", err)
		}
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return 0, fmt.Errorf("read: %w", err)
		}
		if b[0] != 'x' {
			return 0, errors.New("echo mismatch")
		}
		return time.Since(t0), nil
	}

	var (
		next     atomic.Int64
		okN      atomic.Int64
		errN     atomic.Int64
		firstErr atomic.Value
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, *n)
		wg       sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, *n / *conc + 1)
			for next.Add(1) <= int64(*n) {
				d, err := one()
				if err != nil {
					errN.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				okN.Add(1)
				local = append(local, d)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	st := summarize(lat)
	res := connsResult{
		Addr: *addr, N: *n, Concurrency: *conc,
		OK: okN.Load(), Errors: errN.Load(),
		ConnsPerSec: float64(okN.Load()) / elapsed.Seconds(),
		P50us:       st.p50, P99us: st.p99,
		Elapsed: elapsed.Seconds(),
	}
	if fe, ok := firstErr.Load().(string); ok {
		res.FirstError = fe
	}
	if err := printJSON(res); err != nil {
		return err
	}
	if *maxErr >= 0 && res.Errors > int64(*maxErr) {
		return fmt.Errorf("%d of %d connections failed (first: %s)", res.Errors, *n, res.FirstError)
	}
	return nil
}

// ---------------------------------------------------------------- ports

func runFreePort(args []string) error {
	fs := flag.NewFlagSet("freeport", flag.ContinueOnError)
	n := fs.Int("n", 1, "number of ports")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Hold all listeners open until every port is chosen so the ports are distinct.
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []string
	for i := 0; i < *n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(ports, " "))
	return nil
}

func runWaitPort(args []string) error {
	fs := flag.NewFlagSet("waitport", flag.ContinueOnError)
	addr := fs.String("addr", "", "address to wait for (required)")
	timeout := fs.Duration("timeout", 20*time.Second, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" {
		return errors.New("-addr is required")
	}
	deadline := time.Now().Add(*timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", *addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not accepting connections after %s: %v", *addr, *timeout, lastErr)
}

// ---------------------------------------------------------------- pick-target

func runPickTarget(args []string) error {
	fs := flag.NewFlagSet("pick-target", flag.ContinueOnError)
	anyState := fs.Bool("any", false, "accept targets that are not online")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	var ts []struct {
		Name   string `json:"name"`
		Online bool   `json:"online"`
	}
	if err := json.Unmarshal(b, &ts); err != nil {
		return fmt.Errorf("parsing targets JSON: %w (input: %.200q)", err, b)
	}
	for _, t := range ts {
		if t.Name != "" && (t.Online || *anyState) {
			fmt.Println(t.Name)
			return nil
		}
	}
	return fmt.Errorf("no online target among %d", len(ts))
}
