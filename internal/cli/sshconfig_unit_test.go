package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteSSHConfigPlacement: burrow's section goes before the user's
// first Host or Match block (OpenSSH keeps the first value it reads),
// after their global options; it is replaced in place later; a config
// that is a symlink stays one; a config without blocks gets it at the end.
func TestWriteSSHConfigPlacement(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "ssh_config")
	os.MkdirAll(filepath.Dir(real), 0o700)
	user := "Compression yes\n\n# mine\nhost=*\n    UserKnownHostsFile /elsewhere\n"
	if err := os.WriteFile(real, []byte(user), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	for _, block := range []string{"Host web-1\n    Port 22\n", "Host web-2\n    Port 22\n"} {
		if err := writeSSHConfig(link, "dev", block); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(real)
		if err != nil {
			t.Fatal(err)
		}
		got := string(b)
		if strings.Count(got, "burrow dev begin") != 1 || !strings.Contains(got, block) {
			t.Fatalf("config:\n%s", got)
		}
		if i, j, k := strings.Index(got, "Compression yes"), strings.Index(got, block), strings.Index(got, "host=*"); !(i < j && j < k) {
			t.Errorf("want global options, then burrow's section, then the user's Host block:\n%s", got)
		}
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlinked config is no longer a link: %v, %v", fi.Mode(), err)
	}

	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("ServerAliveInterval 10"), 0o600)
	if err := writeSSHConfig(plain, "dev", "Host web-1\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(plain); !strings.HasPrefix(string(b), "ServerAliveInterval 10\n\n# --- burrow dev begin") {
		t.Errorf("config without blocks:\n%s", b)
	}
}
