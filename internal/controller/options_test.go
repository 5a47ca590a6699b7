package controller

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/burrow-dev/burrow/internal/gateway"
)

// TestNegativeSSHLimitRefused: New refuses a negative gateway limit before
// it creates anything.
func TestNegativeSSHLimitRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	_, err := New(Options{DataDir: dir, SSHLimits: gateway.Limits{PerSourceMaxStartups: -1}})
	if err == nil || !strings.Contains(err.Error(), "per-source max startups") {
		t.Fatalf("New: err = %v, want one naming the limit", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("New created %s before refusing", dir)
	}
}
