package sshd

import (
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"
)

// FuzzParseModes decodes the terminal modes of a pty-req and applies
// them to a real terminal.
func FuzzParseModes(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{ttyOpEnd})
	f.Add(encodeModes(ssh.TerminalModes{ssh.ECHO: 0, ssh.VINTR: 3, ssh.TTY_OP_ISPEED: 38400}))
	f.Add([]byte{ssh.ECHO, 0, 0})            // truncated
	f.Add([]byte{160, 1, 2, 3})              // an opcode of unknown shape ends parsing
	f.Add([]byte{ssh.CS7, 0, 0, 0, 1, 0})    // a CSIZE value
	f.Add([]byte{200, ssh.ECHO, 0, 0, 0, 1}) // nothing after 160..255 is read
	m, tty, err := pty.Open()
	if err != nil {
		f.Skipf("no terminal: %v", err)
	}
	f.Cleanup(func() { m.Close(); tty.Close() })
	fd := int(tty.Fd())
	f.Fuzz(func(t *testing.T, b []byte) {
		modes, err := parseModes(b)
		if err != nil {
			if modes != nil {
				t.Fatal("modes with an error")
			}
			return
		}
		for op := range modes {
			if op == ttyOpEnd || op >= 160 {
				t.Fatalf("opcode %d parsed", op)
			}
		}
		// What parsed encodes back to the same modes.
		re, err := parseModes(encodeModes(ssh.TerminalModes(modes)))
		if err != nil || !reflect.DeepEqual(re, modes) {
			t.Fatalf("re-encoded %v parses as %v, %v", modes, re, err)
		}
		applyModes(fd, string(b)) // may fail on odd values; must not panic
	})
}

