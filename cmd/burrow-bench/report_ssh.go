package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The SSH section of the results directory written by scripts/bench.sh:
//
//	DIR/ssh/meta.txt           lines shown above the SSH table
//	DIR/ssh/shell.json         cmdtime of the remote login shell alone (for scale)
//	DIR/ssh/<col>/label        column heading
//	DIR/ssh/<col>/status       "ok", or why the column was not measured
//	DIR/ssh/<col>/errors       problems shown under the table
//	DIR/ssh/<col>/cipher       negotiated cipher and key exchange
//	DIR/ssh/<col>/true.json    cmdtime of `ssh TARGET true`
//	DIR/ssh/<col>/true-c25519.json
//	                           the same with -o KexAlgorithms=curve25519-sha256
//	DIR/ssh/<col>/up.rN.json, down.rN.json, up-aes.rN.json
//	                           cmdtime -bytes of one upload/download in
//	                           round N; the best round is shown
//	DIR/ssh/<col>/echo.json    echolat
//
// The first column is the baseline the others are divided by. The
// reference columns are not held to the goals; the OpenSSH-via-burrow
// column is also divided by each of them:
//   - proxy-nc is OpenSSH with `ProxyCommand nc` to the same sshd: the one
//     process a ProxyCommand adds, with no TLS and no relay. No design
//     reached through a ProxyCommand beats it on the same machine.
//   - floor-tls is OpenSSH through a bare TLS relay along burrow's hops to
//     the same sshd (no floor: the sshd is one process more than burrow's
//     path has).
var sshColumns = []string{"direct", proxyNC, floorTLS, "openssh-burrow", "burrow-cli"}

// proxyNC is the ProxyCommand nc reference column.
const proxyNC = "proxy-nc"

// sshReference reports whether column id is a reference.
func sshReference(id string) bool { return id == proxyNC || id == floorTLS }

type sshCol struct {
	id, label, status, cipher string
	exec, exec25519, up, down *cmdResult
	upAES                     *cmdResult
	echo                      *echoResult
	notes                     []string
	// reference marks a column shown for comparison, not held to the goals.
	reference bool
}

func loadSSHCol(dir, id string) *sshCol {
	c := &sshCol{id: id, label: id}
	d := filepath.Join(dir, id)
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(d, name))
		return strings.TrimSpace(string(b))
	}
	if l := read("label"); l != "" {
		c.label = l
	}
	if c.status = read("status"); c.status == "" {
		c.status = "not run"
		return c
	}
	c.cipher = read("cipher")
	for _, l := range strings.Split(read("errors"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			c.notes = append(c.notes, l)
		}
	}
	c.exec = c.loadCmd(d, "true")
	c.exec25519 = c.loadCmd(d, "true-c25519")
	c.up = c.loadCmd(d, "up")
	c.down = c.loadCmd(d, "down")
	c.upAES = c.loadCmd(d, "up-aes")
	var e echoResult
	if readJSON(filepath.Join(d, "echo.json"), &e) == nil {
		if e.Error != "" {
			c.notes = append(c.notes, "echo: "+e.Error)
		} else if e.N > 0 {
			c.echo = &e
		}
	}
	return c
}

// loadCmd returns the cmdtime result DIR/NAME.json, or the best of the
// rounds DIR/NAME.rN.json (highest throughput, else lowest median), noting
// failed runs. It returns nil if no run succeeded.
func (c *sshCol) loadCmd(dir, name string) *cmdResult {
	files, _ := filepath.Glob(filepath.Join(dir, name+".r*.json"))
	files = append(files, filepath.Join(dir, name+".json"))
	var best *cmdResult
	for _, f := range files {
		var r cmdResult
		if readJSON(f, &r) != nil {
			continue
		}
		if r.Errors > 0 {
			c.notes = append(c.notes, fmt.Sprintf("%s: %d of %d runs failed (first: %s)", strings.TrimSuffix(filepath.Base(f), ".json"), r.Errors, r.N, r.FirstError))
		}
		if r.OK > 0 && (best == nil || r.better(best)) {
			best = &r
		}
	}
	return best
}

func (r *cmdResult) better(o *cmdResult) bool {
	if r.MBps > 0 || o.MBps > 0 {
		return r.MBps > o.MBps
	}
	return r.P50ms < o.P50ms
}

