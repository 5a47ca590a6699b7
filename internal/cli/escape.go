package cli

import (
	"fmt"
	"io"
)

// escapeChar reads -e as OpenSSH does: one character, "^X" for a control
// character, or "none" (0: no escapes).
func escapeChar(s string) (byte, error) {
	switch {
	case s == "none":
		return 0, nil
	case len(s) == 1:
		return s[0], nil
	case len(s) == 2 && s[0] == '^' && s[1] >= '@' && s[1] <= '_':
		return s[1] & 0x1f, nil
	case len(s) == 2 && s[0] == '^' && s[1] >= 'a' && s[1] <= 'z':
		return s[1] & 0x1f, nil
	}
	return 0, fmt.Errorf("-e %q: give one character, ^X for a control character, or none", s)
}

// escapeReader reads the user's keystrokes for an interactive session and
// acts on OpenSSH's escape sequences, which count only at the start of a
// line: the escape character (~) followed by "." ends the connection at
// once (a session that hangs), by "?" lists the sequences, and by itself
// sends it once. Any other character after it is sent with it.
type escapeReader struct {
	r         io.Reader
	esc       byte
	help      io.Writer // where "?" answers
	hangUp    func()    // "."
	lineStart bool
	pending   bool // the escape character was read at a line start
	hungUp    bool
	out       []byte
}

func newEscapeReader(r io.Reader, esc byte, help io.Writer, hangUp func()) *escapeReader {
	return &escapeReader{r: r, esc: esc, help: help, hangUp: hangUp, lineStart: true}
}

func (e *escapeReader) Read(p []byte) (int, error) {
	if e.hungUp {
		return 0, io.EOF
	}
	for {
		n, err := e.r.Read(p)
		e.out = e.out[:0]
		for _, b := range p[:n] {
			if e.pending {
				e.pending = false
				switch b {
				case '.':
					e.hungUp = true
					e.hangUp()
					return copy(p, e.out), nil // what came before; EOF next
				case '?':
					io.WriteString(e.help, "\r\nSupported escape sequences:\r\n"+
						" "+string(e.esc)+".   - terminate connection\r\n"+
						" "+string(e.esc)+"?   - this message\r\n"+
						" "+string(e.esc)+string(e.esc)+"   - send the escape character by typing it twice\r\n"+
						"(Note that escapes are only recognized immediately after newline.)\r\n")
					e.lineStart = false
					continue
				case e.esc:
					e.out = append(e.out, b)
					e.lineStart = false
					continue
				default:
					e.out = append(e.out, e.esc)
				}
			} else if e.lineStart && b == e.esc {
				e.pending = true
				continue
			}
			e.out = append(e.out, b)
			e.lineStart = b == '\r' || b == '\n'
		}
		if len(e.out) > 0 || err != nil {
			return copy(p, e.out), err // e.out is never longer than what was read
		}
	}
}
