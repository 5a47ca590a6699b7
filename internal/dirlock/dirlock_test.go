package dirlock

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestLock: a second Lock of the same directory is refused, naming the
// holder, until the first is released. (flock locks belong to the open
// file, so a second open in one process conflicts as another process's
// would.)
func TestLock(t *testing.T) {
	dir := t.TempDir() + "/data"
	unlock, err := Lock(dir, "burrow agent")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir, "burrow agent")
	if err == nil || !strings.Contains(err.Error(), "in use by another burrow agent (pid "+strconv.Itoa(os.Getpid())+")") {
		t.Fatalf("second Lock: %v, want it refused naming this pid", err)
	}
	unlock()
	unlock2, err := Lock(dir, "burrow agent")
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	unlock2()
}
