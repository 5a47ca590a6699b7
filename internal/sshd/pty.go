package sshd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// terminal is the PTY of a session. The master is non-blocking, so reads
// honour deadlines and Close interrupts them.
type terminal struct {
	ptmx *os.File
	name string // /dev/pts/N
}

// openTerminal opens a PTY pair sized and moded as the client asked. The
// caller owns both ends; tty is for the child.
func openTerminal(p *ptyRequest) (*terminal, *os.File, error) {
	m, tty, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open a terminal: %v", err)
	}
	// pty.Open leaves the master in blocking mode; take a non-blocking,
	// close-on-exec copy so the runtime poller manages it.
	fd, err := unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	m.Close()
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		tty.Close()
		return nil, nil, fmt.Errorf("cannot open a terminal: %v", err)
	}
	t := &terminal{ptmx: os.NewFile(uintptr(fd), "/dev/ptmx"), name: tty.Name()}
	if err := applyModes(int(tty.Fd()), p.Modes); err != nil {
		t.ptmx.Close()
		tty.Close()
		return nil, nil, err
	}
	t.resize(p)
	return t, tty, nil
}

func (t *terminal) control(f func(fd int)) {
	if rc, err := t.ptmx.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { f(int(fd)) })
	}
}

func (t *terminal) resize(p *ptyRequest) {
	ws := &unix.Winsize{Row: clamp16(p.Rows), Col: clamp16(p.Cols), Xpixel: clamp16(p.WidthPx), Ypixel: clamp16(p.HeightPx)}
	t.control(func(fd int) { unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws) })
}

func clamp16(v uint32) uint16 { return uint16(min(v, 0xffff)) }

// foreground returns the terminal's foreground process group.
func (t *terminal) foreground() (int, error) {
	pgid, err := 0, errors.New("no terminal")
	t.control(func(fd int) { pgid, err = unix.IoctlGetInt(fd, unix.TIOCGPGRP) })
	return pgid, err
}

// startPTY starts p on a new terminal: the program becomes a session
// leader with the terminal as its controlling tty. When it exits, what it
// wrote is drained and the terminal closed, which hangs up anything left
// on it.
func (s *session) startPTY(acct *account, p program) (relay func()) {
	s.mu.Lock()
	req := *s.pty
	s.mu.Unlock()
	t, tty, err := openTerminal(&req)
	if err != nil {
		return s.failed(err)
	}
	s.mu.Lock()
	s.term = t
	s.mu.Unlock()
	cmd := s.command(acct, p)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr.Setctty = true
	cmd.SysProcAttr.Ctty = 0
	err = s.launch(cmd, []*os.File{t.ptmx})
	tty.Close()
	if err != nil {
		t.ptmx.Close()
		return s.failed(err)
	}
	return func() {
		defer t.ptmx.Close()
		go io.Copy(t.ptmx, s.ch) // keystrokes; a client EOF changes nothing on a terminal
		out := make(chan struct{})
		go func() { defer close(out); io.Copy(s.ch, t.ptmx) }()
		s.reap(cmd)
		// Output the program wrote before exiting is already in the
		// terminal; drain it, but do not wait for background jobs that
		// keep it open.
		t.ptmx.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		<-out
		s.exit(cmd.ProcessState, nil)
	}
}

// applyModes sets the terminal modes of a pty-req (RFC 4254 §8) on fd.
func applyModes(fd int, encoded string) error {
	modes, err := parseModes([]byte(encoded))
	if err != nil {
		return err
	}
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("cannot read terminal modes: %v", err)
	}
	for op, v := range modes {
		if cc, ok := controlChars[op]; ok {
			tio.Cc[cc] = uint8(v)
			continue
		}
		if f, ok := modeFlags[op]; ok {
			flags := f.field(tio)
			if v != 0 {
				*flags |= f.bit
			} else {
				*flags &^= f.bit
			}
			continue
		}
		switch op {
		case ssh.CS7, ssh.CS8: // values of the CSIZE field, not bits
			if v != 0 {
				tio.Cflag = tio.Cflag&^unix.CSIZE | map[uint8]uint32{ssh.CS7: unix.CS7, ssh.CS8: unix.CS8}[op]
			}
		case ssh.TTY_OP_ISPEED:
			tio.Ispeed = v
		case ssh.TTY_OP_OSPEED:
			tio.Ospeed = v
		}
	}
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, tio); err != nil {
		return fmt.Errorf("cannot set terminal modes: %v", err)
	}
	return nil
}