// sshMetric is one row; val reports false when there is nothing to show.
type sshMetric struct {
	name   string
	format string
	val    func(*sshCol) (float64, bool)
	// goal, if set, is the limit on subject/baseline; lower says whether
	// smaller ratios are better.
	goal  float64
	lower bool
}

func cmdVal(pick func(*sshCol) *cmdResult, f func(*cmdResult) float64) func(*sshCol) (float64, bool) {
	return func(c *sshCol) (float64, bool) {
		r := pick(c)
		if r == nil {
			return 0, false
		}
		return f(r), true
	}
}

func echoVal(f func(*echoResult) float64) func(*sshCol) (float64, bool) {
	return func(c *sshCol) (float64, bool) {
		if c.echo == nil {
			return 0, false
		}
		return f(c.echo), true
	}
}

var (
	pickExec  = func(c *sshCol) *cmdResult { return c.exec }
	pick25519 = func(c *sshCol) *cmdResult { return c.exec25519 }
	pickUp    = func(c *sshCol) *cmdResult { return c.up }
	pickDown  = func(c *sshCol) *cmdResult { return c.down }
	pickUpAES = func(c *sshCol) *cmdResult { return c.upAES }
	p50ms     = func(r *cmdResult) float64 { return r.P50ms }
	p90ms     = func(r *cmdResult) float64 { return r.P90ms }
	mbps      = func(r *cmdResult) float64 { return r.MBps }
)

func sshMetrics(size string) []sshMetric {
	return []sshMetric{
		{"`ssh TARGET true` p50 (ms)", "%.1f", cmdVal(pickExec, p50ms), 1.5, true},
		{"`ssh TARGET true` p90 (ms)", "%.1f", cmdVal(pickExec, p90ms), 1.5, true},
		{"`ssh TARGET true` p50, kex curve25519-sha256 (ms)", "%.1f", cmdVal(pick25519, p50ms), 1.5, true},
		{"upload " + size + ", default cipher (MB/s)", "%.0f", cmdVal(pickUp, mbps), 0.8, false},
		{"download " + size + ", default cipher (MB/s)", "%.0f", cmdVal(pickDown, mbps), 0.8, false},
		{"upload " + size + ", aes128-gcm (MB/s)", "%.0f", cmdVal(pickUpAES, mbps), 0.8, false},
		{"keystroke echo p50 (µs)", "%.0f", echoVal(func(e *echoResult) float64 { return e.P50us }), 1.5, true},
		{"keystroke echo p90 (µs)", "%.0f", echoVal(func(e *echoResult) float64 { return e.P90us }), 0, true},
		{"keystroke echo p99 (µs)", "%.0f", echoVal(func(e *echoResult) float64 { return e.P99us }), 0, true},
	}
}

// writeSSHReport appends the SSH section for DIR/ssh, if it was run.
func writeSSHReport(b *strings.Builder, dir string) {
	sd := filepath.Join(dir, "ssh")
	if _, err := os.Stat(sd); err != nil {
		return
	}
	var cols []*sshCol
	for _, id := range sshColumns {
		c := loadSSHCol(sd, id)
		if c.status == "not run" && sshReference(id) {
			continue // a results directory from before this reference
		}
		c.reference = sshReference(id)
		cols = append(cols, c)
	}
	meta, _ := os.ReadFile(filepath.Join(sd, "meta.txt"))
	size := "1 GiB"
	if !strings.HasSuffix(b.String(), "\n\n") {
		b.WriteString("\n")
	}
	b.WriteString("## SSH: OpenSSH to a local sshd vs through burrow\n\n")
	for _, l := range strings.Split(strings.TrimSpace(string(meta)), "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && k == "transfer size" {
			size = v
		}
		if l = strings.TrimSpace(l); l != "" {
			fmt.Fprintf(b, "- %s\n", l)
		}
	}
	ms := sshMetrics(size)
	writeMetricTable(b, cols, ms)
	writeCipherRow(b, "cipher, key exchange", cols)
	writeSSHRatios(b, cols, ms)
	writeFloorRatios(b, cols, ms)
	writeSSHNotes(b, sd, cols)
}

