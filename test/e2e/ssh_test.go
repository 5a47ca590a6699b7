//go:build e2e && linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	streamSize        = 10 << 20        // bytes of stdout and of stderr in one session
	concurrentSSH     = 200             // sessions at once
	concurrentTimeout = 5 * time.Minute // each of them, started together
	leakTimeout       = time.Minute     // fds and goroutines back to their baseline

	// targetsrv instances of TestSSH, all on loopback: one in priv that
	// only the target reaches (for ssh -L), one in user (for ssh -R).
	privLoopEcho, privLoopHash, privLoopSource = 7201, 7202, 7203
	userLoopEcho, userLoopHash, userLoopSource = 7301, 7302, 7303
	forwardOffset                              = 10000 // -L/-R listen on the service's port + this
	forwardPayload                             = 4 << 20

	// PTY geometry in tmux, before and after the resize.
	ptyCols, ptyRows         = 100, 30
	resizedCols, resizedRows = 120, 40
)

// sshSuite is a cluster whose agent in priv runs the built-in SSH server,
// with OpenSSH set up in user by `burrow ssh-config --write`.
type sshSuite struct {
	c      *cluster
	env    []string // environment of burrow, ssh, scp, sftp, rsync and tmux in user
	procs  *procs   // long-running processes of the tests, with env
	dir    string   // scratch files; priv shares the file system
	config string   // ssh_config for the admin's context
	bigSum string   // SHA-256 of big.bin, once bigFile wrote it
}

// TestSSH drives the agent's SSH server with the real OpenSSH client,
// rsync and tmux from user, which reaches priv only through the
// controller, and with `burrow ssh` and `burrow cp`.
func TestSSH(t *testing.T) {
	requireSSHTools(t)
	s := newSSHSuite(t)

	t.Run("ssh-config-and-true", s.testTrue)
	t.Run("exit-status", s.testExitStatus)
	t.Run("stdout-stderr-10MiB", s.testStreams)
	t.Run("script-on-stdin", s.testScript)
	t.Run("pty-in-tmux", s.testPTY)
	t.Run("scp-256MiB", s.testSCP)
	t.Run("sftp-256MiB", s.testSFTP)
	t.Run("scp-legacy-protocol", s.testSCPLegacy)
	t.Run("rsync", s.testRsync)
	t.Run("local-forward", s.testLocalForward)
	t.Run("remote-forward", s.testRemoteForward)
	t.Run("agent-forward", s.testAgentForward)
	t.Run("burrow-ssh", s.testBurrowSSH)
	t.Run("burrow-ssh-forwards-and-signals", s.testBurrowSSHForwards)
	t.Run("burrow-ssh-interactive", s.testBurrowSSHInteractive)
	t.Run("burrow-cp", s.testBurrowCp)
	t.Run("host-ca-known-hosts", s.testHostCA)
	t.Run("refused", s.testRefusals)
	t.Run("other-user", s.testOtherUser)
	t.Run("200-concurrent", s.testConcurrent)
}

func newSSHSuite(t *testing.T) *sshSuite {
	start := time.Now()
	topo := newTopology(t)
	c := newCluster(t, topo)
	s := &sshSuite{c: c, env: sshEnv(c.env), dir: t.TempDir()}
	s.procs = newProcs(t, s.env)
	c.startController(t)
	joinToken := c.createJoinToken(t, 1)
	c.login(t)
	c.startAgent(t, joinToken)
	c.waitOnline(t, true, agentOnlineTimeout)
	s.startLoopbackTargetsrv(t, topo.priv, "targetsrv-priv-loopback", privLoopEcho, privLoopHash, privLoopSource)
	s.startLoopbackTargetsrv(t, topo.user, "targetsrv-user-loopback", userLoopEcho, userLoopHash, userLoopSource)
	s.config = filepath.Join(s.dir, "ssh_config")
	c.writeSSHConfig(t, s.env, s.config, "")
	t.Logf("SSH suite set up in %v", time.Since(start))
	return s
}

