//go:build e2e && linux

package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
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
	bigFileSize     = 256 << 20       // bytes of the scp and sftp transfers
	bigCopyTimeout  = 5 * time.Minute // one of them
	smallFileSize   = 1 << 20         // bytes of the legacy scp transfer
	cpFileSize      = 8 << 20         // bytes of the burrow cp transfer
	cpFileMode      = 0o640           // its mode, which the copies keep
	otherUserFileSz = 2 << 20         // bytes copied as the other user
)

// bigFile writes the 256 MiB file once per suite and returns its path and
// SHA-256.
func (s *sshSuite) bigFile(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(s.dir, "big.bin")
	if s.bigSum == "" {
		s.bigSum = writeStream(t, path, "ssh-big-file", bigFileSize, 0o644)
	}
	return path, s.bigSum
}

// timed runs a command that moves size bytes, fails t unless it exits 0,
// and logs the throughput.
func (s *sshSuite) timed(t *testing.T, what string, size int64, bin string, args ...string) {
	t.Helper()
	start := time.Now()
	r := runTimeout(s.c.topo.user, s.env, nil, bigCopyTimeout, bin, args...)
	d := time.Since(start)
	if r.err != nil {
		t.Fatalf("%s: %v", what, r)
	}
	logThroughput(t, what, size, d)
}

// copyBothWays copies the big file up with up(dst) and down with
// down(src, dst), both through the tunnel, and checks the copies.
func (s *sshSuite) copyBothWays(t *testing.T, tool string, up func(dst string) []string, down func(src, dst string) []string) {
	big, sum := s.bigFile(t)
	upDst := filepath.Join(s.dir, tool+"-up.bin")
	s.timed(t, tool+" client → target", bigFileSize, tool, up(upDst)...)
	checkFile(t, upDst, sum)
	os.Remove(upDst)
	downDst := filepath.Join(s.dir, tool+"-down.bin")
	s.timed(t, tool+" target → client", bigFileSize, tool, down(big, downDst)...)
	checkFile(t, downDst, sum)
	os.Remove(downDst)
}

func (s *sshSuite) testSCP(t *testing.T) {
	big, _ := s.bigFile(t)
	s.copyBothWays(t, "scp",
		func(dst string) []string { return []string{"-F", s.config, "-q", big, targetName + ":" + dst} },
		func(src, dst string) []string { return []string{"-F", s.config, "-q", targetName + ":" + src, dst} })
}

func (s *sshSuite) testSFTP(t *testing.T) {
	big, _ := s.bigFile(t)
	batch := func(name, line string) string {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	s.copyBothWays(t, "sftp",
		func(dst string) []string {
			return []string{"-F", s.config, "-q", "-b", batch("put", fmt.Sprintf("put %s %s", big, dst)), targetName}
		},
		func(src, dst string) []string {
			return []string{"-F", s.config, "-q", "-b", batch("get", fmt.Sprintf("get %s %s", src, dst)), targetName}
		})
}

// testSCPLegacy uses scp's original protocol (-O), which runs `scp -t`
// and `scp -f` on the target instead of sftp.
func (s *sshSuite) testSCPLegacy(t *testing.T) {
	src := filepath.Join(s.dir, "legacy.bin")
	sum := writeStream(t, src, "ssh-legacy-scp", smallFileSize, 0o600)
	up, down := filepath.Join(s.dir, "legacy-up.bin"), filepath.Join(s.dir, "legacy-down.bin")
	for _, args := range [][]string{
		{"-O", "-p", "-F", s.config, src, targetName + ":" + up},
		{"-O", "-p", "-F", s.config, targetName + ":" + src, down},
	} {
		if r := runTimeout(s.c.topo.user, s.env, nil, sshTimeout, "scp", args...); r.err != nil {
			t.Fatalf("%v", r)
		}
	}
	for _, p := range []string{up, down} {
		checkFile(t, p, sum)
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("scp -O -p: %s has mode %v, want 0600", p, fi.Mode().Perm())
		}
	}
}

var rsyncTransferredRE = regexp.MustCompile(`Number of regular files transferred: (\d+)`)

func (s *sshSuite) testRsync(t *testing.T) {
	src, dst := filepath.Join(s.dir, "rsync-src"), filepath.Join(s.dir, "rsync-dst")
	makeTree(t, src, true)
	rsync := func() int {
		t.Helper()
		r := runTimeout(s.c.topo.user, s.env, nil, sshTimeout, "rsync", "-a", "--stats",
			"-e", "ssh -F "+s.config, src+"/", targetName+":"+dst+"/")
		if r.err != nil {
			t.Fatalf("%v", r)
		}
		m := rsyncTransferredRE.FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("rsync --stats: no count of transferred files in %q", r.stdout)
		}
		var n int
		fmt.Sscan(m[1], &n)
		return n
	}
	if n := rsync(); n != 6 {
		t.Errorf("first rsync transferred %d regular files, want 6", n)
	}
	sameTree(t, src, dst)
	if n := rsync(); n != 0 {
		t.Errorf("second rsync of an unchanged tree transferred %d files, want 0", n)
	}
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := rsync(); n != 1 {
		t.Errorf("rsync after changing one file transferred %d files, want 1", n)
	}
	sameTree(t, src, dst)
}