// parseModes decodes the encoded terminal modes: opcode bytes 1..159 each
// followed by a uint32, ended by TTY_OP_END (0). Opcodes 160..255 would
// have arguments of unknown shape, so parsing stops there (RFC 4254 §8).
func parseModes(b []byte) (map[uint8]uint32, error) {
	modes := map[uint8]uint32{}
	for len(b) > 0 {
		op := b[0]
		if op == ttyOpEnd || op >= 160 {
			return modes, nil
		}
		if len(b) < 5 {
			return nil, errors.New("truncated terminal modes")
		}
		modes[op] = uint32(b[1])<<24 | uint32(b[2])<<16 | uint32(b[3])<<8 | uint32(b[4])
		b = b[5:]
	}
	return modes, nil
}

var controlChars = map[uint8]int{
	ssh.VINTR: unix.VINTR, ssh.VQUIT: unix.VQUIT, ssh.VERASE: unix.VERASE,
	ssh.VKILL: unix.VKILL, ssh.VEOF: unix.VEOF, ssh.VEOL: unix.VEOL,
	ssh.VEOL2: unix.VEOL2, ssh.VSTART: unix.VSTART, ssh.VSTOP: unix.VSTOP,
	ssh.VSUSP: unix.VSUSP, ssh.VREPRINT: unix.VREPRINT, ssh.VWERASE: unix.VWERASE,
	ssh.VLNEXT: unix.VLNEXT, ssh.VDISCARD: unix.VDISCARD,
}

type modeFlag struct {
	field func(*unix.Termios) *uint32
	bit   uint32
}

func iflag(t *unix.Termios) *uint32 { return &t.Iflag }
func lflag(t *unix.Termios) *uint32 { return &t.Lflag }
func oflag(t *unix.Termios) *uint32 { return &t.Oflag }
func cflag(t *unix.Termios) *uint32 { return &t.Cflag }

var modeFlags = map[uint8]modeFlag{
	ssh.IGNPAR: {iflag, unix.IGNPAR}, ssh.PARMRK: {iflag, unix.PARMRK}, ssh.INPCK: {iflag, unix.INPCK},
	ssh.ISTRIP: {iflag, unix.ISTRIP}, ssh.INLCR: {iflag, unix.INLCR}, ssh.IGNCR: {iflag, unix.IGNCR},
	ssh.ICRNL: {iflag, unix.ICRNL}, ssh.IUCLC: {iflag, unix.IUCLC}, ssh.IXON: {iflag, unix.IXON},
	ssh.IXANY: {iflag, unix.IXANY}, ssh.IXOFF: {iflag, unix.IXOFF}, ssh.IMAXBEL: {iflag, unix.IMAXBEL},
	ssh.IUTF8: {iflag, unix.IUTF8},
	ssh.ISIG:  {lflag, unix.ISIG}, ssh.ICANON: {lflag, unix.ICANON}, ssh.XCASE: {lflag, unix.XCASE},
	ssh.ECHO: {lflag, unix.ECHO}, ssh.ECHOE: {lflag, unix.ECHOE}, ssh.ECHOK: {lflag, unix.ECHOK},
	ssh.ECHONL: {lflag, unix.ECHONL}, ssh.NOFLSH: {lflag, unix.NOFLSH}, ssh.TOSTOP: {lflag, unix.TOSTOP},
	ssh.IEXTEN: {lflag, unix.IEXTEN}, ssh.ECHOCTL: {lflag, unix.ECHOCTL}, ssh.ECHOKE: {lflag, unix.ECHOKE},
	ssh.PENDIN: {lflag, unix.PENDIN},
	ssh.OPOST:  {oflag, unix.OPOST}, ssh.OLCUC: {oflag, unix.OLCUC}, ssh.ONLCR: {oflag, unix.ONLCR},
	ssh.OCRNL: {oflag, unix.OCRNL}, ssh.ONOCR: {oflag, unix.ONOCR}, ssh.ONLRET: {oflag, unix.ONLRET},
	ssh.PARENB: {cflag, unix.PARENB}, ssh.PARODD: {cflag, unix.PARODD},
}

const ttyOpEnd = 0 // TTY_OP_END of RFC 4254 §8
