package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Result directory layout written by scripts/bench.sh:
//
//	DIR/meta.txt             "key: value" lines shown above the table
//	DIR/<path>/label         column heading
//	DIR/<path>/status        "ok", or a reason the path was skipped/failed
//	DIR/<path>/iperf1.json   iperf3 -J, 1 stream
//	DIR/<path>/iperf8.json   iperf3 -J, -P 8
//	DIR/<path>/rtt.json      burrow-bench rtt
//	DIR/<path>/conns.json    burrow-bench conns
//	DIR/<path>/cpu_before.json, cpu_after.json
//	                         burrow-bench cputime of the forwarding processes,
//	                         around the 1-stream iperf3 run

type iperfSum struct {
	Bytes       float64 `json:"bytes"`
	BitsPerSec  float64 `json:"bits_per_second"`
	Retransmits *int    `json:"retransmits"`
}

type iperfJSON struct {
	Error string `json:"error"`
	End   struct {
		SumSent     iperfSum `json:"sum_sent"`
		SumReceived iperfSum `json:"sum_received"`
	} `json:"end"`
}

type pathResult struct {
	id, label, status string

	it1, it8   *iperfJSON
	rtt        *rttResult
	conns      *connsResult
	cpu0, cpu1 *cpuResult
	notes      []string
}

func readJSON(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func loadPath(dir, id string) *pathResult {
	p := &pathResult{id: id, label: id}
	d := filepath.Join(dir, id)
	if b, err := os.ReadFile(filepath.Join(d, "label")); err == nil {
		p.label = strings.TrimSpace(string(b))
	}
	b, err := os.ReadFile(filepath.Join(d, "status"))
	if err != nil {
		p.status = "not run"
		return p
	}
	p.status = strings.TrimSpace(string(b))

	var it1, it8 iperfJSON
	if err := readJSON(filepath.Join(d, "iperf1.json"), &it1); err == nil {
		if it1.Error != "" {
			p.notes = append(p.notes, "iperf3 1 stream: "+it1.Error)
		} else {
			p.it1 = &it1
		}
	}
	if err := readJSON(filepath.Join(d, "iperf8.json"), &it8); err == nil {
		if it8.Error != "" {
			p.notes = append(p.notes, "iperf3 8 streams: "+it8.Error)
		} else {
			p.it8 = &it8
		}
	}
	if b, err := os.ReadFile(filepath.Join(d, "errors")); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				p.notes = append(p.notes, l)
			}
		}
	}
	var rtt rttResult
	if err := readJSON(filepath.Join(d, "rtt.json"), &rtt); err == nil && rtt.N > 0 {
		p.rtt = &rtt
	}
	var cr connsResult
	if err := readJSON(filepath.Join(d, "conns.json"), &cr); err == nil && cr.N > 0 {
		p.conns = &cr
		if cr.Errors > 0 {
			p.notes = append(p.notes, fmt.Sprintf("conns: %d of %d failed (first: %s)", cr.Errors, cr.N, cr.FirstError))
		}
	}
	var c0, c1 cpuResult
	if readJSON(filepath.Join(d, "cpu_before.json"), &c0) == nil && readJSON(filepath.Join(d, "cpu_after.json"), &c1) == nil {
		p.cpu0, p.cpu1 = &c0, &c1
	}
	return p
}

const na = "n/a"

func gbit(bps float64) string { return fmt.Sprintf("%.2f", bps/1e9) }

func (p *pathResult) cpuSeconds() (float64, bool) {
	if p.cpu0 == nil || p.cpu1 == nil {
		return 0, false
	}
	return p.cpu1.CPUSeconds - p.cpu0.CPUSeconds, true
}

// cpuPerGB is forwarder CPU seconds per 1e9 bytes received by iperf3 in the
// 1-stream test.
func (p *pathResult) cpuPerGB() (float64, bool) {
	cpu, ok := p.cpuSeconds()
	if !ok || p.it1 == nil || p.it1.End.SumReceived.Bytes <= 0 {
		return 0, false
	}
	return cpu / (p.it1.End.SumReceived.Bytes / 1e9), true
}

type metric struct {
	name string
	val  func(*pathResult) string
}

