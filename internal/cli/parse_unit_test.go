package cli

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/burrow-dev/burrow/internal/agent"
	"github.com/burrow-dev/burrow/internal/apitype"
)

var forwardSeeds = []struct {
	in   string
	want forwardSpec
	ok   bool
}{
	{"80", forwardSpec{80, 80}, true},
	{"8080:80", forwardSpec{8080, 80}, true},
	{"0:5432", forwardSpec{0, 5432}, true},
	{"65535:65535", forwardSpec{65535, 65535}, true},
	{"1:1", forwardSpec{1, 1}, true},
	{"+22:+22", forwardSpec{22, 22}, true}, // strconv.Atoi accepts a sign
	{"0", forwardSpec{}, false},            // remote 0
	{"1:0", forwardSpec{}, false},
	{"65536", forwardSpec{}, false},
	{"65536:80", forwardSpec{}, false},
	{"-1:80", forwardSpec{}, false},
	{"80:-1", forwardSpec{}, false},
	{"", forwardSpec{}, false},
	{":", forwardSpec{}, false},
	{":80", forwardSpec{}, false},
	{"80:", forwardSpec{}, false},
	{"1:2:3", forwardSpec{}, false},
	{"http", forwardSpec{}, false},
	{" 80", forwardSpec{}, false},
	{"99999999999999999999:80", forwardSpec{}, false},
	{"4294967376:80", forwardSpec{}, false}, // 2^32+80 must not wrap
	{"80:18446744073709551696", forwardSpec{}, false},
}

