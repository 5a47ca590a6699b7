package main

import (
	"strings"
	"testing"
)

// TestReferenceNotScored: the OpenSSH reference column gets ratios but no
// goal marks, and burrow's columns still do.
func TestReferenceNotScored(t *testing.T) {
	col := func(id string, p50 float64, ref bool) *sshCol {
		return &sshCol{id: id, label: id, status: "ok", exec: &cmdResult{P50ms: p50, OK: 1, N: 1}, reference: ref}
	}
	cols := []*sshCol{col("direct", 100, false), col("gw-main", 50, false), col("gw-plain", 50, false), col(gatewayReference, 200, true)}
	var b strings.Builder
	writeSSHRatios(&b, cols, gatewayMetrics("1 GiB")[:1])
	row := ""
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "p50") {
			row = l
		}
	}
	if !strings.Contains(row, "0.50× ✓") || !strings.Contains(row, "| 2.00× |") {
		t.Fatalf("ratio row %q: want burrow scored (0.50× ✓) and the reference unscored (2.00×)", row)
	}
}
