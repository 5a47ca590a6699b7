package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The gateway section of the results directory written by scripts/bench.sh
// has the layout of the SSH section (report_ssh.go) under DIR/gateway, with
// the columns below: OpenSSH to the local sshd, ssh -J / scp -J through
// burrow's SSH gateway on the main port and on the plain SSH port, and the
// reference: ssh -J with the local sshd as its own jump host.
var gatewayColumns = []string{"direct", "gw-main", "gw-plain", gatewayReference}

// gatewayReference is OpenSSH's own jump host: compared with, not scored.
const gatewayReference = "ossh-jump"

func gatewayMetrics(size string) []sshMetric {
	return []sshMetric{
		{"`ssh -J GW TARGET true` p50 (ms)", "%.1f", cmdVal(pickExec, p50ms), 1.5, true},
		{"`ssh -J GW TARGET true` p90 (ms)", "%.1f", cmdVal(pickExec, p90ms), 1.5, true},
		{"scp upload " + size + " (MB/s)", "%.0f", cmdVal(pickUp, mbps), 0.8, false},
		{"scp download " + size + " (MB/s)", "%.0f", cmdVal(pickDown, mbps), 0.8, false},
	}
}

// writeGatewayReport appends the gateway section for DIR/gateway, if it
// was run: the table, the ratios to the local sshd (the reference column
// shown but not scored), the sniffer's cost (main port over plain port),
// and the main port against OpenSSH's own jump host.
func writeGatewayReport(b *strings.Builder, dir string) {
	gd := filepath.Join(dir, "gateway")
	if _, err := os.Stat(gd); err != nil {
		return
	}
	var cols []*sshCol
	for _, id := range gatewayColumns {
		c := loadSSHCol(gd, id)
		if id == gatewayReference {
			if c.status == "not run" { // results from before the column existed
				continue
			}
			c.reference = true
		}
		cols = append(cols, c)
	}
	size := "1 GiB"
	if !strings.HasSuffix(b.String(), "\n\n") {
		b.WriteString("\n")
	}
	b.WriteString("## SSH gateway: `ssh -J` through burrow vs OpenSSH to a local sshd\n\n")
	meta, _ := os.ReadFile(filepath.Join(gd, "meta.txt"))
	for _, l := range strings.Split(strings.TrimSpace(string(meta)), "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && k == "transfer size" {
			size = v
		}
		if l = strings.TrimSpace(l); l != "" {
			fmt.Fprintf(b, "- %s\n", l)
		}
	}
	ms := gatewayMetrics(size)
	writeMetricTable(b, cols, ms)
	writeCipherRow(b, "cipher (gateway / target)", cols)
	writeSSHRatios(b, cols, ms)
	writePairRatios(b, "The one-port sniffer", cols[1], cols[2], ms)
	if len(cols) > 3 {
		writePairRatios(b, "Against OpenSSH's own jump host", cols[1], cols[3], ms)
	}
	writeGatewayNotes(b, cols)
}

func writeMetricTable(b *strings.Builder, cols []*sshCol, ms []sshMetric) {
	b.WriteString("\n")
	labels := make([]string, len(cols))
	for i, c := range cols {
		labels[i] = c.label
	}
	writeTableHead(b, labels)
	for _, m := range ms {
		fmt.Fprintf(b, "| %s |", m.name)
		for _, c := range cols {
			v, ok := m.val(c)
			s := na
			if ok && c.status == "ok" {
				s = fmt.Sprintf(m.format, v)
			}
			fmt.Fprintf(b, " %s |", s)
		}
		b.WriteString("\n")
	}
}

// writePairRatios divides column a's results by column c's: for the
// one-port sniffer (main port / plain port) it should be 1.0× within noise;
// against OpenSSH's own jump host it says how burrow compares with OpenSSH
// doing the same job.
func writePairRatios(b *strings.Builder, title string, a, c *sshCol, ms []sshMetric) {
	fmt.Fprintf(b, "\n### %s: %s / %s\n\n| ratio | value |\n|---|---:|\n", title, a.label, c.label)
	for _, m := range ms {
		v, okV := m.val(a)
		p, okP := m.val(c)
		ok := okV && okP && a.status == "ok" && c.status == "ok"
		fmt.Fprintf(b, "| %s | %s |\n", m.name, ratio(v, p, ok, ok))
	}
}

func writeGatewayNotes(b *strings.Builder, cols []*sshCol) {
	b.WriteString("\nTimes are the wall clock of the whole client command, from fork to exit, with the jump connection (a second ssh process) included. ")
	b.WriteString("A transfer is one scp of a pseudo-random file whose SHA-256 is checked after each copy; MB is 10^6 bytes. ")
	b.WriteString("Through the gateway, scp's SSH session ends at the agent's built-in server (x/crypto/ssh), so the columns compare servers as well as paths.")
	for _, c := range cols {
		if c.reference {
			b.WriteString(" The reference column is OpenSSH alone in the gateway's shape: ssh -J with the throwaway sshd as the jump host in front of itself (two SSH layers, two client processes, one more server process), so it shows what a jump costs on this machine whoever does it.")
		}
	}
	b.WriteString("\n")
	writeColumnNotes(b, "gateway", cols)
}

// writeColumnNotes lists the columns that could not be measured and the
// notes their runs left, under a heading naming the section.
func writeColumnNotes(b *strings.Builder, section string, cols []*sshCol) {
	var notes []string
	for _, c := range cols {
		if c.status != "ok" {
			notes = append(notes, fmt.Sprintf("%s: %s", c.label, c.status))
		}
		for _, n := range c.notes {
			notes = append(notes, fmt.Sprintf("%s: %s", c.label, n))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(b, "\n**Notes (%s)**\n\n", section)
		for _, n := range notes {
			fmt.Fprintf(b, "- %s\n", n)
		}
	}
}
