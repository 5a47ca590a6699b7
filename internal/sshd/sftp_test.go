package sshd

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

func TestSFTP(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(t)
	if v := string(c.ServerVersion()); v != ServerVersion {
		t.Errorf("server version %q, want %q (burrow cp tells the built-in server by it)", v, ServerVersion)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "blob")
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	// As any client, and as burrow cp: MaxSFTPData per request, many at once.
	for _, opts := range [][]sftp.ClientOption{nil, {sftp.MaxPacketUnchecked(MaxSFTPData),
		sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true), sftp.MaxConcurrentRequestsPerFile(64)}} {
		client, err := sftp.NewClient(c, opts...)
		if err != nil {
			t.Fatal(err)
		}
		sftpRoundTrip(t, client, path, data)
		client.Close()
	}
	client, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	// Relative paths start in the login's home directory.
	wd, err := client.Getwd()
	if err != nil || wd != e.home {
		t.Errorf("working directory %q, %v; want %s", wd, err, e.home)
	}
	entries, err := client.ReadDir(dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != "blob" {
		t.Errorf("ReadDir: %v, %v", entries, err)
	}

	// The subsystem ends at the client's EOF with an exit status, sent
	// before the channel closes.
	if r := runRequest(t, c, "subsystem", "sftp"); r.exit != "status 0" {
		t.Errorf("sftp ended with %s, want status 0", r.exit)
	}
	s := newSession(t, c)
	if ok, err := s.SendRequest("subsystem", true, ssh.Marshal(execRequest{"nosuch"})); ok || err != nil {
		t.Errorf("unknown subsystem: %v, %v; want refused", ok, err)
	}
}

// sftpRoundTrip writes data to path through client, sets its mode, checks
// the file, and reads it back.
func sftpRoundTrip(t *testing.T, client *sftp.Client, path string, data []byte) {
	t.Helper()
	f, err := client.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := client.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil || sha256.Sum256(onDisk) != sha256.Sum256(data) {
		t.Fatalf("file on disk differs from what was written (%d bytes, %v)", len(onDisk), err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, %v", st.Mode(), err)
	}
	f, err = client.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := f.WriteTo(h); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Error("file read back differs from what was written")
	}
}

// TestSFTPAsOtherUser logs in as nobody on a root agent: sftp then runs
// Options.SFTPCommand as that user. A stand-in command prints its uid.
func TestSFTPAsOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only a root agent serves other users")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	e := newEnv(t, func(o *Options) { o.SFTPCommand = []string{"/bin/sh", "-c", "id -u; id -g"} })
	e.login = "nobody"
	c, banners, err := e.connect(t, "nobody", e.certFor(t, e.ca, nil))
	if err != nil {
		t.Fatalf("login as nobody: %v %q", err, banners)
	}
	r := runRequest(t, c, "subsystem", "sftp")
	if want := nobody.Uid + "\n" + nobody.Gid + "\n"; r.stdout != want || r.exit != "status 0" {
		t.Errorf("SFTPCommand ran as %q (%s), want uid and gid %q", r.stdout, r.exit, want)
	}

	// Without SFTPCommand, sftp as another user is refused clearly.
	e = newEnv(t, nil)
	e.login = "nobody"
	c, _, err = e.connect(t, "nobody", e.certFor(t, e.ca, nil))
	if err != nil {
		t.Fatal(err)
	}
	r = runRequest(t, c, "subsystem", "sftp")
	if r.exit != "status 1" || !strings.Contains(r.stderr, "sftp as another user is not available") {
		t.Errorf("sftp without SFTPCommand: %s, %q", r.exit, r.stderr)
	}
}
