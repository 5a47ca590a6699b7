package sshcert

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// OpenSSH's default cipher order (ssh_config(5)).
var openSSHDefault = []string{
	"chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr",
	"aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
}

// OpenSSH 10.0's, which puts AES-GCM before AES-CTR.
var openSSH10Default = []string{
	"chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
	"aes128-ctr", "aes192-ctr", "aes256-ctr",
}

func TestCTRBeforeGCM(t *testing.T) {
	for ident, want := range map[string]bool{
		"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10": true,
		"SSH-2.0-OpenSSH_7.4":                     true,
		"SSH-2.0-OpenSSH_for_Windows_9.5":         true,
		"SSH-2.0-OpenSSH_10.0":                    false,
		"SSH-2.0-OpenSSH_10.2p1 Ubuntu-1":         false,
		"SSH-2.0-OpenSSH_for_Windows_10.1":        false,
		"SSH-2.0-OpenSSH_x":                       true, // unreadable: as before 10
		"SSH-2.0-Go":                              false,
		"SSH-2.0-PuTTY_Release_0.81":              false,
		"SSH-2.0-OpenSSH":                         false,
	} {
		if got := ctrBeforeGCM([]byte(ident)); got != want {
			t.Errorf("%q: %v, want %v", ident, got, want)
		}
	}
}

func TestPreferGCM(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, _ := ssh.NewSignerFromKey(priv)
	serverCiphers := []string{"aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr"}
	for _, c := range []struct {
		name, version string
		ciphers       []string
		want          string
	}{
		{"OpenSSH defaults get GCM", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10", openSSHDefault, "aes128-gcm@openssh.com"},
		{"OpenSSH without GCM keeps CTR", "SSH-2.0-OpenSSH_7.4", []string{"aes256-ctr", "aes128-ctr"}, "aes256-ctr"},
		{"OpenSSH preferring aes256-gcm", "SSH-2.0-OpenSSH_for_Windows_9.5", []string{"aes256-gcm@openssh.com", "aes128-ctr"}, "aes256-gcm@openssh.com"},
		{"CTR first by choice, GCM too", "SSH-2.0-OpenSSH_9.9", []string{"aes256-ctr", "aes128-gcm@openssh.com"}, "aes128-gcm@openssh.com"},
		{"OpenSSH 10 defaults, not steered", "SSH-2.0-OpenSSH_10.0", openSSH10Default, "aes128-gcm@openssh.com"},
		{"OpenSSH 10 asking for CTR keeps it", "SSH-2.0-OpenSSH_10.2", []string{"aes128-ctr", "aes128-gcm@openssh.com"}, "aes128-ctr"},
		{"other clients untouched", "SSH-2.0-PuTTY_Release_0.81", openSSHDefault[1:], "aes128-ctr"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan string, 1)
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					got <- err.Error()
					return
				}
				defer nc.Close()
				var negotiated string
				cfg := &ssh.ServerConfig{ServerVersion: "SSH-2.0-burrow", NoClientAuth: true,
					NoClientAuthCallback: func(m ssh.ConnMetadata) (*ssh.Permissions, error) {
						a := m.(ssh.AlgorithmsConnMetadata).Algorithms()
						negotiated = a.Read.Cipher + " " + a.Write.Cipher
						return nil, nil
					}}
				cfg.Ciphers = serverCiphers
				cfg.AddHostKey(hostKey)
				sc, _, _, err := ssh.NewServerConn(PreferGCM(nc, cfg))
				if err != nil {
					got <- err.Error()
					return
				}
				defer sc.Close()
				got <- negotiated
			}()
			cc := &ssh.ClientConfig{User: "u", ClientVersion: c.version, HostKeyCallback: ssh.InsecureIgnoreHostKey()}
			cc.Ciphers = c.ciphers
			client, err := ssh.Dial("tcp", ln.Addr().String(), cc)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer client.Close()
			if g, w := <-got, c.want+" "+c.want; g != w {
				t.Errorf("server negotiated %q, want %q", g, w)
			}
		})
	}
}

// A real OpenSSH 9.2 client's first bytes (identification line and
// KEXINIT), captured from `ssh` against a listener.
func TestParseClientHelloOpenSSH(t *testing.T) {
	b, err := os.ReadFile("testdata/openssh-9.2-hello.bin")
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut < len(b); cut++ { // every prefix asks for more
		var h clientHello
		need, done, err := parseClientHello(b[:cut], &h)
		if err != nil {
			t.Fatalf("prefix %d: %v", cut, err)
		}
		if done {
			break
		}
		if need <= cut {
			t.Fatalf("prefix %d: asks for %d bytes", cut, need)
		}
	}
	var h clientHello
	if _, done, err := parseClientHello(b, &h); !done || err != nil || !h.steer {
		t.Fatalf("done %v, err %v, steer %v", done, err, h.steer)
	}
	if !slices.Equal(h.c2s, openSSHDefault) || !slices.Equal(h.s2c, openSSHDefault) {
		t.Errorf("ciphers %q / %q, want OpenSSH's defaults", h.c2s, h.s2c)
	}
}

// chunked reads its data in pieces of the sizes it is given, in turn.
type chunked struct {
	data  []byte
	sizes []byte
	i     int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if len(c.sizes) > 0 {
		n = min(n, int(c.sizes[c.i%len(c.sizes)])+1)
		c.i++
	}
	n = copy(p, c.data[:min(n, len(c.data))])
	c.data = c.data[n:]
	return n, nil
}

// FuzzClientHello: whatever a client sends first, and however it arrives,
// readClientHello neither panics nor reads past its limits, hands back
// exactly the bytes it read (a prefix of what was sent), and learns from
// them what a parse of those bytes at once does.
func FuzzClientHello(f *testing.F) {
	if b, err := os.ReadFile("testdata/openssh-9.2-hello.bin"); err == nil {
		f.Add(b, []byte{0})
		f.Add(b, []byte{200, 3, 255})
	}
	f.Add([]byte("SSH-2.0-OpenSSH_9.6\r\n\x00\x00\x00\x0c\x0a\x14"), []byte{})
	f.Add([]byte("SSH-2.0-OpenSSH"+strings.Repeat("x", 1000)+"\n\x00\x00\x80\x00\x04"), []byte{})
	f.Add([]byte("SSH-2.0-Go\r\n"), []byte{1})
	f.Fuzz(func(t *testing.T, b, sizes []byte) {
		h, err := readClientHello(&chunked{data: b, sizes: sizes})
		if !bytes.HasPrefix(b, h.read) {
			t.Fatalf("read %q, not a prefix of what was sent", h.read)
		}
		if len(h.read) > maxIdentLine+4+maxKexInitLen {
			t.Fatalf("read %d bytes", len(h.read))
		}
		var once clientHello
		_, done, onceErr := parseClientHello(h.read, &once)
		// Done, or out of input, or not a KEXINIT: the same at once.
		if ok := err == io.EOF && !done && onceErr == nil || err != io.EOF && done && onceErr == err; !ok {
			t.Fatalf("read in pieces: %v; at once: done %v, %v", err, done, onceErr)
		}
		if h.steer != once.steer || !slices.Equal(h.c2s, once.c2s) || !slices.Equal(h.s2c, once.s2c) {
			t.Fatalf("in pieces %+v, at once %+v", h, once)
		}
	})
}
