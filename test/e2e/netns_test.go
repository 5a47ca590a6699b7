//go:build e2e && linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Addresses of the topology. The namespaces are private, so fixed
// addresses cannot collide with the host or with a parallel run.
const (
	ctlPrivAddr  = "10.77.1.1" // ctl, on the link to priv
	privAddr     = "10.77.1.2"
	ctlUserAddr  = "10.77.2.1" // ctl, on the link to user
	userAddr     = "10.77.2.2"
	prefixLength = "/24"
	nsPrefix     = "bwe2e-" // every namespace this test creates starts with it
)

// netns is a network namespace created by this test.
type netns struct {
	name string
}

// topology is ctl, priv and user, wired as described in doc.go.
type topology struct {
	ctl, priv, user netns
}

// newTopology builds the namespaces and links; t.Cleanup removes them,
// also when the test fails half-way.
func newTopology(t *testing.T) *topology {
	t.Helper()
	pruneStaleNamespaces(t)
	pid := os.Getpid()
	topo := &topology{
		ctl:  netns{fmt.Sprintf("%s%d-ctl", nsPrefix, pid)},
		priv: netns{fmt.Sprintf("%s%d-priv", nsPrefix, pid)},
		user: netns{fmt.Sprintf("%s%d-user", nsPrefix, pid)},
	}
	for _, ns := range []netns{topo.ctl, topo.priv, topo.user} {
		ipCmd(t, "netns", "add", ns.name)
		t.Cleanup(func() { ipCleanup(t, "netns", "del", ns.name) })
		ipCmd(t, "-n", ns.name, "link", "set", "lo", "up")
	}
	// veth names are at most 15 bytes: "bw" + pid (≤ 7 digits) + 2.
	link := func(a netns, aName, aAddr string, b netns, bName, bAddr string) {
		ipCmd(t, "link", "add", aName, "type", "veth", "peer", "name", bName)
		// Deleting one end deletes both; the namespaces' deletion also
		// does it, this covers a failure before the move.
		t.Cleanup(func() { ipCleanupQuiet("link", "del", aName) })
		ipCmd(t, "link", "set", aName, "netns", a.name)
		ipCmd(t, "link", "set", bName, "netns", b.name)
		ipCmd(t, "-n", a.name, "addr", "add", aAddr+prefixLength, "dev", aName)
		ipCmd(t, "-n", b.name, "addr", "add", bAddr+prefixLength, "dev", bName)
		ipCmd(t, "-n", a.name, "link", "set", aName, "up")
		ipCmd(t, "-n", b.name, "link", "set", bName, "up")
	}
	link(topo.ctl, fmt.Sprintf("bw%dcp", pid), ctlPrivAddr, topo.priv, fmt.Sprintf("bw%dpc", pid), privAddr)
	link(topo.ctl, fmt.Sprintf("bw%dcu", pid), ctlUserAddr, topo.user, fmt.Sprintf("bw%duc", pid), userAddr)
	// Default routes through ctl: if ctl forwarded, user could reach priv.
	ipCmd(t, "-n", topo.priv.name, "route", "add", "default", "via", ctlPrivAddr)
	ipCmd(t, "-n", topo.user.name, "route", "add", "default", "via", ctlUserAddr)
	// A new namespace starts with forwarding off; say so explicitly.
	topo.ctl.exec(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0")
	if got := strings.TrimSpace(topo.ctl.exec(t, "cat", "/proc/sys/net/ipv4/ip_forward")); got != "0" {
		t.Fatalf("ip_forward in %s is %q, want 0", topo.ctl.name, got)
	}
	return topo
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func ipCleanup(t *testing.T, args ...string) {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Logf("cleanup: ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func ipCleanupQuiet(args ...string) { _ = exec.Command("ip", args...).Run() }

// exec runs a short command inside the namespace and returns its stdout.
func (ns netns) exec(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.name, name}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("in %s: %s %s: %v\n%s", ns.name, name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// dial opens a TCP connection from inside the namespace. The socket is
// created on a thread switched into the namespace and keeps belonging to
// it; the thread is switched back before it is released.
func (ns netns) dial(ctx context.Context, addr string) (*net.TCPConn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		restored := false
		defer func() {
			// A thread whose namespace could not be restored stays locked,
			// and the runtime ends it with this goroutine.
			if restored {
				runtime.UnlockOSThread()
			}
		}()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns.name)
		if err != nil {
			restored = true
			ch <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			restored = true
			ch <- result{err: fmt.Errorf("setns %s: %w", ns.name, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp4", addr)
		restored = unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil
		ch <- result{c, err}
	}()
	r := <-ch
	if r.err != nil {
		return nil, r.err
	}
	return r.c.(*net.TCPConn), nil
}

var staleNS = regexp.MustCompile(`^` + nsPrefix + `(\d+)-`)

// pruneStaleNamespaces deletes namespaces left by earlier runs of this
// test that died without cleaning up (e.g. killed by go test's timeout):
// only names with this test's prefix whose creator process is gone.
func pruneStaleNamespaces(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		m := staleNS.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		t.Logf("deleting namespace %s left by dead process %d", name, pid)
		ipCleanup(t, "netns", "del", name)
	}
}
