package sshd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// account is what a login needs from the user database.
type account struct {
	name, home, shell string
	uid, gid          uint32
	groups            []uint32
}

func lookupAccount(login string) (*account, error) {
	u, err := user.Lookup(login)
	if err != nil {
		return nil, fmt.Errorf("user %q does not exist here", login)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %q has a non-numeric uid or gid", login)
	}
	a := &account{name: u.Username, home: u.HomeDir, uid: uint32(uid), gid: uint32(gid), shell: loginShell(login)}
	ids, _ := u.GroupIds()
	for _, g := range ids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			a.groups = append(a.groups, uint32(n))
		}
	}
	return a, nil
}

// loginShell finds the user's shell: getent covers NSS sources (LDAP,
// sssd) that the pure-Go user lookup does not; /etc/passwd is the fallback.
func loginShell(login string) string {
	if out, err := exec.Command("getent", "passwd", "--", login).Output(); err == nil {
		if sh := passwdShell(strings.TrimSpace(string(out)), login); sh != "" {
			return sh
		}
	}
	if f, err := os.Open("/etc/passwd"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if sh := passwdShell(sc.Text(), login); sh != "" {
				return sh
			}
		}
	}
	return "/bin/sh"
}

// passwdShell returns the shell field of a passwd line for login, or "".
func passwdShell(line, login string) string {
	f := strings.Split(line, ":")
	if len(f) != 7 || f[0] != login || !filepath.IsAbs(f[6]) {
		return ""
	}
	return f[6]
}

// program is what a session runs.
type program struct {
	kind    string // "shell", "exec" or "subsystem"
	command string // for exec
	argv    []string
}

// command builds the process for p as the session's user.
func (s *session) command(acct *account, p program) *exec.Cmd {
	var cmd *exec.Cmd
	switch p.kind {
	case "shell": // a login shell: argv[0] starts with '-'
		cmd = &exec.Cmd{Path: acct.shell, Args: []string{"-" + filepath.Base(acct.shell)}}
	case "exec":
		cmd = &exec.Cmd{Path: acct.shell, Args: []string{filepath.Base(acct.shell), "-c", p.command}}
	default:
		cmd = &exec.Cmd{Path: p.argv[0], Args: p.argv}
	}
	cmd.Env = s.environ(acct)
	cmd.Dir = acct.home
	if st, err := os.Stat(acct.home); err != nil || !st.IsDir() {
		cmd.Dir = "/"
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if s.c.srv.root {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: acct.uid, Gid: acct.gid, Groups: acct.groups}
	}
	return cmd
}

// environ is the program's environment: the login's own variables, then
// the client's accepted ones (which cannot override the former).
func (s *session) environ(acct *account) []string {
	path := "/usr/local/bin:/usr/bin:/bin"
	if acct.uid == 0 {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env := []string{
		"HOME=" + acct.home, "USER=" + acct.name, "LOGNAME=" + acct.name,
		"SHELL=" + acct.shell, "PATH=" + path, "MAIL=/var/mail/" + acct.name,
		"SSH_CLIENT=" + s.c.clientInfo(false), "SSH_CONNECTION=" + s.c.clientInfo(true),
	}
	s.mu.Lock()
	if s.pty != nil {
		env = append(env, "TERM="+cmpStr(s.pty.Term, "xterm"))
	}
	if s.term != nil {
		env = append(env, "SSH_TTY="+s.term.name)
	}
	if s.agent != nil {
		env = append(env, "SSH_AUTH_SOCK="+s.agent.path)
	}
	client := s.env
	s.mu.Unlock()
	seen := map[string]bool{}
	for _, kv := range env {
		seen[strings.SplitN(kv, "=", 2)[0]] = true
	}
	for _, kv := range client {
		if k := strings.SplitN(kv, "=", 2)[0]; !seen[k] {
			env = append(env, kv)
		}
	}
	return env
}

func cmpStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// clientInfo renders SSH_CLIENT ("ip port serverport") or SSH_CONNECTION
// ("ip port serverip serverport"). Through a tunnel the client's address is
// not known here, so it is 0.0.0.0.
func (c *conn) clientInfo(full bool) string {
	ip, port := "0.0.0.0", "0"
	if a, ok := c.sc.RemoteAddr().(*net.TCPAddr); ok {
		ip, port = a.IP.String(), strconv.Itoa(a.Port)
	}
	if full {
		return ip + " " + port + " 0.0.0.0 22"
	}
	return ip + " " + port + " 22"
}

// start starts p as the session's user, on a terminal if one was
// requested, and returns what relays its input and output and reports its
// exit; if p could not start, what reports that.
func (s *session) start(p program) (relay func()) {
	acct, err := lookupAccount(s.c.login)
	if err != nil {
		return s.failed(err)
	}
	s.mu.Lock()
	wantPTY := s.pty != nil
	s.mu.Unlock()
	if wantPTY {
		return s.startPTY(acct, p)
	}
	return s.startPipes(acct, p)
}

// failed reports a program that could not start.
func (s *session) failed(err error) func() {
	return func() { s.exit(nil, err) }
}

// startPipes starts p with pipes for stdin, stdout and stderr.
func (s *session) startPipes(acct *account, p program) (relay func()) {
	cmd := s.command(acct, p)
	var fds [6]*os.File // stdin r/w, stdout r/w, stderr r/w
	for i := 0; i < 6; i += 2 {
		var err error
		if fds[i], fds[i+1], err = os.Pipe(); err != nil {
			closeAll(fds[:]...)
			return s.failed(fmt.Errorf("cannot create pipes: %v", err))
		}
	}
	inR, inW, outR, outW, errR, errW := fds[0], fds[1], fds[2], fds[3], fds[4], fds[5]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	err := s.launch(cmd, []*os.File{outR, errR})
	closeAll(inR, outW, errW) // the child's ends
	if err != nil {
		closeAll(inW, outR, errR)
		return s.failed(err)
	}
	return func() {
		go func() { // client → stdin; EOF from the client closes stdin
			io.Copy(inW, s.ch)
			inW.Close()
		}()
		var wg sync.WaitGroup
		wg.Add(2)
		go copyOut(s.ch, outR, &wg)
		go copyOut(s.ch.Stderr(), errR, &wg)
		wg.Wait() // output ends when every holder of the pipes has exited
		closeAll(outR, errR)
		s.wait(cmd)
	}
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// launch starts cmd and publishes its process for signals and cleanup.
func (s *session) launch(cmd *exec.Cmd, outputs []*os.File) error {
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s: %v", cmd.Path, unwrapExec(err))
	}
	s.mu.Lock()
	s.proc = cmd.Process
	s.outputs = outputs
	s.mu.Unlock()
	s.c.log.Info("ssh program started", "kind", cmd.Args[0], "pid", cmd.Process.Pid)
	return nil
}

func unwrapExec(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// wait reaps the program and reports its exit.
func (s *session) wait(cmd *exec.Cmd) {
	s.reap(cmd)
	s.exit(cmd.ProcessState, nil)
}

// reap waits for the program to end and forgets it.
func (s *session) reap(cmd *exec.Cmd) {
	cmd.Wait()
	s.mu.Lock()
	s.proc = nil // its pid may be reused from now on
	s.mu.Unlock()
}
