package sshd

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestExitStatus(t *testing.T) {
	e := newEnv(t, nil)
	needShell(t, e)
	c := e.dial(t)
	tests := []struct{ command, want string }{
		{"true", "ok"},
		{"exit 42", "status 42"},
		{"exit 255", "status 255"},
		{"kill -TERM $$", "signal TERM"},
		{"kill -KILL $$", "signal KILL"},
		{"kill -USR1 $$", "signal USR1"},
		{"exec /burrow/does/not/exist", "status 127"},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			s := newSession(t, c)
			err := waitFor(t, tt.command, func() error { return s.Run(tt.command) })
			if got := outcome(err); got != tt.want {
				t.Errorf("%s: %s, want %s", tt.command, got, tt.want)
			}
		})
	}
}

// TestOutputSeparate sends 10 MiB on stdout and 10 MiB on stderr at once:
// both arrive whole, neither mixed into the other.
func TestOutputSeparate(t *testing.T) {
	e := newEnv(t, nil)
	needShell(t, e)
	s := newSession(t, e.dial(t))
	const size = 10 << 20
	outHash, errHash := sha256.New(), sha256.New()
	var outN, errN countWriter
	s.Stdout = io.MultiWriter(outHash, &outN)
	s.Stderr = io.MultiWriter(errHash, &errN)
	cmd := fmt.Sprintf("yes stdout | head -c %d & yes stderr | head -c %d >&2; wait", size, size)
	if err := waitFor(t, "output", func() error { return s.Run(cmd) }); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if outN != size || errN != size {
		t.Fatalf("got %d bytes on stdout and %d on stderr, want %d each", outN, errN, size)
	}
	if got, want := outHash.Sum(nil), yesHash("stdout\n", size); !bytes.Equal(got, want) {
		t.Error("stdout differs from what the command wrote")
	}
	if got, want := errHash.Sum(nil), yesHash("stderr\n", size); !bytes.Equal(got, want) {
		t.Error("stderr differs from what the command wrote")
	}
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// yesHash is the SHA-256 of `yes` printing line, cut at size bytes.
func yesHash(line string, size int) []byte {
	h := sha256.New()
	block := []byte(strings.Repeat(line, 4096))
	for size > 0 {
		n := min(size, len(block))
		h.Write(block[:n])
		size -= n
	}
	return h.Sum(nil)
}

func TestStdin(t *testing.T) {
	e := newEnv(t, nil)
	needShell(t, e)
	c := e.dial(t)

	t.Run("cat", func(t *testing.T) {
		in := make([]byte, 1<<20)
		rand.Read(in)
		s := newSession(t, c)
		s.Stdin = bytes.NewReader(in)
		var out bytes.Buffer
		s.Stdout = &out
		// cat ends only when the client's EOF closes its stdin.
		if err := waitFor(t, "cat", func() error { return s.Run("cat") }); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), in) {
			t.Errorf("cat echoed %d bytes, not the %d sent", out.Len(), len(in))
		}
	})
	t.Run("sh -s", func(t *testing.T) {
		s := newSession(t, c)
		s.Stdin = strings.NewReader("echo from the script\necho on stderr >&2\nexit 7\necho not reached\n")
		var out, errOut bytes.Buffer
		s.Stdout, s.Stderr = &out, &errOut
		err := waitFor(t, "sh -s", func() error { return s.Run("sh -s") })
		if got := outcome(err); got != "status 7" {
			t.Errorf("sh -s: %s, want status 7", got)
		}
		if out.String() != "from the script\n" || errOut.String() != "on stderr\n" {
			t.Errorf("stdout %q, stderr %q", out.String(), errOut.String())
		}
	})
	t.Run("no stdin", func(t *testing.T) {
		s := newSession(t, c)
		out, err := s.Output("wc -c")
		if err != nil || strings.TrimSpace(string(out)) != "0" {
			t.Errorf("wc -c with nothing on stdin: %q, %v", out, err)
		}
	})
}

func TestEnvironment(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.EnvAllow = []string{"BURROW_TEST_*", "EXACT"} })
	needShell(t, e)
	c := e.dial(t)
	s := newSession(t, c)
	for k, v := range map[string]string{
		"LANG": "C.UTF-8", "LC_ALL": "C", "BURROW_TEST_X": "x y", "EXACT": "1",
	} {
		if err := s.Setenv(k, v); err != nil {
			t.Errorf("setenv %s: %v", k, err)
		}
	}
	for _, k := range []string{"FOO", "LD_PRELOAD", "PATH", "HOME", "EXACTLY", "", "A=B", "LC_\x00"} {
		if err := s.Setenv(k, "/tmp/evil"); err == nil {
			t.Errorf("setenv %q accepted", k)
		}
	}
	if err := s.Setenv("LANG", "C\x00"); err == nil {
		t.Error("a value with NUL accepted")
	}
	out, err := s.Output(`printf '%s|' "$LANG" "$LC_ALL" "$BURROW_TEST_X" "$EXACT" "$FOO" "$USER" "$HOME" "$SSH_TTY"`)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("C.UTF-8|C|x y|1||%s|%s||", e.login, e.home)
	if string(out) != want {
		t.Errorf("environment %q, want %q", out, want)
	}

	// env after the program started is refused, not raced with it.
	s = newSession(t, c)
	stdin, _ := s.StdinPipe()
	if err := s.Start("cat"); err != nil {
		t.Fatal(err)
	}
	if err := s.Setenv("LANG", "C"); err == nil {
		t.Error("setenv after exec accepted")
	}
	stdin.Close()
	s.Wait()
}

// TestOneProgram checks a session runs one program: a second exec, shell
// or subsystem, or a pty-req once it runs, is refused.
func TestOneProgram(t *testing.T) {
	e := newEnv(t, nil)
	needShell(t, e)
	s := newSession(t, e.dial(t))
	stdin, _ := s.StdinPipe()
	if err := s.Start("cat"); err != nil {
		t.Fatal(err)
	}
	for _, req := range []struct {
		name    string
		payload []byte
	}{
		{"exec", ssh.Marshal(execRequest{"true"})},
		{"shell", nil},
		{"subsystem", ssh.Marshal(execRequest{"sftp"})},
		{"pty-req", ssh.Marshal(ptyRequest{Term: "xterm", Cols: 80, Rows: 24})},
		{"window-change", ssh.Marshal(windowChange{Cols: 80, Rows: 24})}, // no PTY
		{"signal", ssh.Marshal(signalRequest{"NOSUCH"})},
		{"x-unknown@example.com", nil},
	} {
		if ok, err := s.SendRequest(req.name, true, req.payload); ok || err != nil {
			t.Errorf("%s while cat runs: %v, %v; want refused", req.name, ok, err)
		}
	}
	stdin.Close()
	if err := waitFor(t, "cat", s.Wait); err != nil {
		t.Error(err)
	}
}

// TestSignalNoPTY sends INT to a command without a terminal: it reaches
// the command's process group, not only the shell.
func TestSignalNoPTY(t *testing.T) {
	e := newEnv(t, nil)
	needShell(t, e)
	s := newSession(t, e.dial(t))
	out, _ := s.StdoutPipe()
	if err := s.Start("echo ready; sleep 100; echo survived"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, out, "ready\n")
	if err := s.Signal(ssh.SIGINT); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(out)
	err := waitFor(t, "sleep", s.Wait)
	if got := outcome(err); got != "signal INT" && got != "status 130" {
		t.Errorf("after INT: %s", got)
	}
	if strings.Contains(string(rest), "survived") {
		t.Error("the shell went on after INT")
	}
}
