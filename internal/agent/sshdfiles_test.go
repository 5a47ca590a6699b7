package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/sshca"
)

func newCAKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testFiles returns sshdFiles writing into a new directory, with a clock
// that advances a second at each reading and a log kept in logs.
func testFiles(t *testing.T) (f *sshdFiles, logs *bytes.Buffer) {
	dir := t.TempDir()
	logs = &bytes.Buffer{}
	clock := time.Unix(1_900_000_000, 0)
	f = &sshdFiles{
		caFile: filepath.Join(dir, "burrow_user_ca.pub"), krlFile: filepath.Join(dir, "burrow_revoked.krl"),
		agent: "web-1", log: slog.New(slog.NewTextHandler(logs, nil)),
		now: func() time.Time { clock = clock.Add(time.Second); return clock },
	}
	return f, logs
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func stat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// caFileKeys parses a TrustedUserCAKeys file as sshd does: # lines and
// blank lines skipped, one key a line.
func caFileKeys(t *testing.T, b []byte) []ssh.PublicKey {
	t.Helper()
	var keys []ssh.PublicKey
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil || len(rest) != 0 {
			t.Fatalf("line %q: %v", line, err)
		}
		if comment != sshdCAComment {
			t.Errorf("line %q: comment %q, want %q", line, comment, sshdCAComment)
		}
		keys = append(keys, k)
	}
	return keys
}

// krlRevokes checks that the KRL in b revokes exactly ids.
func krlRevokes(t *testing.T, b []byte, ids ...string) {
	t.Helper()
	v, gen, ok := sshca.KRLHeader(b)
	if !ok {
		t.Fatalf("not a KRL: %x", b)
	}
	if !bytes.Equal(b, sshca.MarshalKRL(ids, v, gen, sshdKRLComment)) {
		t.Errorf("the KRL does not revoke exactly %q", ids)
	}
}

// noTempFiles checks that the directory holds only the two files.
func noTempFiles(t *testing.T, f *sshdFiles) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Dir(f.caFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if p := filepath.Join(filepath.Dir(f.caFile), e.Name()); p != f.caFile && p != f.krlFile {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestSSHDFilesWrite(t *testing.T) {
	f, _ := testFiles(t)
	ca1, ca2 := newCAKey(t), newCAKey(t)
	f.update([]ssh.PublicKey{ca1, ca2}, []string{"burrow:bob:t2", "burrow:alice:t1"})

	b := readFile(t, f.caFile)
	if !strings.HasPrefix(string(b), "# burrow agent web-1:") {
		t.Errorf("the CA file does not start with a comment naming burrow:\n%s", b)
	}
	keys := caFileKeys(t, b)
	if len(keys) != 2 || !bytes.Equal(keys[0].Marshal(), ca1.Marshal()) || !bytes.Equal(keys[1].Marshal(), ca2.Marshal()) {
		t.Errorf("the CA file holds %d keys, want the two CA keys in order:\n%s", len(keys), b)
	}
	krlRevokes(t, readFile(t, f.krlFile), "burrow:alice:t1", "burrow:bob:t2")
	for _, p := range []string{f.caFile, f.krlFile} {
		if m := stat(t, p).Mode().Perm(); m != 0o644 {
			t.Errorf("%s has mode %v, want 0644", p, m)
		}
	}
	noTempFiles(t, f)
}

// TestSSHDFilesUnchanged: the same trust (in another order) rewrites
// neither file, though the clock moved (the KRL's header has a time).
func TestSSHDFilesUnchanged(t *testing.T) {
	f, logs := testFiles(t)
	ca := newCAKey(t)
	f.update([]ssh.PublicKey{ca}, []string{"burrow:a:t1", "burrow:b:t2"})
	caBefore, krlBefore := stat(t, f.caFile), stat(t, f.krlFile)
	logs.Reset()
	f.update([]ssh.PublicKey{ca}, []string{"burrow:b:t2", "burrow:a:t1"})
	if !os.SameFile(caBefore, stat(t, f.caFile)) || !os.SameFile(krlBefore, stat(t, f.krlFile)) {
		t.Error("an unchanged trust replaced a file")
	}
	if logs.Len() != 0 {
		t.Errorf("an unchanged trust logged:\n%s", logs)
	}
}

// TestSSHDFilesAtomic: a change replaces a file by a rename: a reader
// that opened the old one reads it whole, a new reader the new one.
func TestSSHDFilesAtomic(t *testing.T) {
	f, logs := testFiles(t)
	ca1, ca2 := newCAKey(t), newCAKey(t)
	f.update([]ssh.PublicKey{ca1}, nil)
	oldCA, oldKRL := readFile(t, f.caFile), readFile(t, f.krlFile)
	krlRevokes(t, oldKRL)
	caReader, err := os.Open(f.caFile)
	if err != nil {
		t.Fatal(err)
	}
	defer caReader.Close()
	krlReader, err := os.Open(f.krlFile)
	if err != nil {
		t.Fatal(err)
	}
	defer krlReader.Close()

	f.update([]ssh.PublicKey{ca1, ca2}, []string{"burrow:a:t1"})
	for _, c := range []struct {
		r    *os.File
		want []byte
	}{{caReader, oldCA}, {krlReader, oldKRL}} {
		if got, err := io.ReadAll(c.r); err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("%s opened before the change reads %q (%v), want the old file", c.r.Name(), got, err)
		}
	}
	if keys := caFileKeys(t, readFile(t, f.caFile)); len(keys) != 2 {
		t.Errorf("after a rotation the CA file has %d keys, want 2", len(keys))
	}
	krlRevokes(t, readFile(t, f.krlFile), "burrow:a:t1")
	for _, want := range []string{"wrote sshd's TrustedUserCAKeys file", "wrote sshd's RevokedKeys file"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	noTempFiles(t, f)
}

// TestSSHDFilesNoCAKeys: a trust without CA keys leaves both files as
// they were (an empty TrustedUserCAKeys would refuse everyone, an empty
// KRL accept revoked certificates) and says so.
func TestSSHDFilesNoCAKeys(t *testing.T) {
	f, logs := testFiles(t)
	f.update([]ssh.PublicKey{newCAKey(t)}, []string{"burrow:a:t1"})
	caBefore, krlBefore := readFile(t, f.caFile), readFile(t, f.krlFile)
	f.update(nil, nil)
	if !bytes.Equal(readFile(t, f.caFile), caBefore) || !bytes.Equal(readFile(t, f.krlFile), krlBefore) {
		t.Error("a trust without CA keys changed sshd's files")
	}
	if !strings.Contains(logs.String(), "no user CA keys") {
		t.Errorf("the log does not say why the files were kept:\n%s", logs)
	}

	// With no file yet, none is made.
	g, _ := testFiles(t)
	g.update(nil, nil)
	for _, p := range []string{g.caFile, g.krlFile} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s: want no file, got %v", p, err)
		}
	}
}