// startLoopbackTargetsrv runs targetsrv on ns's loopback only.
func (s *sshSuite) startLoopbackTargetsrv(t *testing.T, ns netns, name string, echo, hash, source int) {
	t.Helper()
	s.procs.start(t, ns, name, nil, targetsrvBin, "-host", "127.0.0.1",
		"-echo", strconv.Itoa(echo), "-hash", strconv.Itoa(hash), "-source", strconv.Itoa(source))
	eventually(t, targetsrvReadyTimeout, name+" echoes", func() error {
		return s.c.echoVia(ns, net.JoinHostPort("127.0.0.1", strconv.Itoa(echo)))
	})
}

// ssh runs `ssh -F config args...` in user; stdin may be nil.
func (s *sshSuite) ssh(config string, stdin []byte, args ...string) result {
	return s.sshWith(s.env, config, stdin, args...)
}

// sshWith is ssh with another environment.
func (s *sshSuite) sshWith(env []string, config string, stdin []byte, args ...string) result {
	var in io.Reader
	if stdin != nil {
		in = bytes.NewReader(stdin)
	}
	return runTimeout(s.c.topo.user, env, in, sshTimeout, "ssh", append([]string{"-F", config}, args...)...)
}

// mustSSH is ssh that fails t unless the command exits 0.
func (s *sshSuite) mustSSH(t *testing.T, config string, args ...string) result {
	t.Helper()
	r := s.ssh(config, nil, args...)
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	return r
}

// marker is a path in the scratch folder that a refused command would
// create.
func (s *sshSuite) marker(name string) string { return filepath.Join(s.dir, "marker-"+name) }

func (s *sshSuite) testTrue(t *testing.T) {
	r := s.mustSSH(t, s.config, targetName, "true")
	if r.stdout != "" {
		t.Errorf("ssh %s true: stdout %q, want nothing", targetName, r.stdout)
	}
	// The NAME.burrow alias goes through the same ProxyCommand.
	if r := s.mustSSH(t, s.config, targetName+".burrow", "id -un"); strings.TrimSpace(r.stdout) != "root" {
		t.Errorf("ssh %s.burrow id -un: %q, want root", targetName, r.stdout)
	}
	// The certificate is renewed by the config's Match exec before OpenSSH
	// reads it: one that is gone comes back, and the login works.
	b, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*CertificateFile (\S+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("%s names no CertificateFile", s.config)
	}
	cert := strings.Trim(m[1], `"`)
	if err := os.Remove(cert); err != nil {
		t.Fatal(err)
	}
	s.mustSSH(t, s.config, targetName, "true")
	if _, err := os.Stat(cert); err != nil {
		t.Errorf("the certificate was not renewed: %v", err)
	}
}

// exitSignalRE is what `ssh -v` logs when the server reports a signal.
var exitSignalRE = regexp.MustCompile(`rtype exit-signal`)

func (s *sshSuite) testExitStatus(t *testing.T) {
	if r := s.ssh(s.config, nil, targetName, "exit 42"); r.exitCode != 42 {
		t.Errorf("exit 42: ssh exited %d: %v", r.exitCode, r)
	}
	// OpenSSH's client ignores exit-signal and exits 255 when the remote
	// program died of a signal, against its own sshd too (OpenSSH 9.2:
	// `ssh host 'kill -9 $$'` exits 255, `ssh -v` logs "rtype
	// exit-signal"). So: 255, and the exit-signal seen in the debug log.
	for _, sig := range []string{"KILL", "TERM"} {
		r := s.ssh(s.config, nil, "-v", targetName, "kill -"+sig+" $$")
		if r.exitCode != 255 || !exitSignalRE.MatchString(r.stderr) {
			t.Errorf("kill -%s $$: want exit 255 and an exit-signal request, got exit %d:\n%s", sig, r.exitCode, grepLines(r.stderr, "exit"))
		}
	}
}

