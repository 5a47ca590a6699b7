package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/burrow-dev/burrow/internal/relay"
)

type sshFlags struct {
	login         string
	forceTTY      bool
	noTTY         bool
	noCommand     bool
	forwardAgent  bool
	local, remote []string
	escape        string // -e: escape character of a terminal session, or "none"
	esc           byte   // escape read by escapeChar; 0 for none
}

func newSSHCmd(g *globals) *cobra.Command {
	var f sshFlags
	cmd := &cobra.Command{
		Use:   "ssh [USER@]TARGET [--] [COMMAND...]",
		Short: "Open a shell or run a command on a target",
		Long: `Open a shell on TARGET, or run COMMAND there, through the controller.
burrow mints a key and a certificate valid for a few minutes for each
connection and checks the target's registered host key, so there is nothing
to set up and no host key prompt. A terminal is used when standard input is
one and no command is given (-t forces it, -T refuses it). The exit status
of the remote command becomes burrow's (a signal n gives 128+n); burrow's own
failures exit 255, as OpenSSH's do. In a terminal session, ~. at the start
of a line ends the connection at once (~? lists the escapes). Options
may come before or after TARGET, as with OpenSSH: the first word after
TARGET that is none (or "--") starts the command.
TARGET may also be written as OpenSSH users know it: NAME.burrow,
NAME.<org>.burrow or NAME.<org>.`,
		Example: `  burrow ssh web-1
  burrow ssh web-1 -- uname -a
  burrow ssh web-1 'sh -s' < script.sh
  burrow ssh -l deploy -L 5432:127.0.0.1:5432 db-1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			command := args[1:]
			// Options may follow TARGET too, as OpenSSH takes them, up to
			// the first word that is none (the command) or "--"; unless a
			// "--" came before TARGET, which ends options there.
			if cmd.Flags().ArgsLenAtDash() < 0 {
				if err := cmd.Flags().Parse(command); err != nil {
					return fmt.Errorf("%w (put a remote command that starts with - after --; OpenSSH's own options need plain ssh, set up by burrow ssh-config)", err)
				}
				if help, _ := cmd.Flags().GetBool("help"); help {
					return cmd.Help()
				}
				command = cmd.Flags().Args()
			}
			return asSSHFailure(runSSH(cmd.Context(), g, f, args[0], command))
		},
	}
	// A bad option is burrow ssh failing too: 255, as with OpenSSH.
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return sshFailure{err} })
	fl := cmd.Flags()
	fl.SetInterspersed(false) // the first word after the options is the command
	fl.StringVarP(&f.login, "login", "l", "", "user to log in as (default: your local user name)")
	fl.BoolVarP(&f.forceTTY, "tty", "t", false, "use a terminal even when running a command")
	fl.BoolVarP(&f.noTTY, "no-tty", "T", false, "never use a terminal")
	fl.BoolVarP(&f.noCommand, "no-command", "N", false, "run nothing; only forward ports")
	fl.BoolVarP(&f.forwardAgent, "forward-agent", "A", false, "forward your ssh-agent ($SSH_AUTH_SOCK)")
	fl.StringArrayVarP(&f.local, "local", "L", nil, "forward [BIND:]PORT:HOST:HOSTPORT from here to HOST:HOSTPORT as the target sees it (repeatable)")
	fl.StringArrayVarP(&f.remote, "remote", "R", nil, "forward [BIND:]PORT on the target's loopback to HOST:HOSTPORT from here (repeatable)")
	fl.StringVarP(&f.escape, "escape-char", "e", "~", "escape character of a terminal session (CHAR. at a line start ends a hung connection), or none")
	return cmd
}

func runSSH(ctx context.Context, g *globals, f sshFlags, dest string, command []string) error {
	login, target := splitLogin(dest)
	if f.login != "" {
		login = f.login
	}
	if login == "" {
		login = defaultLogin()
	}
	esc, err := escapeChar(f.escape)
	if err != nil {
		return err
	}
	f.esc = esc
	locals, err := parseSSHForwards(f.local, "-L")
	if err != nil {
		return err
	}
	remotes, err := parseSSHForwards(f.remote, "-R")
	if err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	defer c.Close()
	// A terminating signal ends everything from here on: the dial, then
	// the connection (see endOnSignal).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		sc      *ssh.Client
		stopped bool
	)
	stopWatch := endOnSignal(func() {
		cancel()
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		if sc != nil {
			sc.Close()
		}
	})
	defer stopWatch()
	exit := func(err error) error {
		if sig, ok := stopWatch(); ok {
			return exitError(128 + int(sig))
		}
		return err
	}
	conn, err := dialSSH(ctx, c, target, login, g.stderr)
	if err != nil {
		return exit(err)
	}
	defer conn.Close()
	mu.Lock()
	sc = conn
	late := stopped // a signal came during the handshake
	mu.Unlock()
	if late {
		conn.Close()
		return exit(context.Cause(ctx))
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	// A forward that cannot be set up is warned about and the session goes
	// on without it, as with OpenSSH (ExitOnForwardFailure no).
	for _, fw := range locals {
		ln, err := net.Listen("tcp", fw.bind)
		if err != nil {
			fmt.Fprintf(g.stderr, "Warning: -L %s: cannot listen here: %v; going on without it%s", fw.spec, err, newline())
			continue
		}
		context.AfterFunc(fctx, func() { ln.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			acceptLoop(ln, func() (net.Conn, error) { return sc.Dial("tcp", fw.to) }, func(err error) {
				fmt.Fprintf(g.stderr, "burrow: -L %s: %s could not open %s: %v%s", fw.spec, target, fw.to, err, newline())
			})
		}()
	}
	for _, fw := range remotes {
		bind := fw.bind
		if host, port, _ := net.SplitHostPort(bind); host == "" { // "*": x/crypto would send "<nil>"
			bind = net.JoinHostPort("0.0.0.0", port)
		}
		ln, err := sc.Listen("tcp", bind)
		if err != nil {
			fmt.Fprintf(g.stderr, "Warning: -R %s: %s refused to listen on %s (the port is in use there, or not its loopback); going on without it%s",
				fw.spec, target, bind, newline())
			continue
		}
		if a, ok := ln.Addr().(*net.TCPAddr); ok && strings.HasSuffix(fw.bind, ":0") { // as OpenSSH says it
			fmt.Fprintf(g.stderr, "Allocated port %d for remote forward to %s%s", a.Port, fw.to, newline())
		}
		context.AfterFunc(fctx, func() { ln.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			acceptLoop(ln, func() (net.Conn, error) { return net.Dial("tcp", fw.to) }, func(err error) {
				fmt.Fprintf(g.stderr, "burrow: -R %s: %v%s", fw.spec, err, newline())
			})
		}()
	}
	if f.noCommand {
		return exit(sc.Wait())
	}
	return exit(runSession(sc, f, target, command, g))
}

// endOnSignal calls end when SIGINT, SIGTERM or SIGHUP arrives, to close
// the connection as OpenSSH's ssh does on them: the session and its
// forwards end, and the remote program is hung up on. (On a terminal in
// raw mode Ctrl-C is a keystroke for the remote program, not a signal
// here.) stop stops watching and reports the signal, if one came; the
// caller then exits 128+n, as a shell reports a program killed by
// signal n. stop may be called more than once.
func endOnSignal(end func()) (stop func() (syscall.Signal, bool)) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done, finished := make(chan struct{}), make(chan struct{})
	var caught syscall.Signal
	go func() {
		defer close(finished)
		select {
		case s := <-sigs:
			caught = s.(syscall.Signal)
			end()
		case <-done:
		}
	}()
	var once sync.Once
	return func() (syscall.Signal, bool) {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			<-finished
		})
		return caught, caught != 0
	}
}

// runSession runs one shell or command and returns its exit status as an
// exitError.
func runSession(sc *ssh.Client, f sshFlags, target string, command []string, g *globals) error {
	sess, err := sc.NewSession()
	if err != nil {
		return err
	}
	defer sess.Close()
	if f.forwardAgent {
		if err := forwardAgent(sc, sess); err != nil {
			return err
		}
	}
	stdinFd := int(os.Stdin.Fd())
	tty := term.IsTerminal(stdinFd) && len(command) == 0
	if f.forceTTY {
		tty = true
	}
	if f.noTTY {
		tty = false
	}
	for _, name := range []string{"LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "COLORTERM"} {
		if v, ok := os.LookupEnv(name); ok {
			sess.Setenv(name, v) // refusals are fine, as with OpenSSH's SendEnv
		}
	}
	if tty {
		restore, err := startTerminal(sess, stdinFd)
		if err != nil {
			return err
		}
		defer restore()
	}
	sess.Stdout, sess.Stderr = g.stdout, g.stderr
	// Our own copy of stdin, not waited for: a remote program that ends
	// without reading its input must not leave us blocked on the terminal.
	in, err := sess.StdinPipe()
	if err != nil {
		return err
	}
	var stdin io.Reader = os.Stdin
	var hungUp atomic.Bool
	if tty && term.IsTerminal(stdinFd) && f.esc != 0 {
		stdin = newEscapeReader(os.Stdin, f.esc, g.stderr, func() {
			hungUp.Store(true)
			sc.Close()
		})
	}
	go func() {
		io.Copy(in, stdin)
		in.Close()
	}()
	if len(command) == 0 {
		err = sess.Shell()
	} else {
		err = sess.Start(strings.Join(command, " "))
	}
	if err != nil {
		return err
	}
	err = sess.Wait()
	if hungUp.Load() { // as OpenSSH says it, and exits 255
		fmt.Fprintf(g.stderr, "%sConnection to %s closed.%s", newline(), target, newline())
		return exitError(255)
	}
	return exitStatus(err)
}

// startTerminal asks for a PTY like the local one, puts the local terminal
// in raw mode and relays window size changes. restore undoes the raw mode
// and is safe to call more than once; a terminating signal calls it too.
func startTerminal(sess *ssh.Session, fd int) (func(), error) {
	termName := os.Getenv("TERM")
	if termName == "" {
		termName = "xterm-256color"
	}
	w, h, err := term.GetSize(fd)
	if err != nil {
		w, h = 80, 24
	}
	if err := sess.RequestPty(termName, h, w, terminalModes(fd)); err != nil {
		return nil, fmt.Errorf("the target refused a terminal: %w", err)
	}
	if !term.IsTerminal(fd) {
		return func() {}, nil
	}
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, err
	}
	rawTerminal.Store(true)
	var once sync.Once
	restore := func() { once.Do(func() { term.Restore(fd, old); rawTerminal.Store(false) }) }
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGWINCH, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				if s == syscall.SIGWINCH {
					if w, h, err := term.GetSize(fd); err == nil {
						sess.WindowChange(h, w)
					}
					continue
				}
				restore()
				signal.Reset(s)
				syscall.Kill(os.Getpid(), s.(syscall.Signal))
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
		restore()
	}, nil
}

// rawTerminal is set while startTerminal holds the local terminal in raw
// mode, where a line must end in CR LF to start at the left margin.
var rawTerminal atomic.Bool

// newline ends a message printed while a session may be running.
func newline() string {
	if rawTerminal.Load() {
		return "\r\n"
	}
	return "\n"
}

// terminalModes passes on the local terminal's erase and interrupt keys
// and its UTF-8 flag, as OpenSSH does.
func terminalModes(fd int) ssh.TerminalModes {
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return modes
	}
	modes[ssh.VINTR] = uint32(tio.Cc[unix.VINTR])
	modes[ssh.VERASE] = uint32(tio.Cc[unix.VERASE])
	modes[ssh.VEOF] = uint32(tio.Cc[unix.VEOF])
	modes[ssh.VSUSP] = uint32(tio.Cc[unix.VSUSP])
	if tio.Iflag&unix.IUTF8 != 0 {
		modes[ssh.IUTF8] = 1
	}
	return modes
}

// exitStatus turns the end of a remote program into ours.
func exitStatus(err error) error {
	var ee *ssh.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		if sig := ee.Signal(); sig != "" {
			if n := unix.SignalNum("SIG" + sig); n != 0 {
				return exitError(128 + int(n))
			}
			return exitError(255)
		}
		return exitError(ee.ExitStatus())
	}
	var missing *ssh.ExitMissingError
	if errors.As(err, &missing) {
		return errors.New("the connection ended before the remote program reported its exit status")
	}
	return err
}

func forwardAgent(sc *ssh.Client, sess *ssh.Session) error {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return errors.New("-A: no ssh-agent to forward (SSH_AUTH_SOCK is not set)")
	}
	if err := agent.ForwardToRemote(sc, sock); err != nil {
		return fmt.Errorf("-A: %w", err)
	}
	if err := agent.RequestAgentForwarding(sess); err != nil {
		return fmt.Errorf("-A: the target refused agent forwarding: %w", err)
	}
	return nil
}

// sshForward is one -L or -R: listen on bind, connect to "to".
type sshForward struct{ spec, bind, to string }

// parseSSHForwards reads OpenSSH's [BIND:]PORT:HOST:HOSTPORT.
func parseSSHForwards(specs []string, flag string) ([]sshForward, error) {
	var out []sshForward
	for _, s := range specs {
		parts := strings.Split(s, ":")
		bind := "127.0.0.1"
		if len(parts) == 4 {
			bind, parts = parts[0], parts[1:]
		}
		if bind == "*" { // every interface, as OpenSSH reads it
			bind = ""
		}
		if len(parts) != 3 {
			return nil, fmt.Errorf("%s %q: want [BIND:]PORT:HOST:HOSTPORT", flag, s)
		}
		for _, p := range []string{parts[0], parts[2]} {
			if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
				return nil, fmt.Errorf("%s %q: %q is not a port", flag, s, p)
			}
		}
		for _, h := range []string{bind, parts[1]} {
			if strings.ContainsAny(h, "[]/ \t") {
				return nil, fmt.Errorf("%s %q: %q is not a host name or IPv4 address", flag, s, h)
			}
		}
		if parts[1] == "" {
			return nil, fmt.Errorf("%s %q: no host to connect to", flag, s)
		}
		out = append(out, sshForward{spec: s, bind: net.JoinHostPort(bind, parts[0]), to: net.JoinHostPort(parts[1], parts[2])})
	}
	return out, nil
}

// acceptLoop relays every connection of ln to a connection from dial. A
// connection dial cannot make is closed and reported, as OpenSSH reports
// a refused channel, so a forward that goes nowhere is not silent.
func acceptLoop(ln net.Listener, dial func() (net.Conn, error), report func(error)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := dial()
			if err != nil {
				c.Close()
				report(err)
				return
			}
			relay.Join(c, d)
		}()
	}
}
