package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"github.com/creack/pty"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/agent"
	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/burrowtest"
)

// cliEnv points the CLI at an in-process controller, with a config file
// of its own.
func cliEnv(t *testing.T, s *burrowtest.System) {
	t.Setenv("BURROW_CONFIG", filepath.Join(t.TempDir(), "config.yaml"))
	t.Setenv("BURROW_URL", s.URL())
	t.Setenv("BURROW_TOKEN", s.AdminToken)
	t.Setenv("BURROW_FINGERPRINT", s.Controller().Fingerprint())
}

// lockedBuffer is a bytes.Buffer safe to read while the CLI writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func burrowCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = Main(ctx, args, &out, &errb)
	return out.String(), errb.String(), code
}

// TestVNCForwards runs `burrow vnc --no-viewer` against a target whose
// "VNC" port is an echo server, named as OpenSSH users know it: the printed
// address reaches it.
func TestVNCForwards(t *testing.T) {
	s := burrowtest.Start(t)
	s.StartAgent("mac-1", nil)
	port := burrowtest.Echo(t)
	cliEnv(t, s)

	run := startForward(t, "vnc", "mac-1."+s.Controller().Org()+".burrow", "--no-viewer", "--port", strconv.Itoa(port), "--username", "admin")
	addr := run.addr(t, regexp.MustCompile(`Forwarding (127\.0\.0\.1:\d+) -> mac-1:\d+`))
	echoThrough(t, addr)
	if !strings.Contains(run.out.String(), "vnc://admin@"+addr) {
		t.Errorf("vnc did not print the viewer address (without password):\n%s", run.out.String())
	}
	run.stop(t)

	// Refused at once, not when a viewer connects: a port out of range,
	// and a port nothing listens on.
	closed := burrowtest.ClosedPort(t)
	for _, c := range []struct{ port, want string }{
		{"99999", "want a TCP port"},
		{strconv.Itoa(closed), "refused"},
	} {
		if out, errOut, code := burrowCLI(t, "vnc", "mac-1", "--no-viewer", "--port", c.port); code == 0 || !strings.Contains(errOut, c.want) || out != "" {
			t.Errorf("vnc --port %s: code %d, stdout %q, stderr %q; want it to say %q", c.port, code, out, errOut, c.want)
		}
	}
}

// TestPortForwardOrgName: port-forward takes NAME.<org> and prints the
// target's own name.
func TestPortForwardOrgName(t *testing.T) {
	s := burrowtest.Start(t)
	s.StartAgent("web-1", nil)
	port := burrowtest.Echo(t)
	cliEnv(t, s)

	run := startForward(t, "port-forward", "web-1."+s.Controller().Org(), "0:"+strconv.Itoa(port))
	echoThrough(t, run.addr(t, regexp.MustCompile(`Forwarding from (127\.0\.0\.1:\d+) -> web-1:`+strconv.Itoa(port))))
	run.stop(t)
}

// forwardRun is a CLI command that forwards until stopped.
type forwardRun struct {
	out    lockedBuffer
	cancel context.CancelFunc
	done   chan int
}

func startForward(t *testing.T, args ...string) *forwardRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &forwardRun{cancel: cancel, done: make(chan int)}
	go func() { r.done <- Main(ctx, args, &r.out, io.Discard) }()
	t.Cleanup(cancel)
	return r
}

// addr waits for re's first group in the command's output.
func (r *forwardRun) addr(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(burrowtest.WaitShort)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(r.out.String()); m != nil {
			return m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no forward printed:\n%s", r.out.String())
	return ""
}

// stop is Ctrl-C: the command must exit 0.
func (r *forwardRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if code := <-r.done; code != 0 {
		t.Errorf("exited %d after Ctrl-C:\n%s", code, r.out.String())
	}
}

// echoThrough checks that addr leads to an echo server.
func echoThrough(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := []byte("RFB 003.008\n")
	c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("through the forward: %q, %v", got, err)
	}
}