var metrics = []metric{
	{"iperf3 1 stream, receiver (Gbit/s)", func(p *pathResult) string {
		if p.it1 == nil {
			return na
		}
		return gbit(p.it1.End.SumReceived.BitsPerSec)
	}},
	{"iperf3 1 stream, sender (Gbit/s)", func(p *pathResult) string {
		if p.it1 == nil {
			return na
		}
		return gbit(p.it1.End.SumSent.BitsPerSec)
	}},
	{"iperf3 8 streams, receiver (Gbit/s)", func(p *pathResult) string {
		if p.it8 == nil {
			return na
		}
		return gbit(p.it8.End.SumReceived.BitsPerSec)
	}},
	{"iperf3 8 streams, sender (Gbit/s)", func(p *pathResult) string {
		if p.it8 == nil {
			return na
		}
		return gbit(p.it8.End.SumSent.BitsPerSec)
	}},
	{"RTT 64 B p50 (µs)", func(p *pathResult) string {
		if p.rtt == nil {
			return na
		}
		return fmt.Sprintf("%.1f", p.rtt.P50us)
	}},
	{"RTT 64 B p99 (µs)", func(p *pathResult) string {
		if p.rtt == nil {
			return na
		}
		return fmt.Sprintf("%.1f", p.rtt.P99us)
	}},
	{"new conns/s (dial + 1 B echo + close)", func(p *pathResult) string {
		if p.conns == nil {
			return na
		}
		s := fmt.Sprintf("%.0f", p.conns.ConnsPerSec)
		if p.conns.Errors > 0 {
			s += fmt.Sprintf(" (%d errors)", p.conns.Errors)
		}
		return s
	}},
	{"conn setup+echo p50 / p99 (ms)", func(p *pathResult) string {
		if p.conns == nil {
			return na
		}
		return fmt.Sprintf("%.2f / %.2f", p.conns.P50us/1e3, p.conns.P99us/1e3)
	}},
	{"forwarder CPU during 1-stream test (s)", func(p *pathResult) string {
		if p.id == "direct" {
			return "—"
		}
		c, ok := p.cpuSeconds()
		if !ok {
			return na
		}
		return fmt.Sprintf("%.2f", c)
	}},
	{"forwarder CPU per GB (s/GB)", func(p *pathResult) string {
		if p.id == "direct" {
			return "—"
		}
		c, ok := p.cpuPerGB()
		if !ok {
			return na
		}
		return fmt.Sprintf("%.3f", c)
	}},
}

func ratio(a, b float64, okA, okB bool) string {
	if !okA || !okB || b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return na
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	dir := fs.String("dir", "", "results directory (required)")
	out := fs.String("out", "", "also write the markdown to this file")
	paths := fs.String("paths", "direct,ssh-aes128-gcm,ssh-chacha20,floor-tcp,floor-tls,burrow", "column order")
	base := fs.String("baseline", "ssh-aes128-gcm", "path the burrow ratios are relative to")
	subject := fs.String("subject", "burrow", "path whose ratios are reported")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}
	var b strings.Builder
	b.WriteString("# burrow benchmark (loopback)\n\n")
	if f, err := os.Open(filepath.Join(*dir, "meta.txt")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				fmt.Fprintf(&b, "- %s\n", line)
			}
		}
		f.Close()
		b.WriteString("\n")
	}

	if *paths != "" {
		writeForwardReport(&b, *dir, strings.Split(*paths, ","), *base, *subject)
	}
	writeSSHReport(&b, *dir)
	writeGatewayReport(&b, *dir)

	md := b.String()
	fmt.Print(md)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeForwardReport renders the port-forward table: one column per path,
