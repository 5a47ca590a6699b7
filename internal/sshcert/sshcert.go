// Package sshcert holds the checks of OpenSSH user certificates that both
// SSH servers of burrow make, the agent's (internal/sshd) and the
// gateway's (internal/gateway), with the messages users see.
package sshcert

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// CheckValidity refuses a certificate outside its validity window at now,
// saying which end was missed.
func CheckValidity(cert *ssh.Certificate, now time.Time) error {
	infinite := cert.ValidBefore == ssh.CertTimeInfinity
	if cert.ValidAfter > math.MaxInt64 || !infinite && cert.ValidBefore > math.MaxInt64 {
		return errors.New("the certificate's validity window is malformed; get a new one")
	}
	if after := time.Unix(int64(cert.ValidAfter), 0); now.Before(after) {
		return fmt.Errorf("the certificate is not valid before %s (check this machine's clock)", after.UTC().Format(time.RFC3339))
	}
	if before := time.Unix(int64(cert.ValidBefore), 0); !infinite && !now.Before(before) {
		return fmt.Errorf("the certificate expired at %s; get a new one", before.UTC().Format(time.RFC3339))
	}
	return nil
}

// Signed reports whether auth, a certificate's signature key, is one of cas.
func Signed(auth ssh.PublicKey, cas []ssh.PublicKey) bool {
	m := auth.Marshal()
	for _, ca := range cas {
		if bytes.Equal(ca.Marshal(), m) {
			return true
		}
	}
	return false
}

// ParseKeys parses authorized_keys lines, skipping unreadable ones.
func ParseKeys(lines []string) []ssh.PublicKey {
	var keys []ssh.PublicKey
	for _, line := range lines {
		if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil {
			keys = append(keys, k)
		}
	}
	return keys
}

// CheckSourceAddress enforces a certificate's source-address critical
// option (a comma-separated list of addresses and CIDR prefixes) against
// the client's address, with a message saying what was expected. x/crypto
// checks it too, but refuses without a reason the user can see.
func CheckSourceAddress(cert *ssh.Certificate, remote net.Addr) error {
	list, ok := cert.CriticalOptions["source-address"]
	if !ok {
		return nil
	}
	tcp, ok := remote.(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("the certificate may only be used from %s, and this connection's address is unknown", list)
	}
	ip, _ := netip.AddrFromSlice(tcp.IP)
	ip = ip.Unmap()
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil && p.Contains(ip) {
			return nil
		}
		if a, err := netip.ParseAddr(s); err == nil && a.Unmap() == ip {
			return nil
		}
	}
	return fmt.Errorf("the certificate may only be used from %s, not from %s", list, ip)
}

// KeyName names a key as ssh-add -l shows it: its type and SHA-256
// fingerprint ("ED25519 key SHA256:…").
func KeyName(key ssh.PublicKey) string {
	t := strings.ToUpper(strings.TrimPrefix(key.Type(), "ssh-"))
	return t + " key " + ssh.FingerprintSHA256(key)
}
