package sshd

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

func TestPTY(t *testing.T) {
	e := newEnv(t, nil)
	needShell(t, e)
	c := e.dial(t)
	s := newSession(t, c)
	modes := ssh.TerminalModes{ssh.ECHO: 0, ssh.ICRNL: 1, ssh.VINTR: 3, ssh.VEOF: 4, ssh.CS8: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	if err := s.RequestPty("xterm-burrow", 40, 100, modes); err != nil {
		t.Fatal(err)
	}
	out, err := s.Output(`stty size; tty; echo "$TERM"; echo "$SSH_TTY"; stty -a`)
	if err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	lines := strings.Split(string(out), "\r\n")
	if len(lines) < 5 {
		t.Fatalf("output %q", out)
	}
	if lines[0] != "40 100" {
		t.Errorf("stty size: %q, want 40 100", lines[0])
	}
	if !strings.HasPrefix(lines[1], "/dev/pts/") || lines[3] != lines[1] {
		t.Errorf("tty %q, SSH_TTY %q", lines[1], lines[3])
	}
	if lines[2] != "xterm-burrow" {
		t.Errorf("TERM %q", lines[2])
	}
	stty := strings.Join(lines[4:], " ")
	for _, want := range []string{" -echo ", " icrnl ", "intr = ^C", "eof = ^D", " cs8 "} {
		if !strings.Contains(" "+stty+" ", want) {
			t.Errorf("stty -a lacks %q: %s", want, stty)
		}
	}
}

func TestPTYBadRequests(t *testing.T) {
	e := newEnv(t, nil)
	s := newSession(t, e.dial(t))
	for _, req := range []ptyRequest{
		{Term: "xterm", Cols: 80, Rows: 24, Modes: "\x35\x00\x00"}, // ECHO, truncated
		{Term: "xterm\x00", Cols: 80, Rows: 24},
	} {
		if ok, err := s.SendRequest("pty-req", true, ssh.Marshal(req)); ok || err != nil {
			t.Errorf("pty-req %+v: %v, %v; want refused", req, ok, err)
		}
	}
	if ok, err := s.SendRequest("pty-req", true, []byte("junk")); ok || err != nil {
		t.Errorf("malformed pty-req: %v, %v; want refused", ok, err)
	}
}

func TestPTYNotPermitted(t *testing.T) {
	e := newEnv(t, nil)
	key := e.certFor(t, e.ca, func(c *ssh.Certificate) { delete(c.Extensions, "permit-pty") })
	c, _, err := e.connect(t, e.login, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := newSession(t, c).RequestPty("xterm", 24, 80, nil); err == nil {
		t.Error("pty-req granted without permit-pty")
	}
}

// TestWindowChange resizes the terminal while a command runs; the command
// sees the new size.
func TestWindowChange(t *testing.T) {
	e := newEnv(t, nil)
	needShell(t, e)
	s := newSession(t, e.dial(t))
	if err := s.RequestPty("xterm", 40, 100, ssh.TerminalModes{ssh.ECHO: 0}); err != nil {
		t.Fatal(err)
	}
	stdin, _ := s.StdinPipe()
	stdout, _ := s.StdoutPipe()
	if err := s.Start("stty size; read line; stty size"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, stdout, "40 100\r\n")
	if err := s.WindowChange(50, 120); err != nil {
		t.Fatal(err)
	}
	// Requests on a channel are handled in order: once this one is
	// answered, the window change has been applied.
	if _, err := s.SendRequest("keepalive@openssh.com", true, nil); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "\n")
	readUntil(t, stdout, "50 120\r\n")
	if err := waitFor(t, "stty", s.Wait); err != nil {
		t.Error(err)
	}
}

// TestCtrlC types Ctrl-C at a running command: the terminal turns it into
// SIGINT for the foreground process group.
func TestCtrlC(t *testing.T) { testCtrlC(t) }

func testCtrlC(t *testing.T) {
	e := newEnv(t, nil)
	needShell(t, e)
	s := newSession(t, e.dial(t))
	if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{ssh.ECHO: 0}); err != nil {
		t.Fatal(err)
	}
	stdin, _ := s.StdinPipe()
	stdout, _ := s.StdoutPipe()
	if err := s.Start("echo ready; sleep 100; echo survived"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, stdout, "ready\r\n")
	stdin.Write([]byte{3})
	rest, _ := io.ReadAll(stdout)
	err := waitFor(t, "sleep", s.Wait)
	if got := outcome(err); got != "signal INT" && got != "status 130" {
		t.Errorf("after Ctrl-C: %s", got)
	}
	if strings.Contains(string(rest), "survived") {
		t.Error("the shell went on after Ctrl-C")
	}
}