// then the subject's ratios to the baseline.
func writeForwardReport(b *strings.Builder, dir string, paths []string, base, subject string) {
	var rs []*pathResult
	byID := map[string]*pathResult{}
	for _, id := range paths {
		p := loadPath(dir, id)
		rs = append(rs, p)
		byID[id] = p
	}

	b.WriteString("## Port-forward\n\n")
	labels := make([]string, len(rs))
	for i, p := range rs {
		labels[i] = p.label
	}
	writeTableHead(b, labels)
	for _, m := range metrics {
		fmt.Fprintf(b, "| %s |", m.name)
		for _, p := range rs {
			v := na
			if p.status == "ok" {
				v = m.val(p)
			}
			fmt.Fprintf(b, " %s |", v)
		}
		b.WriteString("\n")
	}

	written := map[[2]string]bool{}
	for _, pair := range [][2]string{{subject, base}, {floorTLS, base}, {subject, floorTLS}} {
		if a, bl := byID[pair[0]], byID[pair[1]]; a != nil && bl != nil && pair[0] != pair[1] && !written[pair] {
			written[pair] = true
			writeRatios(b, a, bl)
		}
	}

	var notes []string
	for _, p := range rs {
		if p.status != "ok" {
			notes = append(notes, fmt.Sprintf("%s: %s", p.label, p.status))
		}
		for _, n := range p.notes {
			notes = append(notes, fmt.Sprintf("%s: %s", p.label, n))
		}
	}
	b.WriteString("\nThroughput is iperf3's end-of-test figure for each side; the receiver figure is what made it through the forwarder (the sender figure also counts data still sitting in forwarder buffers). ")
	floors := byID[floorTCP] != nil || byID[floorTLS] != nil
	if floors {
		b.WriteString("CPU is utime+stime of the forwarding process trees only (ssh + sshd, the two relay processes, or burrow dev + burrow port-forward), read from /proc around the 1-stream run, divided by 10^9 bytes received. ")
	} else {
		b.WriteString("CPU is utime+stime of the forwarding process trees only (ssh + sshd, or burrow dev + burrow port-forward), read from /proc around the 1-stream run, divided by 10^9 bytes received. ")
	}
	b.WriteString("Everything (iperf3 client and server, target, forwarders) shares this machine's CPUs, so forwarders that burn CPU also slow the endpoints.")
	if floors {
		b.WriteString(" The relay floors (burrow-bench relay) copy bytes along burrow's hops and do nothing else; they dial every hop anew for each connection (a TLS handshake per hop for the TLS floor), so their new conns/s is no floor for a design that multiplexes.")
	}
	b.WriteString("\n")
	if len(notes) > 0 {
		b.WriteString("\n**Notes**\n\n")
		for _, n := range notes {
			fmt.Fprintf(b, "- %s\n", n)
		}
	}
}

// floorTLS is the bare TLS relay column. Its ratios to the baseline are the
// most any design with burrow's hops and TLS on both could reach on this
// machine; burrow's ratios to it are what burrow's protocol costs on top.
const floorTLS = "floor-tls"

// floorTCP is the bare relay column without crypto.
const floorTCP = "floor-tcp"

// writeRatios writes the subject's ratios to one other column.
func writeRatios(b *strings.Builder, s, bl *pathResult) {
	fmt.Fprintf(b, "\n### Ratios: %s / %s\n\n", s.label, bl.label)
	b.WriteString("| ratio | value | better if |\n|---|---:|---|\n")
	sOK, bOK := s.status == "ok", bl.status == "ok"
	var sv, bv float64
	var sok, bok bool
	if sOK && bOK {
		sok, bok = s.it1 != nil, bl.it1 != nil
		if sok && bok {
			sv, bv = s.it1.End.SumReceived.BitsPerSec, bl.it1.End.SumReceived.BitsPerSec
		}
	}
	fmt.Fprintf(b, "| 1-stream throughput | %s | > 1 |\n", ratio(sv, bv, sok, bok))

	sok, bok = sOK && s.rtt != nil, bOK && bl.rtt != nil
	sv, bv = 0, 0
	if sok && bok {
		sv, bv = s.rtt.P50us, bl.rtt.P50us
	}
	fmt.Fprintf(b, "| RTT p50 | %s | < 1 |\n", ratio(sv, bv, sok, bok))

	sok, bok = sOK && s.conns != nil, bOK && bl.conns != nil
	sv, bv = 0, 0
	if sok && bok {
		sv, bv = s.conns.ConnsPerSec, bl.conns.ConnsPerSec
	}
	fmt.Fprintf(b, "| new conns/s | %s | > 1 |\n", ratio(sv, bv, sok, bok))

	sv, sok = s.cpuPerGB()
	bv, bok = bl.cpuPerGB()
	fmt.Fprintf(b, "| CPU per GB | %s | < 1 |\n", ratio(sv, bv, sOK && sok, bOK && bok))
}

// writeTableHead writes the header rows of a markdown table with a metric
// column and one right-aligned column per label.
func writeTableHead(b *strings.Builder, labels []string) {
	b.WriteString("| metric |")
	for _, l := range labels {
		fmt.Fprintf(b, " %s |", l)
	}
	b.WriteString("\n|---|")
	for range labels {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
}