// writeCipherRow adds a row of what each column negotiated (its cipher
// file) to the metric table above it.
func writeCipherRow(b *strings.Builder, name string, cols []*sshCol) {
	fmt.Fprintf(b, "| %s |", name)
	for _, c := range cols {
		s := c.cipher
		if s == "" {
			s = na
		}
		fmt.Fprintf(b, " %s |", s)
	}
	b.WriteString("\n")
}

// writeSSHRatios divides every column by the first and marks the goals.
func writeSSHRatios(b *strings.Builder, cols []*sshCol, ms []sshMetric) {
	base := cols[0]
	fmt.Fprintf(b, "\n### Ratios to %s\n\n| ratio |", base.label)
	for _, c := range cols[1:] {
		fmt.Fprintf(b, " %s |", c.label)
	}
	b.WriteString(" goal |\n|---|")
	for range cols[1:] {
		b.WriteString("---:|")
	}
	b.WriteString("---|\n")
	for _, m := range ms {
		bv, bok := m.val(base)
		fmt.Fprintf(b, "| %s |", m.name)
		for _, c := range cols[1:] {
			v, ok := m.val(c)
			ok = ok && bok && base.status == "ok" && c.status == "ok"
			s := ratio(v, bv, ok, ok)
			if s != na && m.goal > 0 && !c.reference {
				s += goalMark(v/bv, m.goal, m.lower)
			}
			fmt.Fprintf(b, " %s |", s)
		}
		switch {
		case m.goal == 0:
			b.WriteString(" — |\n")
		case m.lower:
			fmt.Fprintf(b, " ≤ %.1f× |\n", m.goal)
		default:
			fmt.Fprintf(b, " ≥ %.1f× |\n", m.goal)
		}
	}
}

// writeFloorRatios divides the OpenSSH-via-burrow column by each reference
// column, for the transfers.
func writeFloorRatios(b *strings.Builder, cols []*sshCol, ms []sshMetric) {
	var subject *sshCol
	for _, c := range cols {
		if c.id == "openssh-burrow" {
			subject = c
		}
	}
	if subject == nil || subject.status != "ok" {
		return
	}
	for _, ref := range cols {
		if !ref.reference || ref.status != "ok" {
			continue
		}
		fmt.Fprintf(b, "\n### %s ÷ %s\n\n| ratio | value |\n|---|---:|\n", subject.label, ref.label)
		for _, m := range ms {
			if m.goal == 0 || m.lower { // the throughput rows
				continue
			}
			v, ok := m.val(subject)
			rv, rok := m.val(ref)
			fmt.Fprintf(b, "| %s | %s |\n", m.name, ratio(v, rv, ok && rok, ok && rok))
		}
	}
}

func goalMark(r, goal float64, lower bool) string {
	if (lower && r <= goal) || (!lower && r >= goal) {
		return " ✓"
	}
	return " ✗"
}

// shellOf picks SHELL out of "env ... SHELL -c true".
func shellOf(cmd string) string {
	f := strings.Fields(cmd)
	for i := 1; i < len(f); i++ {
		if f[i] == "-c" {
			return f[i-1]
		}
	}
	return cmd
}

func writeSSHNotes(b *strings.Builder, sd string, cols []*sshCol) {
	b.WriteString("\n`ssh TARGET true` is the wall time of the whole client command, from fork to exit (for burrow: the `Match exec` certificate check and the `burrow proxy` ProxyCommand included). ")
	b.WriteString("A transfer's time is the wall clock of one copy, connection setup included, of a pseudo-random file whose SHA-256 is checked after each copy; MB is 10^6 bytes. ")
	b.WriteString("The burrow ssh / burrow cp column uses burrow's own client (x/crypto/ssh, which prefers aes128-gcm), so its rows compare clients as well as paths. ")
	b.WriteString("Echo latency is one byte typed into the client's terminal until it comes back from `cat` on the remote terminal (raw mode, like a line editor), with pauses between keystrokes.\n")
	var sh cmdResult
	if readJSON(filepath.Join(sd, "shell.json"), &sh) == nil && sh.OK > 0 {
		fmt.Fprintf(b, "\nFor scale: the login shell on its own (`%s -c true` in an environment like the one an SSH server gives it, where bash reads ~/.bashrc) takes %.1f ms p50 / %.1f ms p90; every `ssh TARGET true` above includes it.\n", shellOf(sh.Cmd), sh.P50ms, sh.P90ms)
	}
	writeColumnNotes(b, "SSH", cols)
}