// burrow runs a burrow command in user with the suite's environment.
func (s *sshSuite) burrow(stdin string, args ...string) result {
	return runTimeout(s.c.topo.user, s.env, strings.NewReader(stdin), sshTimeout, burrowBin, args...)
}

func (s *sshSuite) testBurrowSSH(t *testing.T) {
	for _, c := range []struct {
		command []string
		want    int
	}{
		{[]string{"true"}, 0},
		{[]string{"exit 7"}, 7},
		{[]string{"kill -TERM $$"}, 128 + 15},
		{[]string{"kill -KILL $$"}, 128 + 9},
	} {
		args := append([]string{"ssh", targetName, "--"}, c.command...)
		if r := s.burrow("", args...); r.exitCode != c.want {
			t.Errorf("burrow ssh %s -- %q: exit %d, want %d: %v", targetName, c.command, r.exitCode, c.want, r)
		}
	}
	// Words are joined with spaces as by OpenSSH: `sh -c 'exit 7'` runs
	// `sh -c exit 7` there, which exits 0. Both clients agree.
	words := []string{"sh", "-c", "exit 7"}
	b := s.burrow("", append([]string{"ssh", targetName, "--"}, words...)...)
	o := s.ssh(s.config, nil, append([]string{targetName}, words...)...)
	if b.exitCode != o.exitCode {
		t.Errorf("burrow ssh -- sh -c 'exit 7' exits %d, OpenSSH %d", b.exitCode, o.exitCode)
	}
	r := s.burrow("", "ssh", targetName, "--", "echo out; echo err >&2")
	if r.err != nil || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Errorf("burrow ssh: want \"out\" on stdout and \"err\" on stderr, got %v", r)
	}
	// -t asks for a terminal even with a command and no local terminal;
	// -T never does.
	if r := s.burrow("", "ssh", "-t", targetName, "--", "tty"); !strings.HasPrefix(strings.TrimSpace(r.stdout), "/dev/pts/") {
		t.Errorf("burrow ssh -t %s -- tty: want a /dev/pts terminal, got %v", targetName, r)
	}
	if r := s.burrow("", "ssh", "-T", targetName, "--", "tty"); r.exitCode != 1 || !strings.Contains(r.stdout, "not a tty") {
		t.Errorf("burrow ssh -T %s -- tty: want \"not a tty\" and exit 1, got exit %d: %v", targetName, r.exitCode, r)
	}
	r = s.burrow(script, "ssh", targetName, "sh -s")
	if r.exitCode != 3 || r.stdout != scriptStdout || strings.TrimSpace(r.stderr) != "as root" {
		t.Errorf("burrow ssh %s 'sh -s' < script: want exit 3, stdout %q and stderr \"as root\", got exit %d: %v", targetName, scriptStdout, r.exitCode, r)
	}
}