// TestSignalPTY sends a signal request to a command on a terminal: it
// reaches the terminal's foreground process group.
func TestSignalPTY(t *testing.T) {
	e := newEnv(t, nil)
	needShell(t, e)
	s := newSession(t, e.dial(t))
	if err := s.RequestPty("xterm", 24, 80, nil); err != nil {
		t.Fatal(err)
	}
	stdout, _ := s.StdoutPipe()
	// Starting the command answers the exec request only once it runs, so
	// the signal cannot come too early.
	if err := s.Start("sleep 100"); err != nil {
		t.Fatal(err)
	}
	if err := s.Signal(ssh.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	err := waitFor(t, "sleep", s.Wait)
	if got := outcome(err); got != "signal TERM" && got != "status 143" {
		t.Errorf("after TERM: %s", got)
	}
}

// TestShell runs the login shell on a terminal and types into it.
func TestShell(t *testing.T) {
	e := newEnv(t, nil)
	needShell(t, e)
	s := newSession(t, e.dial(t))
	if err := s.RequestPty("dumb", 24, 80, ssh.TerminalModes{ssh.ECHO: 0}); err != nil {
		t.Fatal(err)
	}
	stdin, _ := s.StdinPipe()
	stdout, _ := s.StdoutPipe()
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "echo sh''ell-$((6*7)); exit 3\n")
	readUntil(t, stdout, "shell-42")
	go io.Copy(io.Discard, stdout)
	if got := outcome(waitFor(t, "shell", s.Wait)); got != "status 3" {
		t.Errorf("shell: %s, want status 3", got)
	}
}

// TestHangup ends a connection whose command still runs, stopped: the
// command is hung up on (SIGHUP, and SIGCONT so that a stopped program
// sees it), and its background job too.
func TestHangup(t *testing.T) { testHangup(t) }

func testHangup(t *testing.T) {
	for _, pty := range []bool{false, true} {
		t.Run(map[bool]string{false: "pipes", true: "pty"}[pty], func(t *testing.T) {
			var warnings strings.Builder
			e := newEnv(t, func(o *Options) {
				o.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &warnings}, &slog.HandlerOptions{Level: slog.LevelWarn}))
			})
			needShell(t, e)
			s := newSession(t, e.dial(t))
			if pty {
				if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{ssh.ECHO: 0}); err != nil {
					t.Fatal(err)
				}
			}
			stdout, _ := s.StdoutPipe()
			mark := filepath.Join(t.TempDir(), "hup")
			// The trap is set after the fork: a child forked with it set and
			// hung up on before its exec would run the trap, not die.
			if err := s.Start(`sleep 100 & trap "echo hup > '` + mark + `'; exit" HUP; echo "ready $!"; wait`); err != nil {
				t.Fatal(err)
			}
			line := readUntil(t, stdout, "\n")
			sleepPID, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ready ")))
			sleepDone := watchExit(t, sleepPID)
			if err := s.Signal(ssh.Signal("STOP")); err != nil {
				t.Fatal(err)
			}
			s.Close()
			// Close waits until the program has been reported: the
			// shell and its background sleep have ended.
			e.srv.Close()
			if b, err := os.ReadFile(mark); err != nil || string(b) != "hup\n" {
				t.Errorf("the shell did not run its HUP trap: %q, %v", b, err)
			}
			// On a terminal, the session does not wait for background
			// jobs (as OpenSSH does not); the hangup ends them.
			if !sleepDone() {
				t.Errorf("background sleep %d outlived its session by %v", sleepPID, waitLong)
			}
			if warnings.Len() > 0 {
				t.Errorf("server warned: %s", warnings.String())
			}
		})
	}
}

// watchExit returns a function that waits until process pid has exited,
// up to waitLong, and says whether it did. (It may be no child of ours.)
func watchExit(tb testing.TB, pid int) func() bool {
	tb.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		tb.Fatalf("pidfd_open %d: %v", pid, err)
	}
	return func() bool {
		defer unix.Close(fd)
		for {
			n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(waitLong.Milliseconds()))
			if err != unix.EINTR {
				return err == nil && n == 1
			}
		}
	}
}

// lockedWriter serialises writes from the server's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestIgnoredSignals runs the Ctrl-C and hangup tests in a copy of this
// test binary started with SIGINT and SIGHUP ignored, as under nohup or as
// a background job of a script: the programs it runs must not inherit that.
func TestIgnoredSignals(t *testing.T) {
	if os.Getenv("BURROW_SSHD_IGNORED_SIGNALS") == "" {
		if testing.Short() {
			t.Skip("-short")
		}
		cmd := exec.Command("/bin/sh", "-c", `trap "" HUP INT; exec "$0" "$@"`,
			os.Args[0], "-test.run=^TestIgnoredSignals$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "BURROW_SSHD_IGNORED_SIGNALS=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestIgnoredSignals")) {
			t.Errorf("with SIGINT and SIGHUP ignored: %v\n%s", err, out)
		}
		return
	}
	if !signal.Ignored(syscall.SIGINT) || !signal.Ignored(syscall.SIGHUP) {
		t.Fatal("started without SIGINT and SIGHUP ignored")
	}
	t.Run("ctrl-c", testCtrlC)
	t.Run("hangup", testHangup)
}
