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

	// A link whose file does not exist yet: the file is made there.
	dangling := filepath.Join(dir, "dangling")
	os.Symlink(filepath.Join("dotfiles", "later"), dangling)
	if err := writeSSHConfig(dangling, "dev", "Host web-1\n"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(dangling); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the dangling link was replaced: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "dotfiles", "later")); err != nil || !strings.Contains(string(b), "Host web-1") {
		t.Errorf("the link's file: %q, %v", b, err)
	}
	loop := filepath.Join(dir, "loop")
	os.Symlink("loop", loop)
	if err := writeSSHConfig(loop, "dev", "Host web-1\n"); err == nil {
		t.Error("a link to itself was written through")
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

// TestWriteSSHConfigTwoContexts: a second context's section goes before
// the first's, not inside it, and rewriting either keeps the other.
func TestWriteSSHConfigTwoContexts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	os.WriteFile(path, []byte("Host mine\n    User me\n"), 0o600)
	write := func(ctx, block string) string {
		t.Helper()
		if err := writeSSHConfig(path, ctx, block); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		return string(b)
	}
	write("a", "Match host a-1\n    Port 1\n")
	write("b", "Match host b-1\n    Port 2\n")
	got := write("a", "Match host a-2\n    Port 1\n")
	for _, want := range []string{"Match host b-1", "Match host a-2", "Host mine"} {
		if strings.Count(got, want) != 1 {
			t.Errorf("config lacks one %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "a-1") {
		t.Errorf("the old section of a is still there:\n%s", got)
	}
	// Each section whole: b's lies outside a's markers.
	aBegin, aEnd := strings.Index(got, "burrow a begin"), strings.Index(got, "burrow a end")
	if b := strings.Index(got, "Match host b-1"); b > aBegin && b < aEnd {
		t.Errorf("b's section is inside a's:\n%s", got)
	}
}

// TestWriteSSHConfigInclude: an Include (whose files may hold Host blocks)
// comes after burrow's section, and the options after the section apply
// to every host again ("Match all" ends the block). --remove takes the
// section out and leaves the rest as it was.
func TestWriteSSHConfigInclude(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	user := "ServerAliveInterval 10\nInclude conf.d/*.conf\nCompression yes\nHost *\n    User me\n"
	os.WriteFile(path, []byte(user), 0o600)
	if err := writeSSHConfig(path, "dev", "Host web-1\n    Port 22\nMatch all\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	if i, j := strings.Index(got, "Host web-1"), strings.Index(got, "Include conf.d"); !(strings.Index(got, "ServerAliveInterval") < i && i < j) {
		t.Errorf("want globals, burrow's section, then the Include:\n%s", got)
	}
	removed, err := removeSSHConfigSection(path, "dev")
	if err != nil || !removed {
		t.Fatalf("remove: %v, %v", removed, err)
	}
	if b, _ := os.ReadFile(path); string(b) != user {
		t.Errorf("after remove:\n%s\nwant the user's file back:\n%s", b, user)
	}
	if removed, err := removeSSHConfigSection(path, "dev"); removed || err != nil {
		t.Errorf("second remove: %v, %v", removed, err)
	}
	if others := otherSections("# --- burrow a begin (managed by `burrow ssh-config --write`) ---\n# --- burrow b begin (managed by `burrow ssh-config --write`) ---\n", "a"); len(others) != 1 || others[0] != "b" {
		t.Errorf("otherSections = %q", others)
	}
}