func encodeModes(m ssh.TerminalModes) []byte {
	var b []byte
	for op, v := range m {
		b = append(b, op, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return append(b, ttyOpEnd)
}

// fuzzConn is one logged-in connection shared by a fuzz target's inputs.
func fuzzConn(f *testing.F, dial func(ctx context.Context, host string, port int) (net.Conn, error)) *ssh.Client {
	e := newEnv(f, func(o *Options) { o.DialTCP = dial })
	return e.dial(f)
}

// healthy checks the connection still answers after an input.
func healthy(t *testing.T, c *ssh.Client) {
	ok, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
	if !ok || err != nil {
		t.Fatalf("the connection no longer answers: %v, %v", ok, err)
	}
}

// Flags of FuzzSessionRequest saying what comes before the fuzzed request.
const (
	fuzzPTY   = 1 << iota // a good pty-req
	fuzzCat               // a running cat (exec "cat")
	fuzzReply             // the request wants a reply
)

// FuzzSessionRequest sends one request of any type and payload to a
// session, after a PTY and a running program if flags say so. Requests
// that would run a program run cat, whatever their payload: a fuzzer must
// not run arbitrary commands.
func FuzzSessionRequest(f *testing.F) {
	pr := ssh.Marshal(ptyRequest{Term: "xterm", Cols: 80, Rows: 24, Modes: "\x35\x00\x00\x00\x00\x00"})
	seeds := []struct {
		flags   byte
		typ     string
		payload []byte
	}{
		{fuzzReply, "pty-req", pr},
		{fuzzReply, "pty-req", pr[:10]},
		{fuzzPTY | fuzzReply, "pty-req", pr},
		{fuzzReply, "env", ssh.Marshal(envRequest{"LANG", "C"})},
		{fuzzReply, "env", ssh.Marshal(envRequest{"LD_PRELOAD", "/x.so"})},
		{fuzzReply, "env", ssh.Marshal(envRequest{"LC_A=B", "x"})},
		{fuzzCat | fuzzReply, "env", ssh.Marshal(envRequest{"LANG", "C"})},
		{fuzzPTY | fuzzCat | fuzzReply, "window-change", ssh.Marshal(windowChange{Cols: 1 << 20, Rows: 0})},
		{fuzzReply, "window-change", ssh.Marshal(windowChange{Cols: 100, Rows: 40})},
		{fuzzCat | fuzzReply, "signal", ssh.Marshal(signalRequest{"STOP"})},
		{fuzzPTY | fuzzCat | fuzzReply, "signal", ssh.Marshal(signalRequest{"INT"})},
		{fuzzCat, "signal", ssh.Marshal(signalRequest{"NOSUCH"})},
		{fuzzReply, "signal", []byte{0, 0, 0}},
		{fuzzReply, "subsystem", ssh.Marshal(execRequest{"sftp"})},
		{fuzzReply, "subsystem", ssh.Marshal(execRequest{"../../bin/sh"})},
		{fuzzReply, "exec", nil},
		{fuzzCat | fuzzReply, "shell", nil},
		{fuzzReply, "auth-agent-req@openssh.com", nil},
		{fuzzReply, "keepalive@openssh.com", nil},
		{fuzzReply, "x11-req", []byte{1, 2, 3}},
		{0, "", nil},
	}
	for _, s := range seeds {
		f.Add(s.flags, s.typ, s.payload)
	}
	c := fuzzConn(f, nil)
	f.Fuzz(func(t *testing.T, flags byte, typ string, payload []byte) {
		switch typ {
		case "exec", "shell":
			typ, payload = "exec", ssh.Marshal(execRequest{"cat"})
		}
		ch, reqs, err := c.OpenChannel("session", nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); ssh.DiscardRequests(reqs) }()
		go io.Copy(io.Discard, ch.Stderr())
		go io.Copy(io.Discard, ch)
		if flags&fuzzCat != 0 || typ == "exec" {
			quiet(t, ch)
		}
		if flags&fuzzPTY != 0 {
			mustRequest(t, ch, "pty-req", ssh.Marshal(ptyRequest{Term: "xterm", Cols: 80, Rows: 24}))
		}
		if flags&fuzzCat != 0 {
			mustRequest(t, ch, "exec", ssh.Marshal(execRequest{"cat"}))
		}
		ok, err := ch.SendRequest(typ, flags&fuzzReply != 0, payload)
		if err != nil {
			t.Fatal(err)
		}
		if ok && typ == "env" {
			var e envRequest
			if ssh.Unmarshal(payload, &e) != nil || strings.ContainsAny(e.Name, "=\x00") {
				t.Errorf("env %q accepted", payload)
			}
		}
		ch.CloseWrite()
		ch.Close()
		waitFor(t, "channel close", func() error { <-done; return nil })
		healthy(t, c)
	})
}

func mustRequest(t *testing.T, ch ssh.Channel, typ string, payload []byte) {
	if ok, err := ch.SendRequest(typ, true, payload); !ok || err != nil {
		t.Fatalf("%s: %v, %v", typ, ok, err)
	}
}

// FuzzGlobalRequest sends a global request of any type and payload. A
// remote forward it opens must cancel with the address it was opened on.
func FuzzGlobalRequest(f *testing.F) {
	for _, s := range []struct {
		typ     string
		payload []byte
	}{
		{"tcpip-forward", ssh.Marshal(tcpipForwardMsg{"127.0.0.1", 0})},
		{"tcpip-forward", ssh.Marshal(tcpipForwardMsg{"::1", 0})},
		{"tcpip-forward", ssh.Marshal(tcpipForwardMsg{"", 0})},
		{"tcpip-forward", ssh.Marshal(tcpipForwardMsg{"localhost", 65536})},
		{"tcpip-forward", []byte{0, 0, 0, 1}},
		{"cancel-tcpip-forward", ssh.Marshal(tcpipForwardMsg{"127.0.0.1", 1})},
		{"keepalive@openssh.com", nil},
		{"no-more-sessions@openssh.com", []byte("x")},
		{"streamlocal-forward@openssh.com", ssh.Marshal(execRequest{"/tmp/x.sock"})},
	} {
		f.Add(s.typ, s.payload)
	}
	c := fuzzConn(f, nil)
	f.Fuzz(func(t *testing.T, typ string, payload []byte) {
		ok, reply, err := c.SendRequest(typ, true, payload)
		if err != nil {
			t.Fatal(err)
		}
		var m tcpipForwardMsg
		if ok && typ == "tcpip-forward" {
			if ssh.Unmarshal(payload, &m) != nil {
				t.Fatalf("tcpip-forward %q accepted", payload)
			}
			if m.Port == 0 {
				var p struct{ Port uint32 }
				if ssh.Unmarshal(reply, &p) != nil || p.Port == 0 {
					t.Fatalf("tcpip-forward to port 0 replied %q", reply)
				}
				m.Port = p.Port
			}
			if ok, _, err := c.SendRequest("cancel-tcpip-forward", true, ssh.Marshal(m)); !ok || err != nil {
				t.Fatalf("cancel-tcpip-forward %+v: %v, %v", m, ok, err)
			}
		}
		healthy(t, c)
	})
}

// FuzzDirectTCPIP opens direct-tcpip channels with any extra data, to a
// DialTCP that refuses hosts starting with "x" and otherwise echoes.
func FuzzDirectTCPIP(f *testing.F) {
	for _, m := range []directTCPIPMsg{
		{"localhost", 80, "127.0.0.1", 1234},
		{"xdenied", 22, "", 0},
		{"", 0, "", 0},
		{"localhost", 70000, "", 0},
	} {
		f.Add(ssh.Marshal(m))
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 200, 'a'})
	var wg sync.WaitGroup
	c := fuzzConn(f, func(ctx context.Context, host string, port int) (net.Conn, error) {
		if strings.HasPrefix(host, "x") {
			return nil, errors.New("denied")
		}
		a, b := net.Pipe()
		wg.Go(func() { io.Copy(b, b); b.Close() })
		return a, nil
	})
	f.Cleanup(wg.Wait)
	f.Fuzz(func(t *testing.T, extra []byte) {
		var m directTCPIPMsg
		parsed := ssh.Unmarshal(extra, &m) == nil
		ch, reqs, err := c.OpenChannel("direct-tcpip", extra)
		var oe *ssh.OpenChannelError
		switch {
		case err == nil && !parsed:
			t.Fatalf("direct-tcpip %q accepted", extra)
		case err == nil:
			go ssh.DiscardRequests(reqs)
			ch.Write([]byte("ping"))
			got := make([]byte, 4)
			if _, err := io.ReadFull(ch, got); err != nil || string(got) != "ping" {
				t.Fatalf("echo: %q, %v", got, err)
			}
			ch.Close()
		case !errors.As(err, &oe):
			t.Fatal(err)
		case !parsed && !strings.Contains(oe.Message, "malformed"):
			t.Fatalf("direct-tcpip %q refused with %q", extra, oe.Message)
		}
		healthy(t, c)
	})
}
