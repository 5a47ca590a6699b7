package sshd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// Request payloads of RFC 4254 §6 and OpenSSH's PROTOCOL file.
type (
	ptyRequest struct {
		Term              string
		Cols, Rows        uint32
		WidthPx, HeightPx uint32
		Modes             string
	}
	windowChange struct {
		Cols, Rows        uint32
		WidthPx, HeightPx uint32
	}
	envRequest    struct{ Name, Value string }
	execRequest   struct{ Command string }
	signalRequest struct{ Name string }
	exitStatus    struct{ Status uint32 }
	exitSignal    struct {
		Signal     string
		CoreDumped bool
		Error      string
		Lang       string
	}
)

// session is one "session" channel: at most one shell, command or
// subsystem, with the requests that prepare and steer it.
type session struct {
	c  *conn
	ch ssh.Channel

	mu      sync.Mutex
	env     []string // accepted client variables, "K=V"
	pty     *ptyRequest
	term    *terminal   // set once a PTY is open
	proc    *os.Process // while running
	outputs []*os.File  // the program's output pipes or terminal
	agent   *agentSocket
	started bool
	done    chan struct{} // closed when the program has ended and been reported
}

func (c *conn) session(nc ssh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	s := &session{c: c, ch: ch, done: make(chan struct{})}
	defer s.cleanup()
	for r := range reqs {
		ok, then := s.handle(r)
		if r.WantReply {
			r.Reply(ok, nil)
		}
		if then != nil {
			then() // in order with the requests that follow
		}
	}
}

// handle answers one channel request; then, if not nil, runs after the
// reply was sent (a program's output must not overtake its reply, nor a
// program's end close the channel before a signal's reply), before the
// next request is read. It must not block.
func (s *session) handle(r *ssh.Request) (ok bool, then func()) {
	switch r.Type {
	case "pty-req":
		return s.ptyReq(r.Payload), nil
	case "env":
		return s.setenv(r.Payload), nil
	case "window-change":
		return s.windowChange(r.Payload), nil
	case "signal":
		var sig signalRequest
		if ssh.Unmarshal(r.Payload, &sig) != nil {
			return false, nil
		}
		// Delivered after the reply: the program may end at once, and its
		// exit closes the channel, which would leave the reply unsent.
		kill, err := s.signal(sig.Name)
		return err == nil, kill
	case "auth-agent-req@openssh.com":
		if !s.c.permits("permit-agent-forwarding") {
			return false, nil
		}
		return s.forwardAgent() == nil, nil
	case "keepalive@openssh.com":
		return true, nil
	case "shell":
		return s.begin(func() func() {
			s.c.event(EventShell, "", nil)
			return s.start(program{kind: "shell"})
		})
	case "exec":
		var e execRequest
		if ssh.Unmarshal(r.Payload, &e) != nil {
			return false, nil
		}
		return s.begin(func() func() {
			s.c.event(EventExec, e.Command, nil)
			return s.start(program{kind: "exec", command: e.Command})
		})
	case "subsystem":
		var e execRequest
		if ssh.Unmarshal(r.Payload, &e) != nil || e.Command != "sftp" {
			return false, nil
		}
		return s.begin(func() func() {
			s.c.event(EventSFTP, e.Command, nil)
			return s.sftp()
		})
	default:
		return false, nil
	}
}

// ptyReq records a pty-req: once, before the program starts, with modes
// that parse and a TERM that can be put in an environment.
func (s *session) ptyReq(payload []byte) bool {
	var p ptyRequest
	if ssh.Unmarshal(payload, &p) != nil || !s.c.permits("permit-pty") || strings.IndexByte(p.Term, 0) >= 0 {
		return false
	}
	if _, err := parseModes([]byte(p.Modes)); err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.pty != nil {
		return false
	}
	s.pty = &p
	return true
}

// setenv records an allowed variable for the program not yet started. A
// value with a NUL byte would make the program fail to start.
func (s *session) setenv(payload []byte) bool {
	var e envRequest
	if ssh.Unmarshal(payload, &e) != nil || !s.envAllowed(e.Name) || strings.IndexByte(e.Value, 0) >= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return false
	}
	s.env = append(s.env, e.Name+"="+e.Value)
	return true
}

func (s *session) windowChange(payload []byte) bool {
	var w windowChange
	if ssh.Unmarshal(payload, &w) != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pty == nil {
		return false
	}
	s.pty.Cols, s.pty.Rows, s.pty.WidthPx, s.pty.HeightPx = w.Cols, w.Rows, w.WidthPx, w.HeightPx
	if s.term != nil {
		s.term.resize(s.pty)
	}
	return true
}