// grepLines keeps the lines of s that contain substr.
func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func (s *sshSuite) testStreams(t *testing.T) {
	out, errf := filepath.Join(s.dir, "stdout.bin"), filepath.Join(s.dir, "stderr.bin")
	wantOut := writeStream(t, out, "ssh-stdout", streamSize, 0o644)
	wantErr := writeStream(t, errf, "ssh-stderr", streamSize, 0o644)
	// Both streams at once, so that they interleave on the connection.
	start := time.Now()
	r := s.ssh(s.config, nil, targetName, fmt.Sprintf("cat %s & cat %s >&2; wait", out, errf))
	if r.err != nil {
		t.Fatalf("ssh: %v", r.err) // not %v of r: 20 MiB
	}
	t.Logf("10 MiB of stdout and 10 MiB of stderr in %v", time.Since(start).Round(time.Millisecond))
	for _, c := range []struct{ name, got, want string }{{"stdout", r.stdout, wantOut}, {"stderr", r.stderr, wantErr}} {
		sum, n, _ := sha256Hex(strings.NewReader(c.got))
		if n != streamSize || sum != c.want {
			t.Errorf("%s: %d bytes hashing to %s, want %d bytes hashing to %s", c.name, n, sum, streamSize, c.want)
		}
	}
}

// script is fed to `sh -s` on standard input.
const script = `set -e
echo "script: start"
for i in 1 2 3; do echo "line $i"; done
cat <<'EOT'
literal $HOME
EOT
echo "as $(id -un)" >&2
exit 3
`

const scriptStdout = "script: start\nline 1\nline 2\nline 3\nliteral $HOME\n"

func (s *sshSuite) testScript(t *testing.T) {
	r := s.ssh(s.config, []byte(script), targetName, "sh -s")
	if r.exitCode != 3 || r.stdout != scriptStdout || strings.TrimSpace(r.stderr) != "as root" {
		t.Errorf("ssh %s 'sh -s' < script: want exit 3, stdout %q and stderr \"as root\", got exit %d: %v", targetName, scriptStdout, r.exitCode, r)
	}
}

func (s *sshSuite) testPTY(t *testing.T) {
	m := startTmux(t, s.c.topo.user, s.env, t.TempDir(), ptyCols, ptyRows, "ssh", "-F", s.config, "-tt", targetName)
	// The typed line echoes too; only the output matches these.
	m.typeLine(`stty size; tty; echo "TERM=$TERM"`)
	m.waitScreen(fmt.Sprintf(`(?m)^%d %d\s*$`, ptyRows, ptyCols))
	m.waitScreen(`(?m)^/dev/pts/\d+\s*$`)
	m.waitScreen(`(?m)^TERM=screen\s*$`)

	// A resize reaches the remote program as SIGWINCH and a new size.
	m.typeLine(`trap 'echo "winch=$(stty size)"' WINCH; echo "loop=$((40+2))"; while :; do sleep 1 & wait $!; done`)
	m.waitScreen(`(?m)^loop=42`)
	m.resize(resizedCols, resizedRows)
	m.waitScreen(fmt.Sprintf(`(?m)^winch=%d %d`, resizedRows, resizedCols))
	m.keys("C-c")
	m.typeLine(`trap - WINCH; echo "size=$(stty size)"`)
	m.waitScreen(fmt.Sprintf(`(?m)^size=%d %d`, resizedRows, resizedCols))

	// Ctrl-C interrupts the remote foreground program, not the session.
	arg := strconv.Itoa(4000 + os.Getpid()%1000)
	m.typeLine("sleep " + arg)
	pid := waitProc(t, "remote sleep "+arg, argvIs("sleep", arg))
	m.keys("C-c")
	waitNoProc(t, fmt.Sprintf("remote sleep %s (pid %d) after Ctrl-C", arg, pid), argvIs("sleep", arg))
	m.typeLine(`echo "alive=$((6*7))"`)
	m.waitScreen(`(?m)^alive=42`)
	m.typeLine("exit")
	if st, sig := m.waitDead(); st == -2 {
		t.Logf("tmux reported the pane dead without an exit status")
	} else if st != 0 {
		t.Errorf("ssh -tt exited %d (signal %q) after the remote shell's exit, want 0:\n%s", st, sig, m.screen())
	}
}