// TestVNCViewer: without --no-viewer, vnc starts the platform's viewer on
// the forward (here a stand-in vncviewer that records its arguments), and
// with none at all prints the address to connect to.
func TestVNCViewer(t *testing.T) {
	if runtime.GOOS == "darwin" {
		t.Skip("macOS opens the vnc:// URL with open(1)")
	}
	s := burrowtest.Start(t)
	s.StartAgent("mac-1", nil)
	port := burrowtest.Echo(t)
	cliEnv(t, s)
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	bin := t.TempDir()
	args := filepath.Join(t.TempDir(), "args")
	script := "#!/bin/sh\necho \"$@\" > " + args + "\n"
	if err := os.WriteFile(filepath.Join(bin, "vncviewer"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	addrRE := regexp.MustCompile(`Forwarding 127\.0\.0\.1:(\d+) -> mac-1:\d+`)
	run := func(path string, until func(out string) bool) string {
		t.Setenv("PATH", path)
		ctx, cancel := context.WithCancel(context.Background())
		var out lockedBuffer
		done := make(chan int)
		go func() { done <- Main(ctx, []string{"vnc", "mac-1", "--port", strconv.Itoa(port)}, &out, io.Discard) }()
		deadline := time.Now().Add(burrowtest.WaitShort)
		for !until(out.String()) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
		return out.String()
	}

	out := run(bin, func(string) bool { b, _ := os.ReadFile(args); return len(b) > 0 })
	m := addrRE.FindStringSubmatch(out)
	b, _ := os.ReadFile(args)
	if m == nil || strings.TrimSpace(string(b)) != "127.0.0.1::"+m[1] || !strings.Contains(out, "Opened a VNC viewer") {
		t.Errorf("vncviewer got %q; vnc said:\n%s", b, out)
	}

	out = run(t.TempDir(), func(out string) bool { return strings.Contains(out, "Connect yours to") })
	if m := addrRE.FindStringSubmatch(out); m == nil || !strings.Contains(out, "No VNC viewer found") || !strings.Contains(out, "vnc://127.0.0.1:"+m[1]) {
		t.Errorf("without a viewer, vnc said:\n%s", out)
	}
}

// TestSSHAndCp runs `burrow ssh` and `burrow cp` in process against an
// agent's built-in SSH server: exit statuses, signals, separate streams,
// clear refusals, copies both ways.
func TestSSHAndCp(t *testing.T) {
	s := burrowtest.Start(t)
	s.StartAgent("web-1", nil)
	s.StartAgent("closed", func(o *agent.Options) { o.SSH = "off" })
	cliEnv(t, s)
	login := burrowtest.AdminLogins()[0]

	out, errOut, code := burrowCLI(t, "ssh", "-l", login, "web-1", "--", "echo out; echo err >&2; exit 7")
	if code != 7 || out != "out\n" || errOut != "err\n" {
		t.Errorf("ssh exit 7: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, _, code := burrowCLI(t, "ssh", "-l", login, "web-1", "kill -TERM $$"); code != 128+15 {
		t.Errorf("ssh killed by TERM: code %d, want 143", code)
	}
	// A forward that cannot be set up is a warning, as with OpenSSH
	// (ExitOnForwardFailure no): the command still runs.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bp := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	for _, fw := range [][]string{{"-L", "127.0.0.1:" + bp + ":127.0.0.1:9"}, {"-R", "127.0.0.1:" + bp + ":127.0.0.1:9"}} {
		out, errOut, code := burrowCLI(t, "ssh", "-l", login, fw[0], fw[1], "web-1", "echo ran")
		if code != 0 || out != "ran\n" || !strings.Contains(errOut, "Warning: "+fw[0]+" "+fw[1]) {
			t.Errorf("ssh %s %s onto a busy port: code %d, stdout %q, stderr %q", fw[0], fw[1], code, out, errOut)
		}
	}
	// -R with port 0 says which port the target chose, as OpenSSH does.
	if _, errOut, code := burrowCLI(t, "ssh", "-l", login, "-R", "0:127.0.0.1:9", "web-1", "true"); code != 0 ||
		!regexp.MustCompile(`^Allocated port [1-9][0-9]* for remote forward to 127\.0\.0\.1:9\r?\n$`).MatchString(errOut) {
		t.Errorf("ssh -R 0:…: code %d, stderr %q", code, errOut)
	}
	// Options after TARGET, as OpenSSH takes them, up to the command or "--".
	for _, args := range [][]string{
		{"ssh", "web-1", "-l", login, "-T", "echo", "hi"},
		{"ssh", "web-1", "-l", login, "--", "echo", "hi"},
		{"ssh", "-l", login, "web-1", "echo", "hi"},
	} {
		if out, errOut, code := burrowCLI(t, args...); code != 0 || out != "hi\n" {
			t.Errorf("burrow %s: code %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errOut)
		}
	}
	// After "--" before TARGET, nothing is an option; -h after it is help.
	if out, _, code := burrowCLI(t, "ssh", "-l", login, "--", "web-1", "echo", "-n", "x"); code != 0 || out != "x" {
		t.Errorf("burrow ssh -- web-1 echo -n x: code %d, stdout %q", code, out)
	}
	if out, _, code := burrowCLI(t, "ssh", "web-1", "-h"); code != 0 || !strings.Contains(out, "Usage:") {
		t.Errorf("burrow ssh web-1 -h: code %d, stdout %q, want the help", code, out)
	}
	if _, errOut, code := burrowCLI(t, "ssh", "web-1", "-o", "Foo=bar"); code == 0 || !strings.Contains(errOut, "burrow ssh-config") {
		t.Errorf("burrow ssh web-1 -o Foo=bar: code %d, stderr %q, want a refusal pointing at plain ssh", code, errOut)
	}
	// A command's own options stay the command's.
	if out, _, code := burrowCLI(t, "ssh", "-l", login, "web-1", "echo", "-n", "x"); code != 0 || out != "x" {
		t.Errorf("burrow ssh web-1 echo -n x: code %d, stdout %q", code, out)
	}
	// The names OpenSSH users know: NAME.burrow, NAME.<org>.burrow, NAME.<org>.
	org := s.Controller().Org()
	for _, name := range []string{"web-1.burrow", "web-1." + org + ".burrow", login + "@web-1." + org, "WEB-1.Burrow."} {
		if out, errOut, code := burrowCLI(t, "ssh", "-l", login, name, "--", "echo hi"); code != 0 || out != "hi\n" {
			t.Errorf("burrow ssh %s: code %d, stdout %q, stderr %q", name, code, out, errOut)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ssh", "nosuch", "true"}, "no target named nosuch"},
		{[]string{"ssh", "web-1.other-org", "true"}, "no target named web-1.other-org"},
		{[]string{"ssh", "web;rm", "true"}, `target "web;rm" is not a valid name`},
		{[]string{"ssh", "closed", "true"}, "no shell access"},
		{[]string{"ssh", "-l", "no-such-user-x", "web-1", "true"}, "may not log in as"},
	} {
		// 255, as OpenSSH exits when it fails itself, not the command.
		_, errOut, code := burrowCLI(t, c.args...)
		if code != 255 || !strings.Contains(errOut, c.want) {
			t.Errorf("burrow %s: code %d, stderr %q, want 255 and it to say %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
	if _, _, code := burrowCLI(t, "ssh", "-l", login, "web-1", "exit 255"); code != 255 {
		t.Errorf("a remote exit 255: code %d", code)
	}
	if _, _, code := burrowCLI(t, "ssh", "-l", login, "web-1", "exit 1"); code != 1 {
		t.Errorf("a remote exit 1: code %d", code)
	}
	for _, args := range [][]string{{"ssh", "--bogus", "web-1", "true"}, {"ssh", "-e", "xy", "web-1", "true"}} {
		if _, errOut, code := burrowCLI(t, args...); code != 255 || errOut == "" {
			t.Errorf("burrow %s: code %d, stderr %q; want 255 and why", strings.Join(args, " "), code, errOut)
		}
	}

	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	data := bytes.Repeat([]byte("burrow cp "), 300_000)
	if err := os.WriteFile(src, data, 0o640); err != nil {
		t.Fatal(err)
	}
	up := filepath.Join(dir, "up.bin")
	if _, errOut, code := burrowCLI(t, "cp", "-l", login, src, "web-1."+org+".burrow:"+up); code != 0 {
		t.Fatalf("cp up: %d %s", code, errOut)
	}
	// A directory that is not there is named, on the side it is missing.
	missing := filepath.Join(dir, "missing")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cp", "-l", login, src, "web-1:" + missing + "/"}, "there is no directory " + missing + " on web-1"},
		{[]string{"cp", "-l", login, "web-1:" + up, missing + "/"}, missing + "/: no such directory"},
		{[]string{"cp", "-l", login, "web-1:" + up, missing + "/x/y"}, "there is no directory " + missing + "/x"},
	} {
		if _, errOut, code := burrowCLI(t, c.args...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("burrow %s: code %d, stderr %q, want it to say %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a refused copy created %s: %v", missing, err)
	}
	down := filepath.Join(dir, "down")
	os.Mkdir(down, 0o755)
	// Standard error on a terminal: a progress bar that ends at 100%.
	code, bar := onTerminal(t, "cp", "-l", login, "web-1:"+up, down)
	if code != 0 {
		t.Fatalf("cp down: %d %s", code, bar)
	}
	if !strings.Contains(bar, "up.bin") || !strings.Contains(bar, "100%") {
		t.Errorf("cp down with stderr on a terminal: no progress bar ending at 100%%: %q", bar)
	}
	// A file that stats as empty but is not (/proc) copies with the bar on.
	if code, bar := onTerminal(t, "cp", "-l", login, "web-1:/proc/version", filepath.Join(down, "version")); code != 0 {
		t.Errorf("cp web-1:/proc/version with stderr on a terminal: %d %q", code, bar)
	}
	for _, p := range []string{up, filepath.Join(down, "up.bin")} {
		b, err := os.ReadFile(p)
		if err != nil || sha256.Sum256(b) != sha256.Sum256(data) {
			t.Errorf("%s: %v, or content differs", p, err)
		}
		if st, err := os.Stat(p); err == nil && st.Mode().Perm() != 0o640 {
			t.Errorf("%s has mode %v, want 0640", p, st.Mode().Perm())
		}
	}
}

// TestCpResume: --resume copies only the rest of a file an earlier copy
// left short (its first byte, made different here, stays as it was),
// copies a file whole whose end does not match, and leaves alone one a
// finished copy left (same size and modification time); both ways.
func TestCpResume(t *testing.T) {
	login, dir := cpEnv(t)
	data := make([]byte, 3<<20+5)
	rand.Read(data)
	src := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(src, data, 0o640); err != nil {
		t.Fatal(err)
	}
	srcTime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(src, srcTime, srcTime); err != nil {
		t.Fatal(err)
	}
	// marked is data[:n] with its first byte changed; endDiffers, with its
	// last byte changed too.
	marked := func(n int) []byte { b := slices.Clone(data[:n]); b[0] ^= 0xff; return b }
	endDiffers := marked(1 << 20)
	endDiffers[len(endDiffers)-1] ^= 0xff
	for _, way := range []struct {
		name string
		args func(dst string) []string
	}{
		{"up", func(dst string) []string { return []string{"cp", "--resume", "-l", login, src, "web-1:" + dst} }},
		{"down", func(dst string) []string { return []string{"cp", "--resume", "-l", login, "web-1:" + src, dst} }},
	} {
		for _, tt := range []struct {
			name       string
			dst        []byte
			dstTime    time.Time
			want       []byte
			wantStderr string
		}{
			{"partial", marked(1 << 20), time.Now(), append(marked(1<<20), data[1<<20:]...), ""},
			{"partial, end differs", endDiffers, time.Now(), data, "is not the start of"},
			{"finished", marked(len(data)), srcTime, marked(len(data)), ""},
			{"same size, other time", marked(len(data)), time.Now(), data, ""},
			{"longer", append(slices.Clone(data), 'x'), time.Now(), data, ""},
			{"partial, source changed since", marked(1 << 20), srcTime.Add(-time.Hour), data, "changed after"},
		} {
			dst := filepath.Join(dir, way.name+"-"+strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(dst, tt.dst, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(dst, tt.dstTime, tt.dstTime); err != nil {
				t.Fatal(err)
			}
			_, errOut, code := burrowCLI(t, way.args(dst)...)
			if code != 0 {
				t.Fatalf("%s, %s: exit %d: %s", way.name, tt.name, code, errOut)
			}
			got, err := os.ReadFile(dst)
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("%s, %s: %d bytes (%v), not what --resume should leave", way.name, tt.name, len(got), err)
			}
			if !strings.Contains(errOut, tt.wantStderr) || (tt.wantStderr == "" && errOut != "") {
				t.Errorf("%s, %s: stderr %q, want %q", way.name, tt.name, errOut, tt.wantStderr)
			}
			if st, err := os.Stat(dst); err != nil || st.Mode().Perm() != 0o640 || !st.ModTime().Equal(srcTime) {
				t.Errorf("%s, %s: mode and time %v, %v; want 0640 and %v", way.name, tt.name, st.Mode().Perm(), st.ModTime(), srcTime)
			}
		}
	}
}

// TestCpSmallAndPipes: --resume with a file shorter than what it checks,
// and with an empty one; a copy from a named pipe streams (no seek).
func TestCpSmallAndPipes(t *testing.T) {
	login, dir := cpEnv(t)

	small := filepath.Join(dir, "small")
	data := make([]byte, 10_000)
	rand.Read(data)
	if err := os.WriteFile(small, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Shorter than resumeCheck: all of the partial copy is compared.
	dst := filepath.Join(dir, "small-up")
	for _, tt := range []struct {
		flip       bool
		wantStderr string
	}{{false, ""}, {true, "is not the start of"}} {
		partial := slices.Clone(data[:4000])
		if tt.flip {
			partial[0] ^= 0xff
		}
		if err := os.WriteFile(dst, partial, 0o644); err != nil {
			t.Fatal(err)
		}
		_, errOut, code := burrowCLI(t, "cp", "--resume", "-l", login, small, "web-1:"+dst)
		if code != 0 {
			t.Fatalf("cp --resume of a small file: %d %s", code, errOut)
		}
		if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) || !strings.Contains(errOut, tt.wantStderr) || (tt.wantStderr == "" && errOut != "") {
			t.Errorf("cp --resume of a small file (first byte changed: %v): %d bytes, stderr %q", tt.flip, len(got), errOut)
		}
	}

	empty, emptyDst := filepath.Join(dir, "empty"), filepath.Join(dir, "empty-up")
	os.WriteFile(empty, nil, 0o644)
	os.WriteFile(emptyDst, []byte("old"), 0o644)
	if _, errOut, code := burrowCLI(t, "cp", "--resume", "-l", login, empty, "web-1:"+emptyDst); code != 0 {
		t.Fatalf("cp --resume of an empty file: %d %s", code, errOut)
	}
	if st, err := os.Stat(emptyDst); err != nil || st.Size() != 0 {
		t.Errorf("cp --resume of an empty file over a longer one: %v, %v", st, err)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.Write(data)
		f.Close()
	}()
	fromPipe := filepath.Join(dir, "from-pipe")
	if _, errOut, code := burrowCLI(t, "cp", "-l", login, fifo, "web-1:"+fromPipe); code != 0 {
		t.Fatalf("cp from a named pipe: %d %s", code, errOut)
	}
	if got, _ := os.ReadFile(fromPipe); !bytes.Equal(got, data) {
		t.Errorf("cp from a named pipe: %d bytes, want %d", len(got), len(data))
	}

	// A file that stats as empty but holds bytes (/proc), as scp copies it.
	want, err := os.ReadFile("/proc/version")
	if err != nil {
		t.Skip(err)
	}
	procDst := filepath.Join(dir, "version")
	if _, errOut, code := burrowCLI(t, "cp", "-l", login, "web-1:/proc/version", procDst); code != 0 {
		t.Fatalf("cp web-1:/proc/version: %d %s", code, errOut)
	}
	if got, _ := os.ReadFile(procDst); !bytes.Equal(got, want) {
		t.Errorf("cp web-1:/proc/version: %q, want %q", got, want)
	}
}

// cpEnv starts a controller and an agent with target web-1 for the CLI,
// and returns the login to copy as and a scratch folder.
func cpEnv(t *testing.T) (login, dir string) {
	s := burrowtest.Start(t)
	s.StartAgent("web-1", nil)
	cliEnv(t, s)
	return burrowtest.AdminLogins()[0], t.TempDir()
}

// TestCpTreeKeepsTimes: cp -r keeps the modification times of folders
// both ways, not only of files.
func TestCpTreeKeepsTimes(t *testing.T) {
	login, dir := cpEnv(t)
	src := filepath.Join(dir, "tree")
	old := time.Date(2019, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "sub", "f"), []byte("x"), 0o644)
	// Links: to a file, copied as the file (as scp -r does); to a folder,
	// skipped with a note.
	os.Symlink("sub/f", filepath.Join(src, "link"))
	os.Symlink("sub", filepath.Join(src, "dirlink"))
	for _, d := range []string{filepath.Join(src, "sub"), src} {
		if err := os.Chtimes(d, old, old); err != nil {
			t.Fatal(err)
		}
	}
	up, down := filepath.Join(dir, "up"), filepath.Join(dir, "down")
	_, errOut, code := burrowCLI(t, "cp", "-r", "-l", login, src, "web-1:"+up)
	if code != 0 {
		t.Fatalf("cp -r up: %d %s", code, errOut)
	}
	if !strings.Contains(errOut, "skipping "+filepath.Join(src, "dirlink")) {
		t.Errorf("cp -r up: no note of the skipped folder link: %q", errOut)
	}
	checkTimes := func(dirs ...string) {
		t.Helper()
		for _, d := range dirs {
			if fi, err := os.Stat(d); err != nil || !fi.ModTime().Equal(old) {
				t.Errorf("%s: modified %v, want %v (%v)", d, fi.ModTime(), old, err)
			}
		}
	}
	checkTimes(up, filepath.Join(up, "sub"))
	os.Symlink("sub", filepath.Join(up, "dirlink")) // for the way down
	os.Chtimes(up, old, old)
	if _, errOut, code = burrowCLI(t, "cp", "-r", "-l", login, "web-1:"+up, down); code != 0 {
		t.Fatalf("cp -r down: %d %s", code, errOut)
	}
	if !strings.Contains(errOut, "skipping "+filepath.Join(up, "dirlink")) {
		t.Errorf("cp -r down: no note of the skipped folder link: %q", errOut)
	}
	os.Remove(filepath.Join(up, "dirlink"))
	for _, d := range []string{up, down} {
		if fi, err := os.Lstat(filepath.Join(d, "link")); err != nil || !fi.Mode().IsRegular() || fi.Size() != 1 {
			t.Errorf("%s/link: %v, %v; want the file it links to", d, fi, err)
		}
		if _, err := os.Lstat(filepath.Join(d, "dirlink")); !os.IsNotExist(err) {
			t.Errorf("%s/dirlink: %v; want it skipped", d, err)
		}
	}
	checkTimes(down, filepath.Join(down, "sub"))
}

// TestTargetsShowPolicy: the PORTS column shows the controller's policy
// where one narrows the agent's lists.
func TestTargetsShowPolicy(t *testing.T) {
	s := burrowtest.Start(t)
	s.StartAgent("web-1", nil)
	s.StartAgent("web-2", nil)
	cliEnv(t, s)
	if _, err := s.Client(s.AdminToken).SetPolicy(t.Context(), apitype.Policy{Target: "web-1", Deny: "22,5900"}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := burrowCLI(t, "targets")
	if code != 0 {
		t.Fatalf("targets: %d %s", code, errOut)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^web-1 .* all; controller: all except 22,5900 `),
		regexp.MustCompile(`(?m)^web-2 .* all\s*$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("targets lacks %v:\n%s", want, out)
		}
	}
}

// onTerminal runs the CLI with standard error on a pseudo-terminal and
// returns its exit status and what it drew there.
func onTerminal(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	var drawn lockedBuffer
	copied := make(chan struct{})
	go func() { io.Copy(&drawn, ptmx); close(copied) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	code := Main(ctx, args, io.Discard, tty)
	cancel()
	tty.Close()
	<-copied
	ptmx.Close()
	return code, drawn.String()
}

// TestCpGlob: a remote source may be a pattern, as with scp; one that
// matches nothing, and a destination "DIR/" that is a file, are refused
// with what is wrong.
func TestCpGlob(t *testing.T) {
	login, dir := cpEnv(t)
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.Mkdir(src, 0o755)
	os.Mkdir(dst, 0o755)
	for _, n := range []string{"a1", "a2", "b"} {
		os.WriteFile(filepath.Join(src, n), []byte(n), 0o644)
	}
	if _, errOut, code := burrowCLI(t, "cp", "-l", login, "web-1:"+src+"/a*", dst); code != 0 {
		t.Fatalf("cp web-1:…/a*: %d %s", code, errOut)
	}
	got, _ := filepath.Glob(filepath.Join(dst, "*"))
	if len(got) != 2 || filepath.Base(got[0]) != "a1" || filepath.Base(got[1]) != "a2" {
		t.Errorf("cp web-1:…/a* copied %q", got)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cp", "-l", login, "web-1:" + src + "/zz*", dst}, "nothing matches"},
		{[]string{"cp", "-l", login, "web-1:" + src + "/a1", file + "/"}, file + "/: not a directory"},
	} {
		if _, errOut, code := burrowCLI(t, c.args...); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("burrow %s: code %d, stderr %q; want it to say %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
}