// testBurrowSSHForwards: burrow ssh's own -L, -R and -A; a forward the
// target refuses is reported on stderr, as OpenSSH reports it; and a
// signal ends burrow ssh as it ends OpenSSH's ssh: the connection closes,
// the remote program is hung up on, and the exit status is 128+n.
func (s *sshSuite) testBurrowSSHForwards(t *testing.T) {
	const offset = forwardOffset + 1000 // clear of the OpenSSH forward tests' ports
	echoL, refusedL, echoR := privLoopEcho+offset, privLoopHash+offset, userLoopEcho+offset
	refusedSpec := fmt.Sprintf("127.0.0.1:%d:127.0.0.1:9", refusedL) // nothing listens on priv's port 9
	p := s.procs.start(t, s.c.topo.user, "burrow-ssh-N", nil, burrowBin, "ssh", "-N",
		"-L", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:%d", echoL, privLoopEcho),
		"-L", refusedSpec,
		"-R", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:%d", echoR, userLoopEcho), targetName)
	defer p.kill()
	eventually(t, forwardReadyTimeout, "burrow ssh -L echoes", func() error {
		if !p.running() {
			t.Fatalf("burrow ssh -N exited: %v\n%s", p.exitErr(), p.output())
		}
		return s.c.echoVia(s.c.topo.user, net.JoinHostPort("127.0.0.1", strconv.Itoa(echoL)))
	})
	eventually(t, forwardReadyTimeout, "burrow ssh -R echoes from priv", func() error {
		return s.c.echoVia(s.c.topo.priv, net.JoinHostPort("127.0.0.1", strconv.Itoa(echoR)))
	})
	if c, err := s.c.dialUser(refusedL); err == nil {
		c.SetDeadline(time.Now().Add(ioTimeout))
		if n, _ := io.Copy(io.Discard, c); n != 0 {
			t.Errorf("a -L to a refused port gave %d bytes", n)
		}
		c.Close()
	}
	eventually(t, forwardReadyTimeout, "the refused -L reported", func() error {
		if e := p.stderr.String(); !strings.Contains(e, "-L "+refusedSpec) || !strings.Contains(e, "refused") {
			return fmt.Errorf("stderr %q does not report -L %s", e, refusedSpec)
		}
		return nil
	})
	if code := exitCode(p.stop(t, syscall.SIGTERM)); code != 128+15 {
		t.Errorf("burrow ssh -N after SIGTERM: exit %d, want %d\n%s", code, 128+15, p.output())
	}

	env, fp := s.startAgentWithKey(t)
	if r := runTimeout(s.c.topo.user, env, nil, sshTimeout, burrowBin, "ssh", "-A", targetName, "--", "ssh-add -l"); r.err != nil || !strings.Contains(r.stdout, fp) {
		t.Errorf("burrow ssh -A %s -- ssh-add -l: want %s listed, got %v", targetName, fp, r)
	}

	const marker = "86399" // the remote program is `sleep 86399`; pgrep matches it alone, not burrow ssh's own command line
	p = s.procs.start(t, s.c.topo.user, "burrow-ssh-sleep", nil, burrowBin, "ssh", targetName, "--", "sleep", marker)
	defer p.kill()
	eventually(t, forwardReadyTimeout, "the remote sleep started", func() error {
		if r := run(s.c.topo.priv, nil, nil, "pgrep", "-f", "^sleep "+marker+"$"); r.exitCode != 0 {
			return fmt.Errorf("no remote sleep yet: %v", r)
		}
		return nil
	})
	if code := exitCode(p.stop(t, syscall.SIGINT)); code != 128+2 {
		t.Errorf("burrow ssh -- sleep after SIGINT: exit %d, want %d\n%s", code, 128+2, p.output())
	}
	eventually(t, forwardReadyTimeout, "the remote sleep hung up on", func() error {
		if r := run(s.c.topo.priv, nil, nil, "pgrep", "-f", "^sleep "+marker+"$"); r.exitCode == 0 {
			return fmt.Errorf("remote sleep still running: %s", r.stdout)
		}
		return nil
	})
}

// exitCode is the exit status in a Wait error (0 for nil, -1 if none).
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

func (s *sshSuite) testBurrowSSHInteractive(t *testing.T) {
	env := withEnv(s.env, "PS1=local$ ")
	m := startTmux(t, s.c.topo.user, env, t.TempDir(), ptyCols, ptyRows, "bash", "--norc", "--noprofile", "--noediting", "-i")
	m.typeLine(`echo "before=$(stty -g)"`)
	before := m.waitScreen(`(?m)^before=(\S+)`)[1]
	m.typeLine(burrowBin + " ssh " + targetName)
	// $SSH_TTY is set on the target only.
	m.typeLine(`echo "remote=$SSH_TTY $(stty size)"`)
	m.waitScreen(fmt.Sprintf(`(?m)^remote=/dev/pts/\d+ %d %d`, ptyRows, ptyCols))
	m.resize(resizedCols, resizedRows)
	m.typeLine(`echo "resized=$SSH_TTY $(stty size)"`)
	m.waitScreen(fmt.Sprintf(`(?m)^resized=/dev/pts/\d+ %d %d`, resizedRows, resizedCols))
	m.typeLine("exit")
	waitNoProc(t, "burrow ssh", argvIs(burrowBin, "ssh", targetName))
	if strings.Contains(m.screen(), "panic:") {
		t.Fatalf("burrow ssh panicked when the session ended:\n%s", m.screen())
	}
	m.typeLine(`echo "rc=$?"; echo "after=$(stty -g)"; stty -a`)
	if rc := m.waitScreen(`(?m)^rc=(\d+)`)[1]; rc != "0" {
		t.Errorf("burrow ssh exited %s after the remote shell's exit, want 0", rc)
	}
	if after := m.waitScreen(`(?m)^after=(\S+)`)[1]; after != before {
		t.Errorf("terminal settings after burrow ssh: %s, before: %s", after, before)
	}
	screen := m.screen()
	stty := screen[strings.LastIndex(screen, "after="):]
	for _, flag := range []string{"icanon", "echo", "isig"} {
		if !regexp.MustCompile(`(^|\s)` + flag + `(\s|$)`).MatchString(stty) {
			t.Errorf("stty -a after burrow ssh lacks %s:\n%s", flag, stty)
		}
	}
	// Raw mode is restored on a signal too: SIGTERM mid-session exits
	// 128+15 and leaves the terminal as it found it.
	m.typeLine("clear")
	m.typeLine(burrowBin + " ssh " + targetName)
	m.typeLine(`echo "again=$SSH_TTY"`)
	m.waitScreen(`(?m)^again=/dev/pts/\d+`)
	if err := syscall.Kill(waitProc(t, "burrow ssh", argvIs(burrowBin, "ssh", targetName)), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitNoProc(t, "burrow ssh after SIGTERM", argvIs(burrowBin, "ssh", targetName))
	m.typeLine(`echo "rc2=$?"; echo "after2=$(stty -g)"`)
	if rc := m.waitScreen(`(?m)^rc2=(\d+)`)[1]; rc != "143" {
		t.Errorf("burrow ssh exited %s on SIGTERM, want 143", rc)
	}
	if after := m.waitScreen(`(?m)^after2=(\S+)`)[1]; after != before {
		t.Errorf("terminal settings after SIGTERM to burrow ssh: %s, before: %s", after, before)
	}
	// "~." at a line start ends the connection at once, as OpenSSH's
	// escape does: exit 255, the terminal as it was.
	m.typeLine("clear")
	m.typeLine(burrowBin + " ssh " + targetName)
	m.typeLine(`echo "third=$SSH_TTY"`)
	m.waitScreen(`(?m)^third=/dev/pts/\d+`)
	m.keys("Enter", "~", ".")
	waitNoProc(t, "burrow ssh after ~.", argvIs(burrowBin, "ssh", targetName))
	m.typeLine(`echo "rc3=$?"; echo "after3=$(stty -g)"`)
	if rc := m.waitScreen(`(?m)^rc3=(\d+)`)[1]; rc != "255" || !strings.Contains(m.screen(), "Connection to "+targetName+" closed.") {
		t.Errorf("burrow ssh after ~.: exit %s, want 255 and the closing line:\n%s", rc, m.screen())
	}
	if after := m.waitScreen(`(?m)^after3=(\S+)`)[1]; after != before {
		t.Errorf("terminal settings after ~.: %s, before: %s", after, before)
	}
	m.typeLine("exit 0")
	if st, sig := m.waitDead(); sig != "" {
		// The local shell, after burrow is gone: seen once in ~6 runs
		// (signal unknown then); logged to learn which, not a burrow result.
		t.Logf("the local shell in the pane died by signal %s", sig)
	} else if st != 0 {
		t.Errorf("local shell exited %d", st)
	}
}

func (s *sshSuite) testBurrowCp(t *testing.T) {
	src := filepath.Join(s.dir, "cp-src.bin")
	sum := writeStream(t, src, "burrow-cp", cpFileSize, cpFileMode)
	up, down := filepath.Join(s.dir, "cp-up.bin"), filepath.Join(s.dir, "cp-down")
	if err := os.Mkdir(down, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"cp", src, targetName + ":" + up},
		{"cp", targetName + ":" + src, down}, // into the existing folder
	} {
		if r := s.burrow("", args...); r.err != nil {
			t.Fatalf("%v", r)
		}
	}
	for _, p := range []string{up, filepath.Join(down, "cp-src.bin")} {
		checkFile(t, p, sum)
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm() != cpFileMode {
			t.Errorf("burrow cp: %s has mode %v, want %v", p, fi.Mode().Perm(), os.FileMode(cpFileMode))
		}
	}

	// --resume after a copy was cut off: both ways, only the rest is
	// copied, and the whole file matches.
	for _, args := range [][]string{
		{"cp", "--resume", src, targetName + ":" + up},
		{"cp", "--resume", targetName + ":" + src, down},
	} {
		dst := up
		if args[len(args)-1] == down {
			dst = filepath.Join(down, "cp-src.bin")
		}
		if err := os.Truncate(dst, cpFileSize/3); err != nil {
			t.Fatal(err)
		}
		if r := s.burrow("", args...); r.err != nil || r.stderr != "" {
			t.Fatalf("%v", r)
		}
		checkFile(t, dst, sum)
	}

	tree, treeUp, treeDown := filepath.Join(s.dir, "cp-tree"), filepath.Join(s.dir, "cp-tree-up"), filepath.Join(s.dir, "cp-tree-down")
	makeTree(t, tree, false)
	if r := s.burrow("", "cp", "-r", tree, targetName+":"+treeUp); r.err != nil {
		t.Fatalf("%v", r)
	}
	sameTree(t, tree, treeUp)
	if r := s.burrow("", "cp", "-r", targetName+":"+treeUp, treeDown); r.err != nil {
		t.Fatalf("%v", r)
	}
	sameTree(t, tree, treeDown)
}