func (s *sshSuite) testLocalForward(t *testing.T) {
	echo, hash := privLoopEcho+forwardOffset, privLoopHash+forwardOffset
	p := s.procs.start(t, s.c.topo.user, "ssh-L", nil, "ssh", "-F", s.config, "-N", "-o", "ExitOnForwardFailure=yes",
		"-L", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:%d", echo, privLoopEcho),
		"-L", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:%d", hash, privLoopHash), targetName)
	defer p.kill()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(echo))
	eventually(t, forwardReadyTimeout, "ssh -L echoes", func() error {
		if !p.running() {
			t.Fatalf("ssh -L exited: %v\n%s", p.exitErr(), p.output())
		}
		return s.c.echoVia(s.c.topo.user, addr)
	})
	conn, err := s.c.dialUser(hash)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := uploadConn(conn, forwardPayload, ioTimeout); err != nil {
		t.Errorf("through ssh -L to priv's loopback hash service: %v", err)
	}
}

func (s *sshSuite) testRemoteForward(t *testing.T) {
	echo, hash := userLoopEcho+forwardOffset, userLoopHash+forwardOffset
	p := s.procs.start(t, s.c.topo.user, "ssh-R", nil, "ssh", "-F", s.config, "-N", "-o", "ExitOnForwardFailure=yes",
		"-R", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:%d", echo, userLoopEcho),
		"-R", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:%d", hash, userLoopHash), targetName)
	defer p.kill()
	// From priv's loopback, where the target's programs are.
	priv := s.c.topo.priv
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(echo))
	eventually(t, forwardReadyTimeout, "ssh -R echoes from priv", func() error {
		if !p.running() {
			t.Fatalf("ssh -R exited: %v\n%s", p.exitErr(), p.output())
		}
		return s.c.echoVia(priv, addr)
	})
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	conn, err := priv.dial(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(hash)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := uploadConn(conn, forwardPayload, ioTimeout); err != nil {
		t.Errorf("from priv through ssh -R to user's loopback hash service: %v", err)
	}
	// A program on the target uses the forward (bash's /dev/tcp).
	cmd := fmt.Sprintf(`exec 3<>/dev/tcp/127.0.0.1/%d; echo "from the target" >&3; head -n 1 <&3`, echo)
	if r := s.ssh(s.config, nil, targetName, "bash -c '"+cmd+"'"); r.err != nil || r.stdout != "from the target\n" {
		t.Errorf("a remote program through ssh -R: want \"from the target\" echoed, got %v", r)
	}
}

func (s *sshSuite) testAgentForward(t *testing.T) {
	env, fp := s.startAgentWithKey(t)
	if r := s.sshWith(env, s.config, nil, "-A", targetName, "ssh-add -l"); r.err != nil || !strings.Contains(r.stdout, fp) {
		t.Errorf("ssh -A %s ssh-add -l: want %s listed, got %v", targetName, fp, r)
	}
	// Without -A the target has no agent.
	if r := s.sshWith(env, s.config, nil, targetName, "ssh-add -l"); r.exitCode == 0 || strings.Contains(r.stdout, fp) {
		t.Errorf("ssh %s ssh-add -l without -A: want a failure, got %v", targetName, r)
	}
}

// startAgentWithKey runs an ssh-agent in user holding a new key; it returns
// the suite's environment with SSH_AUTH_SOCK set, and the key's fingerprint.
func (s *sshSuite) startAgentWithKey(t *testing.T) ([]string, string) {
	t.Helper()
	dir := t.TempDir()
	key, sock := filepath.Join(dir, "id_agent"), filepath.Join(dir, "agent.sock")
	keygen(t, key, "e2e-agent-key")
	agent := s.procs.start(t, s.c.topo.user, "ssh-agent", nil, "ssh-agent", "-D", "-a", sock)
	env := withEnv(s.env, "SSH_AUTH_SOCK="+sock)
	eventually(t, forwardReadyTimeout, "ssh-agent answers", func() error {
		if !agent.running() {
			t.Fatalf("ssh-agent exited: %v\n%s", agent.exitErr(), agent.output())
		}
		if r := run(s.c.topo.user, env, nil, "ssh-add", "-l"); r.exitCode != 0 && r.exitCode != 1 { // 1: no keys
			return fmt.Errorf("%v", r)
		}
		return nil
	})
	if r := run(s.c.topo.user, env, nil, "ssh-add", key); r.err != nil {
		t.Fatalf("%v", r)
	}
	t.Cleanup(agent.kill)
	return env, keyFingerprint(t, key+".pub")
}

// testConcurrent runs concurrentSSH sessions at once. The controller's
// descriptors are counted without its database's: the store keeps a
// bounded pool of connections open for good, which load may grow.
func (s *sshSuite) testConcurrent(t *testing.T) {
	warm := time.Now()
	s.mustSSH(t, s.config, targetName, "true") // warm: lazily made state is not a leak
	t.Logf("one ssh true took %v", time.Since(warm).Round(time.Millisecond))
	agent := fdWatch{what: "agent", pid: s.c.agent.cmd.Process.Pid}
	ctl := fdWatch{what: "controller", pid: s.c.controller.cmd.Process.Pid, skip: s.c.ctlDir}
	agent.baseline(t)
	ctl.baseline(t)
	baseGoroutines, gerr := s.c.controllerGoroutines()
	if gerr != nil {
		t.Logf("no goroutine count from the controller: %v", gerr)
	}
	t.Logf("baseline: agent %d fds, controller %d fds, %d goroutines", agent.base, ctl.base, baseGoroutines)

	results := make([]result, concurrentSSH)
	took := make([]time.Duration, concurrentSSH)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range results {
		wg.Go(func() {
			t0 := time.Now()
			results[i] = runTimeout(s.c.topo.user, s.env, nil, concurrentTimeout, "ssh", "-F", s.config, targetName, "echo $$")
			took[i] = time.Since(t0)
		})
	}
	wg.Wait()
	slices.Sort(took)
	t.Logf("%d concurrent ssh sessions in %v; each took %v (median) to %v (max)", concurrentSSH,
		time.Since(start).Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	failed := 0
	for i, r := range results {
		if _, err := strconv.Atoi(strings.TrimSpace(r.stdout)); r.err != nil || err != nil {
			if failed++; failed <= 5 {
				t.Errorf("session %d: want a pid on stdout: %v", i, r)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d sessions failed", failed, concurrentSSH)
	}

	agent.waitBack(t)
	ctl.waitBack(t)
	if gerr == nil {
		if err := poll(leakTimeout, func() error {
			n, err := s.c.controllerGoroutines()
			if err != nil {
				return err
			}
			if n > baseGoroutines {
				return fmt.Errorf("%d goroutines, baseline %d", n, baseGoroutines)
			}
			return nil
		}); err != nil {
			t.Errorf("controller's goroutines not back to baseline within %v: %v", leakTimeout, err)
		}
	}
}

// fdWatch compares a process's open descriptors with a baseline.
type fdWatch struct {
	what string
	pid  int
	skip string // files under it are not counted
	base int
	fds  map[string]string // at the baseline
}

func (w *fdWatch) baseline(t *testing.T) {
	t.Helper()
	n, err := fdCount(w.pid, w.skip)
	if err != nil {
		t.Fatalf("%s: %v", w.what, err)
	}
	w.base, w.fds = n, fdTargets(w.pid)
}

// waitBack waits until the count is at most the baseline.
func (w *fdWatch) waitBack(t *testing.T) {
	t.Helper()
	err := poll(leakTimeout, func() error {
		n, err := fdCount(w.pid, w.skip)
		if err != nil {
			return err
		}
		if n > w.base {
			return fmt.Errorf("%d open, baseline %d", n, w.base)
		}
		return nil
	})
	if err != nil {
		t.Errorf("%s's fds not back to baseline within %v: %v; new: %s", w.what, leakTimeout, err, newFDs(w.fds, fdTargets(w.pid)))
	}
}
