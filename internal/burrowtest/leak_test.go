package burrowtest_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/burrowtest"
)

// TestNoLeaks opens and closes thousands of forwarded connections and checks
// that goroutines and file descriptors of the process (controller, agent and
// client all live in it) come back to their baseline.
func TestNoLeaks(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	s := burrowtest.Start(t)
	a := s.StartAgent("web-1", nil)
	port := burrowtest.Echo(t)
	c := s.Client(s.AdminToken)
	defer c.Close()
	// Warm up with the same parallelism, so pools (SQLite readers) are at
	// their steady size before the baseline is taken.
	sessions(t, c.DialPortForward, port, 64)
	sessions(t, c.DialStream, port, 64)
	settle(t, a)
	g0, fd0 := runtime.NumGoroutine(), countFDs(t)

	sessions(t, c.DialPortForward, port, n)
	sessions(t, c.DialStream, port, n)
	settle(t, a)
	deadline := time.Now().Add(burrowtest.WaitShort)
	for {
		g, fd := runtime.NumGoroutine(), countFDs(t)
		// A little slack: idle pooled HTTP connections and timers come and go.
		if g <= g0+5 && fd <= fd0+5 {
			t.Logf("%d sessions per front door: goroutines %d -> %d, fds %d -> %d", n, g0, g, fd0, fd)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("leak after %d sessions: goroutines %d -> %d, fds %d -> %d\nfds: %v\n%s", n, g0, g, fd0, fd, fdTargets(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sessions runs n echo sessions, 16 at a time.
func sessions(t *testing.T, dial dialer, port, n int) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := roundTripVia(ctxShort(t), dial, "web-1", port, fmt.Sprint("session ", i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// settle waits until the agent serves no session.
func settle(t *testing.T, a *burrowtest.Agent) {
	deadline := time.Now().Add(burrowtest.WaitShort)
	for a.Agent.Active() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("agent still has %d sessions", a.Agent.Active())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countFDs counts the descriptors a session could leak: sockets, pipes
// and anonymous inodes. Regular files are left out: the store's SQLite
// pool opens database handles up to its limit as load varies, and the Go
// runtime keeps cgroup files open to follow CPU quota changes.
func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	n := 0
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		if !strings.HasPrefix(l, "/") {
			n++
		}
	}
	return n
}

func fdTargets() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, l)
	}
	return out
}
