//go:build e2e && linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	sshTimeout     = 60 * time.Second // one ssh, scp or sftp command moving little data
	screenTimeout  = 30 * time.Second // a tmux screen to show what a test waits for
	procGoneTime   = 15 * time.Second // a process to end after a signal
	userContext    = ctlUserAddr      // name `burrow login` gives the admin's context
	tmuxSessionTag = "e2e"            // the one tmux session of a tmux server
)

// sshEnv is env without what would make OpenSSH or tmux use the machine's
// agent or terminal multiplexer instead of the test's.
func sshEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SSH_") || strings.HasPrefix(name, "TMUX") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// withEnv is env with kvs added; later entries win.
func withEnv(env []string, kvs ...string) []string {
	return append(append([]string(nil), env...), kvs...)
}

// writeSSHConfig runs `burrow ssh-config --write` for the context (""
// for the current one) into file.
func (c *cluster) writeSSHConfig(t *testing.T, env []string, file, ctxName string) {
	t.Helper()
	args := []string{"ssh-config", "--write", "--ssh-config-file", file}
	if ctxName != "" {
		args = append(args, "--context", ctxName)
	}
	r := run(c.topo.user, env, nil, burrowBin, args...)
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	if !strings.Contains(r.stdout, file) {
		t.Errorf("ssh-config --write: want the file named on stdout, got %v", r)
	}
}

// apiToken is the part of `burrow token create -o json` the tests use.
type apiToken struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// createToken makes an API token with the admin's context.
func (c *cluster) createToken(t *testing.T, env []string, args ...string) apiToken {
	t.Helper()
	r := run(c.topo.user, env, nil, burrowBin, append([]string{"token", "create", "-o", "json"}, args...)...)
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	var tok apiToken
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil || tok.ID == "" || tok.Secret == "" {
		t.Fatalf("token create -o json: want id and secret, got %q (%v)", r.stdout, err)
	}
	return tok
}

// loginContext saves token as context name, then selects the admin's
// context again.
func (c *cluster) loginContext(t *testing.T, env []string, name, token string) {
	t.Helper()
	for _, args := range [][]string{
		{"login", c.userURL(), "--token", token, "--fingerprint", c.fingerprint, "--context", name},
		{"context", "use", userContext},
	} {
		if r := run(c.topo.user, env, nil, burrowBin, args...); r.err != nil {
			t.Fatalf("%v", r)
		}
	}
}

// httpClient speaks HTTPS to the controller from user, pinning its
// certificate. It keeps no idle connection, so it leaves no goroutine
// behind in the controller.
func (c *cluster) httpClient() *http.Client {
	want := strings.ToLower(c.fingerprint)
	return &http.Client{Timeout: cliTimeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			conn, err := c.topo.user.dial(ctx, addr)
			if err != nil {
				return nil, err
			}
			return conn, nil
		},
		TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, // replaced by the pin check
			NextProtos:         []string{"http/1.1"},
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return fmt.Errorf("controller presented no certificate")
				}
				sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
				if got := "sha256:" + hex.EncodeToString(sum[:]); got != want {
					return fmt.Errorf("controller certificate %s, want %s", got, want)
				}
				return nil
			},
		},
	}}
}

// sshCert is the part of POST /v1/ssh/certificates' answer the tests use.
type sshCert struct {
	Certificate string    `json:"certificate"`
	ValidBefore time.Time `json:"valid_before"`
}

