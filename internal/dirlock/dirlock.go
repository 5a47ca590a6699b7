// Package dirlock keeps two processes from using one data directory at
// once: an advisory lock (flock) on a file in it, which the kernel drops
// when the process ends, however it ends.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUnlockable is wrapped by Lock's error when the directory cannot hold
// a lock (read-only, or a file system without flock): the caller may go on
// without one, and should say so.
var ErrUnlockable = errors.New("cannot lock")

// Lock takes the lock of dir (creating dir if needed) for what (e.g.
// "burrow agent"), which another process's error names. Unlock releases
// it. On an error wrapping ErrUnlockable, unlock is a no-op the caller may
// keep.
func Lock(dir, what string) (unlock func(), err error) {
	nop := func() {}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		// A read-only data dir (an agent that joined before): flock needs
		// no write access, only an existing file.
		if f, err = os.Open(path); err != nil {
			return nop, fmt.Errorf("%w %s: %v", ErrUnlockable, dir, err)
		}
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by %s; stop it first, or give this one another data directory", dir, holder(path))
		}
		return nop, fmt.Errorf("%w %s: %v", ErrUnlockable, dir, err)
	}
	// Who holds it, for the message above; the lock is what counts.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(fmt.Sprintf("%s, pid %d\n", what, os.Getpid())), 0)
	}
	return func() { f.Close() }, nil
}

// holder is what the lock's holder wrote ("burrow dev, pid N"), or
// "another process".
func holder(path string) string {
	b, err := os.ReadFile(path)
	if h := strings.TrimSpace(string(b)); err == nil && h != "" && len(h) < 200 && !strings.ContainsAny(h, "\n\r") {
		return h
	}
	return "another process"
}