func TestParseForward(t *testing.T) {
	for _, tt := range forwardSeeds {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseForward(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseForward(%q) = %+v, %v; want %+v, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

// FuzzParseForward: accepted specs always have a usable pair of ports.
func FuzzParseForward(f *testing.F) {
	for _, s := range forwardSeeds {
		f.Add(s.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := parseForward(s)
		if err != nil {
			if spec != (forwardSpec{}) {
				t.Fatalf("parseForward(%q) failed but returned %+v", s, spec)
			}
			return
		}
		if spec.local < 0 || spec.local > 65535 || spec.remote < 1 || spec.remote > 65535 {
			t.Fatalf("parseForward(%q) = %+v: port out of range", s, spec)
		}
		if !strings.Contains(s, ":") && spec.local != spec.remote {
			t.Fatalf("parseForward(%q) = %+v: a lone port must be used on both sides", s, spec)
		}
		again, err := parseForward(fmt.Sprintf("%d:%d", spec.local, spec.remote))
		if err != nil || again != spec {
			t.Fatalf("parseForward(%q) = %+v, but its canonical form parses as %+v, %v", s, spec, again, err)
		}
	})
}

var targetSeeds = []struct {
	in   string // specs separated by newlines
	want []agent.Target
	ok   bool
}{
	{"db=10.0.0.5", []agent.Target{{Name: "db", Host: "10.0.0.5"}}, true},
	{"db=10.0.0.5,allow=5432,6432,deny=22", []agent.Target{{Name: "db", Host: "10.0.0.5", Allow: "5432,6432", Deny: "22"}}, true},
	{"web=example.com,deny=1-1023,allow=8080", []agent.Target{{Name: "web", Host: "example.com", Allow: "8080", Deny: "1-1023"}}, true},
	{"a=h,allow=1,deny=2,allow=3", []agent.Target{{Name: "a", Host: "h", Allow: "1,3", Deny: "2"}}, true},
	{"a=h\nb=[::1]", []agent.Target{{Name: "a", Host: "h"}, {Name: "b", Host: "[::1]"}}, true},
	{"a=h=x", []agent.Target{{Name: "a", Host: "h=x"}}, true},
	{"db", nil, false},
	{"=10.0.0.5", nil, false},
	{"db=", nil, false},
	{"db=,allow=22", nil, false}, // no host
	{"db=,", nil, false},
	{"db=h,5432", nil, false}, // port list before any key
	{"db=h,ports=1", nil, false},
	{"db=h,=1", nil, false},
	{"a=h\nbad", nil, false},
}

func splitSpecs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestParseTargets(t *testing.T) {
	for _, tt := range targetSeeds {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseTargets(splitSpecs(tt.in))
			if (err == nil) != tt.ok || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("parseTargets(%q) = %+v, %v; want %+v, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

// FuzzParseTargets: parseTargets never panics; every target it accepts has
// a name and a host, and prints back to a spec that parses the same.
func FuzzParseTargets(f *testing.F) {
	for _, s := range targetSeeds {
		f.Add(s.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		specs := splitSpecs(s)
		ts, err := parseTargets(specs)
		if err != nil {
			return
		}
		if len(ts) != len(specs) {
			t.Fatalf("parseTargets(%q) returned %d targets for %d specs", specs, len(ts), len(specs))
		}
		for i, tg := range ts {
			if tg.Name == "" || tg.Host == "" {
				t.Fatalf("parseTargets(%q) accepted %+v with an empty name or host", specs[i], tg)
			}
			if name, _, _ := strings.Cut(specs[i], "="); tg.Name != name {
				t.Fatalf("parseTargets(%q) named the target %q", specs[i], tg.Name)
			}
			if strings.Contains(tg.Host, ",") {
				t.Fatalf("parseTargets(%q) took options into the host %q", specs[i], tg.Host)
			}
			spec := tg.Name + "=" + tg.Host
			if tg.Allow != "" {
				spec += ",allow=" + tg.Allow
			}
			if tg.Deny != "" {
				spec += ",deny=" + tg.Deny
			}
			again, err := parseTargets([]string{spec})
			if err != nil || len(again) != 1 || again[0] != tg {
				t.Fatalf("parseTargets(%q) = %+v, but %q parses as %+v, %v", specs[i], tg, spec, again, err)
			}
		}
	})
}

// TestServerRefusesNegativeLimits: a negative SSH gateway limit, or a
// certificate policy out of range, is refused before anything is created,
// naming the flag.
func TestServerRefusesNegativeLimits(t *testing.T) {
	for _, args := range [][]string{
		{"--ssh-max-startups", "-1"},
		{"--ssh-per-source-max-startups=-5"},
		{"--ssh-max-auth-failures", "-1"},
		{"--ssh-login-grace-time", "-3s"},
		{"--ssh-cert-max-ttl", "13h"},
		{"--ssh-cert-deny", "shell"},
	} {
		dir := t.TempDir() + "/data"
		root := newRoot(io.Discard, io.Discard)
		root.SetArgs(append([]string{"server", "--listen", "127.0.0.1:0", "--data-dir", dir}, args...))
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), strings.SplitN(strings.TrimPrefix(args[0], "--"), "=", 2)[0]) {
			t.Errorf("server %v: err = %v, want one naming the flag", args, err)
		}
		if _, statErr := os.Stat(dir); !os.IsNotExist(statErr) {
			t.Errorf("server %v: created %s", args, dir)
		}
	}
}

// TestCertAuthorityLines: the @cert-authority line names the built-in
// SSH targets, *.burrow and the gateway's hosts on any port, once each,
// and leaves out names that would break a known_hosts pattern list.
func TestCertAuthorityLines(t *testing.T) {
	ca := apitype.SSHCA{
		HostCAKeys:   []string{"ssh-ed25519 AAAAkey1 ca", "ssh-ed25519 AAAAkey2 ca"},
		GatewayHosts: []string{"gw.example.com", "10.0.0.1", "::1", "web-1", "bad,name", "*"},
	}
	ts := []apitype.Target{{Name: "web-1", SSH: "builtin"}, {Name: "db", SSH: "system"}, {Name: "Evil Name", SSH: "builtin"}}
	got := certAuthorityLines(ca, ts)
	want := "@cert-authority *.burrow,web-1,gw.example.com,[gw.example.com]:*,10.0.0.1,[10.0.0.1]:*,::1,[::1]:*,[web-1]:* "
	if len(got) != 2 || got[0] != want+ca.HostCAKeys[0] || got[1] != want+ca.HostCAKeys[1] {
		t.Fatalf("got\n%s\nwant lines starting\n%s", strings.Join(got, "\n"), want)
	}
}

// FuzzParseSSHForwards: an accepted -L/-R spec names two ports in range
// and a bind and destination address that net.SplitHostPort reads back
// to the spec's parts; nothing panics.
func FuzzParseSSHForwards(f *testing.F) {
	for _, s := range []string{"8080:127.0.0.1:80", "0.0.0.0:5432:db:5432", "80:h:80:x", "::", ":1:2", "65536:h:1", "1:h:-1", "a:b:c:d:e", "[::1]:80:h:80", "*:8080:h:80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		fws, err := parseSSHForwards([]string{spec}, "-L")
		if err != nil {
			if !strings.Contains(err.Error(), "-L") {
				t.Fatalf("error %q does not name the flag", err)
			}
			return
		}
		if len(fws) != 1 {
			t.Fatalf("%q: %d forwards", spec, len(fws))
		}
		for _, addr := range []string{fws[0].bind, fws[0].to} {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatalf("%q gave address %q: %v", spec, addr, err)
			}
			if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				t.Fatalf("%q gave port %q", spec, port)
			}
		}
	})
}

// FuzzParseRemote: a remote path has a non-empty target without a slash
// and keeps everything after the first colon as the path.
func FuzzParseRemote(f *testing.F) {
	for _, s := range []string{"web-1:/tmp/", "root@web-1:x", "./a:b", ":x", "a", "u@:p", "C:\\\\x", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		r, ok := parseRemote(arg)
		if !ok {
			return
		}
		i := strings.Index(arg, ":")
		if i <= 0 || strings.Contains(arg[:i], "/") || r.path != arg[i+1:] {
			t.Fatalf("parseRemote(%q) = %+v", arg, r)
		}
	})
}

