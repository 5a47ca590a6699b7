package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLock: a second Lock of the same directory is refused, naming the
// holder, until the first is released. (flock locks belong to the open
// file, so a second open in one process conflicts as another process's
// would.)
func TestLock(t *testing.T) {
	dir := t.TempDir() + "/data"
	unlock, err := Lock(dir, "burrow dev")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(dir, "burrow agent")
	if want := fmt.Sprintf("in use by burrow dev, pid %d", os.Getpid()); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second Lock: %v, want it refused with %q", err, want)
	}
	unlock()
	unlock2, err := Lock(dir, "burrow agent")
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	unlock2()
}

// TestLockReadOnly: a data dir that cannot hold the lock file is no error
// of its own kind, and one whose lock file exists is locked read-only.
func TestLockReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to read-only directories")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	unlock, err := Lock(dir, "burrow agent")
	if !errors.Is(err, ErrUnlockable) || unlock == nil {
		t.Fatalf("Lock of a read-only dir: %v, want ErrUnlockable and a no-op unlock", err)
	}
	unlock()

	os.Chmod(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "lock"), nil, 0o400)
	os.Chmod(dir, 0o500)
	unlock, err = Lock(dir, "burrow agent")
	if err != nil {
		t.Fatalf("Lock of a read-only dir with its lock file: %v", err)
	}
	unlock()
}