// signSSHCert has the controller certify the public key in pubFile with
// token for principals and ttl, and writes the certificate to certFile.
func (c *cluster) signSSHCert(t *testing.T, token, pubFile, certFile string, principals []string, ttl string) sshCert {
	t.Helper()
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"public_key": strings.TrimSpace(string(pub)), "principals": principals, "ttl": ttl})
	req, err := http.NewRequest("POST", c.userURL()+"/v1/ssh/certificates", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		t.Fatalf("POST /v1/ssh/certificates: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/ssh/certificates: %s: %s", resp.Status, b)
	}
	var cert sshCert
	if err := json.Unmarshal(b, &cert); err != nil || cert.Certificate == "" {
		t.Fatalf("POST /v1/ssh/certificates: no certificate in %s (%v)", b, err)
	}
	if err := os.WriteFile(certFile, []byte(cert.Certificate+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cert
}

// controllerGoroutines reads go_goroutines from the controller's /metrics.
func (c *cluster) controllerGoroutines() (int, error) {
	return c.controllerMetric("go_goroutines")
}

// controllerMetric reads one sample, e.g. `name{label="value"}`, from the
// controller's /metrics.
func (c *cluster) controllerMetric(sample string) (int, error) {
	resp, err := c.httpClient().Get(c.userURL() + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\d+)$`).FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("/metrics (%s) has no %s", resp.Status, sample)
	}
	return strconv.Atoi(string(m[1]))
}

// fdCount is how many file descriptors process pid has open, not
// counting files under skip (when not "").
func fdCount(pid int, skip string) (int, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if target, _ := os.Readlink(filepath.Join(dir, e.Name())); skip == "" || !strings.HasPrefix(target, skip+"/") {
			n++
		}
	}
	return n, err
}

// fdTargets lists what process pid's file descriptors point to, for
// telling which were left open.
func fdTargets(pid int) map[string]string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	out := map[string]string{}
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out[e.Name()] = target
	}
	return out
}

// newFDs describes the descriptors in now that were not in base.
func newFDs(base, now map[string]string) string {
	var out []string
	for fd, target := range now {
		if base[fd] != target {
			out = append(out, fd+" → "+target)
		}
	}
	return strings.Join(out, ", ")
}

// findProcs returns the live processes whose argv satisfies match.
func findProcs(match func(argv []string) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(b) == 0 { // gone, or a zombie
			continue
		}
		if match(strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// argvIs matches an argv equal to want.
func argvIs(want ...string) func([]string) bool {
	return func(argv []string) bool { return strings.Join(argv, "\x00") == strings.Join(want, "\x00") }
}

// waitProc waits until a process matching match runs and returns its pid.
func waitProc(t *testing.T, what string, match func([]string) bool) int {
	t.Helper()
	var pid int
	eventually(t, screenTimeout, what+" runs", func() error {
		pids := findProcs(match)
		if len(pids) != 1 {
			return fmt.Errorf("%d such processes", len(pids))
		}
		pid = pids[0]
		return nil
	})
	return pid
}

// waitNoProc waits until no process matches match.
func waitNoProc(t *testing.T, what string, match func([]string) bool) {
	t.Helper()
	eventually(t, procGoneTime, what+" is gone", func() error {
		if pids := findProcs(match); len(pids) > 0 {
			return fmt.Errorf("still running: %v", pids)
		}
		return nil
	})
}

// keygen makes an unencrypted ed25519 key pair path and path.pub.
func keygen(t *testing.T, path, comment string) {
	t.Helper()
	if b, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, b)
	}
}

// keyFingerprint is the SHA256:… fingerprint of the public key in pubFile.
func keyFingerprint(t *testing.T, pubFile string) string {
	t.Helper()
	b, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", pubFile).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l -f %s: %v", pubFile, err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 || !strings.HasPrefix(f[1], "SHA256:") {
		t.Fatalf("ssh-keygen -l -f %s: %q", pubFile, b)
	}
	return f[1]
}

var (
	identityLine = regexp.MustCompile(`(?m)^(\s*)IdentityFile .*$`)
	certLine     = regexp.MustCompile(`(?m)^(\s*)CertificateFile .*$`)
)

// variantConfig writes a copy of the ssh_config base that offers key and
// cert ("": none) instead of the burrow-managed pair, and returns its
// path.
func variantConfig(t *testing.T, base, out, key, cert string) string {
	t.Helper()
	b, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if len(identityLine.FindAllString(s, -1)) != 1 || len(certLine.FindAllString(s, -1)) != 1 {
		t.Fatalf("%s: want one IdentityFile and one CertificateFile line:\n%s", base, s)
	}
	s = identityLine.ReplaceAllString(s, "${1}IdentityFile "+key)
	if cert == "" {
		s = certLine.ReplaceAllString(s, "")
	} else {
		s = certLine.ReplaceAllString(s, "${1}CertificateFile "+cert)
	}
	if err := os.WriteFile(out, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// writeStream writes n bytes of the stream named seed to path with mode,
// and returns their SHA-256.
func writeStream(t *testing.T, path, seed string, n int64, mode fs.FileMode) string {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		t.Fatal(err)
	}
	h := newHashWriter()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := io.Copy(w, stream(seed, n)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return h.hex()
}

// fileSHA256 hashes the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum, _, err := sha256Hex(f)
	return sum, err
}

// checkFile checks that path holds the bytes hashing to want.
func checkFile(t *testing.T, path, want string) {
	t.Helper()
	got, err := fileSHA256(path)
	if err != nil {
		t.Errorf("%v", err)
	} else if got != want {
		t.Errorf("%s: SHA-256 %s, want %s", path, got, want)
	}
}

// owner is the uid owning path.
func owner(t *testing.T, path string) uint32 {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Uid
}

// treeEntry is what a copy of a folder must keep of each entry.
type treeEntry struct {
	mode fs.FileMode
	sum  string // files: SHA-256; symlinks: the target
}

// makeTree fills root with files of several sizes and modes in nested
// folders, and a symlink when withLink.
func makeTree(t *testing.T, root string, withLink bool) {
	t.Helper()
	dirs := []struct {
		path string
		mode fs.FileMode
	}{{"bin", 0o755}, {"secret", 0o700}, {"deep", 0o750}, {"deep/er", 0o755}, {"deep/er/still", 0o755}}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d.path), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := []struct {
		path string
		size int64
		mode fs.FileMode
	}{
		{"a.txt", 100, 0o644}, {"empty", 0, 0o644}, {"bin/run.sh", 2000, 0o755},
		{"secret/key", 411, 0o600}, {"deep/er/still/data.bin", 3 << 20, 0o640}, {"deep/notes", 70000, 0o664},
	}
	for _, f := range files {
		writeStream(t, filepath.Join(root, f.path), "tree-"+f.path, f.size, f.mode)
	}
	for _, d := range dirs { // after the files, so 0700 does not get in the way
		if err := os.Chmod(filepath.Join(root, d.path), d.mode); err != nil {
			t.Fatal(err)
		}
	}
	if withLink {
		if err := os.Symlink("a.txt", filepath.Join(root, "link")); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree lists every entry under root by its relative path.
func readTree(t *testing.T, root string) map[string]treeEntry {
	t.Helper()
	tree := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		e := treeEntry{mode: fi.Mode()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			e.sum, err = os.Readlink(path)
		case fi.Mode().IsRegular():
			e.sum, err = fileSHA256(path)
		}
		tree[rel] = e
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// sameTree checks that got holds what want does, with the same modes.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	w, g := readTree(t, want), readTree(t, got)
	for path, we := range w {
		ge, ok := g[path]
		switch {
		case !ok:
			t.Errorf("%s: missing in the copy %s", path, got)
		case ge.mode != we.mode:
			t.Errorf("%s: mode %v in the copy, %v in the original", path, ge.mode, we.mode)
		case ge.sum != we.sum:
			t.Errorf("%s: content differs in the copy (%s, want %s)", path, ge.sum, we.sum)
		}
	}
	for path := range g {
		if _, ok := w[path]; !ok {
			t.Errorf("%s: in the copy %s but not in the original", path, got)
		}
	}
}

// noFile checks that nothing created path: the refused command did not
// run.
func noFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		t.Errorf("%s exists: the command ran although the login was refused", path)
	}
}

// tmux is a tmux server with one session, inside a namespace.
type tmux struct {
	t    *testing.T
	ns   netns
	env  []string
	sock string
}

// startTmux runs command in a detached tmux session of cols×rows with
// TERM=screen, no status line, and panes that stay after their command
// ended (to read its exit status).
func startTmux(t *testing.T, ns netns, env []string, dir string, cols, rows int, command ...string) *tmux {
	t.Helper()
	conf := filepath.Join(dir, "tmux.conf")
	confText := "set -g status off\nset -g remain-on-exit on\nset -g default-terminal screen\nset -g history-limit 10000\n"
	if err := os.WriteFile(conf, []byte(confText), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &tmux{t: t, ns: ns, env: env, sock: filepath.Join(dir, "tmux.sock")}
	args := []string{"-f", conf, "new-session", "-d", "-s", tmuxSessionTag, "-x", strconv.Itoa(cols), "-y", strconv.Itoa(rows)}
	m.must(append(args, command...)...)
	t.Cleanup(func() {
		if r := m.run("kill-server"); r.err != nil {
			t.Logf("tmux kill-server: %v", r)
		}
	})
	return m
}

func (m *tmux) run(args ...string) result {
	return run(m.ns, m.env, nil, "tmux", append([]string{"-S", m.sock}, args...)...)
}

func (m *tmux) must(args ...string) string {
	m.t.Helper()
	r := m.run(args...)
	if r.err != nil {
		m.t.Fatalf("%v", r)
	}
	return r.stdout
}

// typeLine types text and Enter into the pane.
func (m *tmux) typeLine(text string) {
	m.t.Helper()
	m.must("send-keys", "-t", tmuxSessionTag, "-l", text)
	m.must("send-keys", "-t", tmuxSessionTag, "Enter")
}

// keys sends tmux key names such as C-c.
func (m *tmux) keys(keys ...string) {
	m.t.Helper()
	m.must(append([]string{"send-keys", "-t", tmuxSessionTag}, keys...)...)
}

// screen is the pane's history and visible screen, wrapped lines joined.
func (m *tmux) screen() string {
	m.t.Helper()
	return m.must("capture-pane", "-p", "-J", "-S", "-", "-t", tmuxSessionTag)
}

// waitScreen waits until the pane's text matches re and returns the
// submatches of the last match.
func (m *tmux) waitScreen(re string) []string {
	m.t.Helper()
	rx := regexp.MustCompile(re)
	var match []string
	var last string
	if err := poll(screenTimeout, func() error {
		last = m.screen()
		all := rx.FindAllStringSubmatch(last, -1)
		if all == nil {
			return fmt.Errorf("no match")
		}
		match = all[len(all)-1]
		return nil
	}); err != nil {
		m.t.Fatalf("tmux screen does not show %q within %v:\n%s", re, screenTimeout, last)
	}
	return match
}

// resize makes the window, and so the pane, cols×rows.
func (m *tmux) resize(cols, rows int) {
	m.t.Helper()
	m.must("resize-window", "-t", tmuxSessionTag, "-x", strconv.Itoa(cols), "-y", strconv.Itoa(rows))
}

// waitDead waits until the pane's command ended and returns its exit
// status, or the signal that killed it (status -1). tmux sometimes marks a
// pane dead without ever reporting either (seen on CI with tmux 3.3a);
// after a few seconds that is returned as status -2, signal "unknown".
func (m *tmux) waitDead() (status int, signal string) {
	m.t.Helper()
	var deadSince time.Time
	eventually(m.t, screenTimeout, "the pane's command exits", func() error {
		out := strings.Fields(m.must("display-message", "-p", "-t", tmuxSessionTag, "#{pane_dead} s=#{pane_dead_status} g=#{pane_dead_signal}"))
		if len(out) < 1 || out[0] != "1" {
			return fmt.Errorf("pane_dead %v", out)
		}
		for _, f := range out[1:] {
			if v, ok := strings.CutPrefix(f, "s="); ok && v != "" {
				status, _ = strconv.Atoi(v)
				return nil
			}
			if v, ok := strings.CutPrefix(f, "g="); ok && v != "" {
				status, signal = -1, v
				return nil
			}
		}
		if deadSince.IsZero() {
			deadSince = time.Now()
		} else if time.Since(deadSince) > 5*time.Second {
			status, signal = -2, "unknown"
			return nil
		}
		return fmt.Errorf("neither exit status nor signal yet: %v", out)
	})
	return status, signal
}