// TestKnownHostsNames: ssh-config's known_hosts names a target's host key
// as NAME, NAME.burrow and NAME.<org>.burrow, after the host CA line, and
// leaves out names that would read as more than a name.
func TestKnownHostsNames(t *testing.T) {
	id := identity{dir: t.TempDir()}
	ca := apitype.SSHCA{Org: "acme", HostCAKeys: []string{"ssh-ed25519 AAAACA"}}
	ts := []apitype.Target{
		{Name: "web-1", SSH: "builtin", HostKey: "ssh-ed25519 AAAAweb"},
		{Name: "bad,*", SSH: "builtin", HostKey: "ssh-ed25519 AAAAbad"},
		{Name: "sys", SSH: "system", HostKey: "ssh-ed25519 AAAAsys"},
	}
	if err := id.writeKnownHosts(ca, ts); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(id.knownHosts())
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if !strings.Contains(got, "\nweb-1,web-1.burrow,web-1.acme.burrow ssh-ed25519 AAAAweb\n") {
		t.Errorf("known_hosts lacks web-1's three names:\n%s", got)
	}
	if strings.Contains(got, "AAAAbad") || strings.Contains(got, "AAAAsys") {
		t.Errorf("known_hosts has a key it must leave out:\n%s", got)
	}
	if i, j := strings.Index(got, "@cert-authority"), strings.Index(got, "AAAAweb"); i < 0 || i > j {
		t.Errorf("the host CA line must come first:\n%s", got)
	}
	ca.Org = "evil *,x"
	if err := id.writeKnownHosts(ca, ts[:1]); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(id.knownHosts()); strings.Contains(string(b), "evil") {
		t.Errorf("an org that is no name went into known_hosts:\n%s", b)
	}
}

// TestJoinTokenCreateRefusesBadFlags: a lifetime or a use count that makes
// no sense is refused, naming the flag, before the controller is asked.
func TestJoinTokenCreateRefusesBadFlags(t *testing.T) {
	t.Setenv("BURROW_CONFIG", filepath.Join(t.TempDir(), "config.yaml"))
	t.Setenv("BURROW_URL", "https://127.0.0.1:1") // nothing listens: asking would fail otherwise
	t.Setenv("BURROW_TOKEN", "brw_unused")
	for _, args := range [][]string{{"--uses", "0"}, {"--uses=-5"}, {"--ttl", "-1h"}, {"--ttl", "0s"}} {
		root := newRoot(io.Discard, io.Discard)
		root.SetArgs(append([]string{"join-token", "create"}, args...))
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), strings.SplitN(args[0], "=", 2)[0]) {
			t.Errorf("join-token create %v: err = %v, want one naming the flag", args, err)
		}
	}
}

// TestRemotePathOf: the home directory, as scp names it.
func TestRemotePathOf(t *testing.T) {
	for in, want := range map[string]string{"": ".", "~": ".", "~/": ".", "~/x/y": "x/y", "/abs": "/abs", "rel": "rel", "~user/x": "~user/x"} {
		if got := remotePathOf(in); got != want {
			t.Errorf("remotePathOf(%q) = %q, want %q", in, got, want)
		}
	}
}
