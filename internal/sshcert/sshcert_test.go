package sshcert

import (
	"crypto/ed25519"
	"crypto/rand"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestCheckValidity(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) uint64 { return uint64(now.Add(d).Unix()) }
	for _, c := range []struct {
		name          string
		after, before uint64
		want          string
	}{
		{"valid", at(-time.Minute), at(time.Minute), ""},
		{"forever", 0, ssh.CertTimeInfinity, ""},
		{"expired", at(-time.Hour), at(-time.Second), "expired at"},
		{"ends now", at(-time.Hour), at(0), "expired at"},
		{"not yet", at(time.Minute), at(time.Hour), "not valid before"},
		{"malformed", math.MaxUint64 - 1, ssh.CertTimeInfinity, "malformed"},
	} {
		err := CheckValidity(&ssh.Certificate{ValidAfter: c.after, ValidBefore: c.before}, now)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestSigned(t *testing.T) {
	var keys []ssh.PublicKey
	var lines []string
	for range 2 {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		k, _ := ssh.NewPublicKey(pub)
		keys = append(keys, k)
		lines = append(lines, string(ssh.MarshalAuthorizedKey(k)))
	}
	parsed := ParseKeys(append(lines[:1], "garbage"))
	if len(parsed) != 1 || !Signed(keys[0], parsed) || Signed(keys[1], parsed) {
		t.Fatalf("ParseKeys/Signed: %d keys parsed", len(parsed))
	}
}

func TestCheckSourceAddress(t *testing.T) {
	cert := &ssh.Certificate{Permissions: ssh.Permissions{CriticalOptions: map[string]string{"source-address": "10.0.0.0/8, 192.0.2.7"}}}
	for addr, ok := range map[string]bool{"10.1.2.3": true, "192.0.2.7": true, "192.0.2.8": false, "::ffff:10.0.0.1": true, "2001:db8::1": false} {
		err := CheckSourceAddress(cert, &net.TCPAddr{IP: net.ParseIP(addr), Port: 22})
		if (err == nil) != ok {
			t.Errorf("%s: %v, want allowed=%v", addr, err, ok)
		}
	}
	if CheckSourceAddress(cert, &net.UnixAddr{Name: "x"}) == nil {
		t.Error("a non-IP address passed")
	}
	if CheckSourceAddress(&ssh.Certificate{}, &net.UnixAddr{Name: "x"}) != nil {
		t.Error("a certificate without the option was refused")
	}
}

func TestServerCiphers(t *testing.T) {
	got := ServerCiphers()
	if !aesHardware() {
		if got != nil {
			t.Fatalf("without AES instructions: %v, want x/crypto's defaults (nil)", got)
		}
		return
	}
	supported := ssh.SupportedAlgorithms().Ciphers
	for _, c := range got {
		if !slices.Contains(supported, c) {
			t.Errorf("%s is not a cipher x/crypto/ssh supports", c)
		}
		if strings.Contains(c, "chacha20") {
			t.Errorf("%s offered on a CPU with AES instructions", c)
		}
	}
	if got[0] != "aes128-gcm@openssh.com" {
		t.Errorf("first cipher %s, want aes128-gcm@openssh.com", got[0])
	}
}
