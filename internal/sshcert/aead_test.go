package sshcert

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
)

// OpenSSH's default cipher order (ssh_config(5)).
var openSSHDefault = []string{
	"chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr",
	"aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
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
	if _, done, err := parseClientHello(b, &h); !done || err != nil || !h.openSSH {
		t.Fatalf("done %v, err %v, OpenSSH %v", done, err, h.openSSH)
	}
	if !slices.Equal(h.c2s, openSSHDefault) || !slices.Equal(h.s2c, openSSHDefault) {
		t.Errorf("ciphers %q / %q, want OpenSSH's defaults", h.c2s, h.s2c)
	}
}

// FuzzClientHello: whatever a client sends first, the parser neither
// panics nor asks for more than its limits, and always makes progress.
func FuzzClientHello(f *testing.F) {
	if b, err := os.ReadFile("testdata/openssh-9.2-hello.bin"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("SSH-2.0-OpenSSH_9.6\r\n\x00\x00\x00\x0c\x0a\x14"))
	f.Add([]byte("SSH-2.0-Go\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h clientHello
		need, done, err := parseClientHello(b, &h)
		if done || err != nil {
			return
		}
		if need <= len(b) || need > maxIdentLine+4+maxKexInitLen {
			t.Fatalf("%d bytes: asks for %d", len(b), need)
		}
	})
}
