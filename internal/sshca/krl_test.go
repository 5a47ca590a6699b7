package sshca

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestMarshalKRLGolden: the bytes `ssh-keygen -k -s none` wrote for a
// spec file holding "id: burrow:a:t1".
func TestMarshalKRLGolden(t *testing.T) {
	const golden = "5353484b524c0a00" + "00000001" + "0000000000000000" + "000000006b059ee3" + "0000000000000000" +
		"00000000" + "00000000" + // reserved, comment
		"01" + "0000001c" + "00000000" + "00000000" + // certificates section: any CA, reserved
		"23" + "0000000f" + "0000000b" + "627572726f773a613a7431" // "burrow:a:t1"
	got := MarshalKRL([]string{"burrow:a:t1"}, 0, time.Unix(0x6b059ee3, 0), "")
	if hex.EncodeToString(got) != golden {
		t.Errorf("MarshalKRL =\n%x\nwant\n%s", got, golden)
	}
}

func TestMarshalKRLEmpty(t *testing.T) {
	got := MarshalKRL(nil, 7, time.Unix(100, 0), "c")
	want := ssh.Marshal(struct {
		M           uint64
		F           uint32
		V, G, Flags uint64
		R, C        string
	}{krlMagic, 1, 7, 100, 0, "", "c"})
	if !bytes.Equal(got, want) {
		t.Errorf("an empty KRL is %x, want the header alone %x", got, want)
	}
}

func TestStillRevoked(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { x := now.Add(-d); return &x }
	for _, c := range []struct {
		name             string
		revoked, expires *time.Time
		want             bool
	}{
		{"live", nil, nil, false},
		{"revoked", ago(time.Hour), nil, true},
		{"revoked-long-ago", ago(MaxTTL), nil, false},
		{"revoked-expired", ago(time.Hour), ago(time.Minute), false},
		{"revoked-expiring", ago(time.Hour), ago(-time.Minute), true},
	} {
		if got := StillRevoked(c.revoked, c.expires, now); got != c.want {
			t.Errorf("%s: StillRevoked = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestMarshalKRLSSHKeygen has OpenSSH's ssh-keygen judge the KRL: it is
// byte for byte what `ssh-keygen -k -s none` writes for the same key ids,
// and `ssh-keygen -Q` finds the certificates of listed key ids revoked,
// whichever CA signed them, and no other.
func TestMarshalKRLSSHKeygen(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen is not on PATH")
	}
	dir := t.TempDir()
	ids := []string{"burrow:bob:t2", "burrow:alice:t1", "burrow:bob:t2"}

	spec := filepath.Join(dir, "spec")
	if err := os.WriteFile(spec, []byte("id: burrow:bob:t2\nid: burrow:alice:t1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	theirs := filepath.Join(dir, "theirs.krl")
	if out, err := exec.Command(keygen, "-k", "-f", theirs, "-s", "none", spec).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -k: %v\n%s", err, out)
	}
	want, err := os.ReadFile(theirs)
	if err != nil {
		t.Fatal(err)
	}
	generated := time.Unix(int64(binary.BigEndian.Uint64(want[20:28])), 0) // after magic, format and version
	if got := MarshalKRL(ids, 0, generated, ""); !bytes.Equal(got, want) {
		t.Errorf("MarshalKRL =\n%x\nssh-keygen -k wrote\n%x", got, want)
	}

	ours := filepath.Join(dir, "ours.krl")
	if err := os.WriteFile(ours, MarshalKRL(ids, 1, time.Now(), "burrow test"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, b := mustOpen(t, openStore(t), fixedNow), mustOpen(t, openStore(t), fixedNow) // two CAs
	for _, c := range []struct {
		ca      *Authority
		keyID   string
		revoked bool
	}{
		{a, "burrow:alice:t1", true},
		{b, "burrow:alice:t1", true}, // any CA
		{a, "burrow:bob:t2", true},
		{a, "burrow:carol:t3", false},
	} {
		cert, err := c.ca.SignUser(newUserKey(t), UserCertRequest{KeyID: c.keyID, Principals: []string{"root"}, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "id-cert.pub")
		if err := os.WriteFile(path, ssh.MarshalAuthorizedKey(cert), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(keygen, "-Q", "-f", ours, path).CombinedOutput()
		revoked := err != nil && strings.Contains(string(out), "REVOKED")
		if revoked != c.revoked || (!revoked && err != nil) {
			t.Errorf("ssh-keygen -Q of a certificate for %s: %v\n%s", c.keyID, err, out)
		}
	}
	out, err := exec.Command(keygen, "-Ql", "-f", ours).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "# Wildcard CA\nid: burrow:alice:t1\nid: burrow:bob:t2\n") {
		t.Errorf("ssh-keygen -Ql: %v\n%s", err, out)
	}
}