// begin claims the session for one program and starts it before the
// reply, so that signals and window changes the client sends once the
// reply came reach it. start returns what relays the program's input and
// output and reports its end, which runs after the reply.
func (s *session) begin(start func() (relay func())) (bool, func()) {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return false, nil
	}
	s.started = true
	s.mu.Unlock()
	relay := start()
	return true, func() {
		go func() {
			defer close(s.done)
			relay()
		}()
	}
}

func (s *session) envAllowed(name string) bool {
	if name == "" || strings.ContainsAny(name, "=\x00") {
		return false
	}
	allow := append([]string{"LANG", "LC_*", "TERM", "COLORTERM"}, s.c.srv.opts.EnvAllow...)
	for _, pat := range allow {
		if p, ok := strings.CutSuffix(pat, "*"); ok && strings.HasPrefix(name, p) || pat == name {
			return true
		}
	}
	return false
}

// signal delivers a signal named as in RFC 4254 ("INT", "TERM", ...) to
// the program's foreground process group: the terminal's, or the
// session's own group without a terminal.
func (s *session) signal(name string) (kill func(), err error) {
	sig := unix.SignalNum("SIG" + name)
	if sig == 0 {
		return nil, fmt.Errorf("unknown signal %q", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil, errors.New("nothing is running")
	}
	pgid := s.proc.Pid
	if s.term != nil {
		if fg, err := s.term.foreground(); err == nil && fg > 0 {
			pgid = fg
		}
	}
	return func() { unix.Kill(-pgid, sig) }, nil
}

// exit reports how the program ended (RFC 4254 §6.10), then ends the
// channel: exit-status or exit-signal first, then EOF, then close. A
// program that could not start (state nil) is reported as status 1, its
// error on stderr.
func (s *session) exit(state *os.ProcessState, err error) {
	var status int
	detail := ""
	switch ws := waitStatus(state); {
	case state == nil:
		if err != nil {
			fmt.Fprintf(s.ch.Stderr(), "burrow: %v\r\n", err)
			status, detail = 1, err.Error()
		}
		s.ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{Status: uint32(status)}))
	case ws.Signaled():
		name := signalName(ws.Signal())
		status, detail = 128+int(ws.Signal()), "signal "+name
		s.ch.SendRequest("exit-signal", false, ssh.Marshal(exitSignal{Signal: name, CoreDumped: ws.CoreDump()}))
	default:
		status = state.ExitCode()
		s.ch.SendRequest("exit-status", false, ssh.Marshal(exitStatus{Status: uint32(status)}))
	}
	s.c.event(EventExit, detail, &status)
	s.ch.CloseWrite()
	s.ch.Close()
}

func waitStatus(state *os.ProcessState) syscall.WaitStatus {
	if state == nil {
		return 0
	}
	ws, _ := state.Sys().(syscall.WaitStatus)
	return ws
}

// signalName names sig as RFC 4254 does ("TERM"); a signal the system
// has no name for is "SIG@openssh.com", as OpenSSH sends.
func signalName(sig syscall.Signal) string {
	if name, ok := strings.CutPrefix(unix.SignalName(sig), "SIG"); ok {
		return name
	}
	return "SIG@openssh.com"
}

// cleanup runs when the channel is closed or the connection gone. A
// program still running is hung up on as a terminal hangup would: its
// terminal closed, SIGHUP and SIGCONT to its process group. If it has not
// ended 5s later, the group is killed and its outputs closed, since a
// daemon may hold them open forever.
func (s *session) cleanup() {
	s.ch.Close()
	s.mu.Lock()
	proc, term, started, agent := s.proc, s.term, s.started, s.agent
	s.mu.Unlock()
	if agent != nil {
		agent.close()
	}
	if !started {
		return
	}
	if term != nil {
		term.ptmx.Close()
	}
	if proc != nil {
		unix.Kill(-proc.Pid, unix.SIGHUP)
		unix.Kill(-proc.Pid, unix.SIGCONT) // a stopped program must see its SIGHUP
	}
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.c.log.Warn("ssh program outlived its hangup by 5s; killing it")
		s.mu.Lock()
		if s.proc != nil {
			unix.Kill(-s.proc.Pid, unix.SIGKILL)
		}
		outs := s.outputs
		s.mu.Unlock()
		closeAll(outs...)
		<-s.done
	}
}

// copyOut copies a program's output to the channel and reports when done.
func copyOut(w io.Writer, r io.Reader, wg *sync.WaitGroup) {
	defer wg.Done()
	io.Copy(w, r)
}