// TestSSHDFilesReplaceForeign: files that are not what the agent would
// write (edited by hand, not a KRL) are replaced.
func TestSSHDFilesReplaceForeign(t *testing.T) {
	f, _ := testFiles(t)
	for _, p := range []string{f.caFile, f.krlFile} {
		if err := os.WriteFile(p, []byte("not what the agent writes\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f.update([]ssh.PublicKey{newCAKey(t)}, []string{"burrow:a:t1"})
	if keys := caFileKeys(t, readFile(t, f.caFile)); len(keys) != 1 {
		t.Errorf("the CA file has %d keys, want 1", len(keys))
	}
	krlRevokes(t, readFile(t, f.krlFile), "burrow:a:t1")
	if m := stat(t, f.krlFile).Mode().Perm(); m != 0o644 {
		t.Errorf("the replaced KRL has mode %v, want 0644", m)
	}
}

// TestSSHDFilesError: a file that cannot be written is logged, and the
// other one is still kept.
func TestSSHDFilesError(t *testing.T) {
	f, logs := testFiles(t)
	f.krlFile = filepath.Join(t.TempDir(), "no-such-dir", "burrow_revoked.krl")
	f.update([]ssh.PublicKey{newCAKey(t)}, nil)
	if !strings.Contains(logs.String(), "cannot write sshd's RevokedKeys file") || !strings.Contains(logs.String(), f.krlFile) {
		t.Errorf("the log does not name the failed file:\n%s", logs)
	}
	if keys := caFileKeys(t, readFile(t, f.caFile)); len(keys) != 1 {
		t.Errorf("the CA file has %d keys, want 1", len(keys))
	}
}

// TestRunWritesCachedTrust: an agent that starts while the controller is
// unreachable writes sshd's files from the trust cached in agent.json.
func TestRunWritesCachedTrust(t *testing.T) {
	dir := t.TempDir()
	ca := newCAKey(t)
	st := &State{AgentID: "a1", Credential: "c1", Fingerprint: "sha256:" + strings.Repeat("00", 32),
		UserCAKeys: []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca)))}, RevokedKeyIDs: []string{"burrow:a:t1"}}
	if err := st.Save(dir); err != nil {
		t.Fatal(err)
	}
	caFile, krlFile := filepath.Join(dir, "ca.pub"), filepath.Join(dir, "revoked.krl")
	a, err := New(Options{
		URL: "https://127.0.0.1:1", DataDir: dir, Name: "web-1", SSH: "off",
		SSHDUserCAFile: caFile, SSHDKRLFile: krlFile,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	for {
		_, err1 := os.Stat(caFile)
		_, err2 := os.Stat(krlFile)
		if err1 == nil && err2 == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before writing sshd's files: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if keys := caFileKeys(t, readFile(t, caFile)); len(keys) != 1 || !bytes.Equal(keys[0].Marshal(), ca.Marshal()) {
		t.Errorf("the CA file does not hold the cached CA key")
	}
	krlRevokes(t, readFile(t, krlFile), "burrow:a:t1")
}
