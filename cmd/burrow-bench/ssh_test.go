package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSplitCommands(t *testing.T) {
	for _, c := range []struct {
		args    []string
		want    [][]string
		wantErr bool
	}{
		{[]string{"ssh", "h", "true"}, [][]string{{"ssh", "h", "true"}}, false},
		{[]string{"a", "1", "---", "b", "---", "c", "2"}, [][]string{{"a", "1"}, {"b"}, {"c", "2"}}, false},
		{nil, nil, true},
		{[]string{"a", "---"}, nil, true},
		{[]string{"---", "a"}, nil, true},
	} {
		got, err := splitCommands(c.args)
		if (err != nil) != c.wantErr || !reflect.DeepEqual(got, c.want) {
			t.Errorf("splitCommands(%q) = %q, %v; want %q, error %v", c.args, got, err, c.want, c.wantErr)
		}
	}
}

func TestTimeOnce(t *testing.T) {
	if _, err := timeOnce([]string{"true"}, 10*time.Second); err != nil {
		t.Fatalf("true: %v", err)
	}
	_, err := timeOnce([]string{"sh", "-c", "echo nope >&2; exit 3"}, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("failing command: got %v, want an error carrying its stderr", err)
	}
	_, err = timeOnce([]string{"sleep", "10"}, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("slow command: got %v, want a timeout", err)
	}
}

// TestTerminalEcho drives the same remote command the benchmark gives ssh,
// run locally on a pty.
func TestTerminalEcho(t *testing.T) {
	if _, err := exec.LookPath("stty"); err != nil {
		t.Skip("no stty")
	}
	tm, err := startOnTerminal([]string{"sh", "-c", "stty raw -echo; echo READY; exec cat"})
	if err != nil {
		t.Fatal(err)
	}
	defer tm.close()
	if err := tm.waitFor([]byte("READY"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := tm.echo(byte('a'+i%26), 10*time.Second); err != nil {
			t.Fatalf("keystroke %d: %v", i, err)
		}
	}
}

func TestGoalMark(t *testing.T) {
	for _, c := range []struct {
		r, goal float64
		lower   bool
		want    string
	}{
		{1.2, 1.5, true, " ✓"}, {1.6, 1.5, true, " ✗"},
		{0.9, 0.8, false, " ✓"}, {0.5, 0.8, false, " ✗"},
	} {
		if got := goalMark(c.r, c.goal, c.lower); got != c.want {
			t.Errorf("goalMark(%v, %v, %v) = %q, want %q", c.r, c.goal, c.lower, got, c.want)
		}
	}
}

func TestSSHReport(t *testing.T) {
	dir := t.TempDir()
	write := sshResultWriter(t, dir)
	write("meta.txt", "transfer size: 64 MiB\n")
	for _, c := range []struct{ id, true, up1, up2, echo string }{
		{"direct", `{"n":3,"ok":3,"p50_ms":200,"p90_ms":210}`, `{"n":1,"ok":1,"mb_per_s":400}`, `{"n":1,"ok":1,"mb_per_s":500}`, `{"n":9,"p50_us":300}`},
		{"openssh-burrow", `{"n":3,"ok":3,"p50_ms":100,"p90_ms":110}`, `{"n":1,"ok":1,"mb_per_s":200}`, `{"n":1,"ok":0,"errors":1,"first_error":"boom"}`, `{"n":9,"error":"no echo"}`},
	} {
		write(c.id+"/status", "ok\n")
		write(c.id+"/label", c.id+"-label\n")
		write(c.id+"/true.json", c.true)
		write(c.id+"/up.r1.json", c.up1)
		write(c.id+"/up.r2.json", c.up2)
		write(c.id+"/echo.json", c.echo)
	}
	sshReportHas(t, dir,
		"| upload 64 MiB, default cipher (MB/s) | 500 | 200 | n/a |", // best round
		"| `ssh TARGET true` p50 (ms) | 0.50× ✓ | n/a | ≤ 1.5× |",
		"| upload 64 MiB, default cipher (MB/s) | 0.40× ✗ | n/a | ≥ 0.8× |",
		"openssh-burrow-label: up.r2: 1 of 1 runs failed (first: boom)",
		"openssh-burrow-label: echo: no echo",
		"burrow-cli: not run",
	)
}

// TestSSHReportReference: the reference columns get ratios to the baseline
// without goal marks, and burrow's transfers are divided by each of them.
func TestSSHReportReference(t *testing.T) {
	dir := t.TempDir()
	write := sshResultWriter(t, dir)
	write("meta.txt", "transfer size: 64 MiB\n")
	writeUploads(write, map[string]string{"direct": "500", proxyNC: "400", floorTLS: "250", "openssh-burrow": "200"})
	sshReportHas(t, dir,
		"| upload 64 MiB, default cipher (MB/s) | 500 | 400 | 250 | 200 | n/a |",
		"| upload 64 MiB, default cipher (MB/s) | 0.80× | 0.50× | 0.40× ✗ | n/a | ≥ 0.8× |",
		"### openssh-burrow ÷ proxy-nc\n\n| ratio | value |\n|---|---:|\n| upload 64 MiB, default cipher (MB/s) | 0.50× |",
		"### openssh-burrow ÷ floor-tls\n\n| ratio | value |\n|---|---:|\n| upload 64 MiB, default cipher (MB/s) | 0.80× |",
	)
}

// TestSSHReportSkippedReference: a reference that could not run (no nc)
// says why, and the rest of the report stands.
func TestSSHReportSkippedReference(t *testing.T) {
	dir := t.TempDir()
	write := sshResultWriter(t, dir)
	writeUploads(write, map[string]string{"direct": "500", "openssh-burrow": "200"})
	write(proxyNC+"/status", "skipped: no nc on PATH\n")
	write(proxyNC+"/label", proxyNC+"\n")
	var b strings.Builder
	writeSSHReport(&b, dir)
	if out := b.String(); strings.Contains(out, "÷ "+proxyNC) || !strings.Contains(out, "skipped: no nc on PATH") {
		t.Errorf("report:\n%s", out)
	}
	sshReportHas(t, dir, "| upload 1 GiB, default cipher (MB/s) | n/a | 0.40× ✗ | n/a | ≥ 0.8× |")
}

// sshReportHas checks that the SSH report of dir holds every line of wants.
func sshReportHas(t *testing.T, dir string, wants ...string) {
	t.Helper()
	var b strings.Builder
	writeSSHReport(&b, dir)
	out := b.String()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// sshResultWriter returns a function that writes a file of DIR/ssh, as
// scripts/bench.sh does.
func sshResultWriter(t *testing.T, dir string) func(name, s string) {
	return func(name, s string) {
		t.Helper()
		p := filepath.Join(dir, "ssh", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeUploads writes a measured column per entry of mbps (column id to
// upload MB/s), labelled with its id.
func writeUploads(write func(name, s string), mbps map[string]string) {
	for id, up := range mbps {
		write(id+"/status", "ok\n")
		write(id+"/label", id+"\n")
		write(id+"/up.json", `{"n":1,"ok":1,"mb_per_s":`+up+`}`)
	}
}
