package auth

import (
	"strings"
	"testing"
)

func TestPolicy(t *testing.T) {
	tests := []struct {
		allow, deny string
		port        int
		want        bool
	}{
		{"", "", 22, true},
		{"", "", 0, false},
		{"", "", 65536, false},
		{"22,80", "", 80, true},
		{"22,80", "", 81, false},
		{"8000-8999", "", 8500, true},
		{"*", "25", 25, false},
		{"", "1-1023", 443, false},
		{"", "1-1023", 8080, true},
		{" 22 , 443 ", "", 443, true},
	}
	for _, tt := range tests {
		p, err := ParsePolicy(tt.allow, tt.deny)
		if err != nil {
			t.Fatalf("ParsePolicy(%q,%q): %v", tt.allow, tt.deny, err)
		}
		if got := p.Allows(tt.port); got != tt.want {
			t.Errorf("allow=%q deny=%q port %d: got %v, want %v", tt.allow, tt.deny, tt.port, got, tt.want)
		}
	}
}

func TestParsePortsErrors(t *testing.T) {
	for _, s := range []string{"0", "65536", "a", "10-5", "1-", "-3", "22;23"} {
		if _, err := ParsePorts(s); err == nil {
			t.Errorf("ParsePorts(%q) succeeded", s)
		}
	}
}

func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"22", "1-65535", "*", "22,80,8000-8999", " 1 , 2 ", "9-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParsePorts(s)
		if err != nil {
			return
		}
		again, err := ParsePorts(l.String())
		if err != nil {
			t.Fatalf("String() of a parsed list does not parse: %q: %v", l.String(), err)
		}
		if again.String() != l.String() {
			t.Fatalf("round trip changed %q to %q", l.String(), again.String())
		}
		for _, r := range l {
			if r.Lo < 1 || r.Hi > 65535 || r.Lo > r.Hi {
				t.Fatalf("bad range %+v from %q", r, s)
			}
		}
	})
}

func TestSecrets(t *testing.T) {
	a, b := NewSecret(PrefixAPI), NewSecret(PrefixAPI)
	if a == b || !strings.HasPrefix(a, PrefixAPI) {
		t.Fatalf("secrets %q %q", a, b)
	}
	if string(Hash(a)) == string(Hash(b)) || len(Hash(a)) != 32 {
		t.Fatal("hash")
	}
}

func TestJoinTokenRoundTrip(t *testing.T) {
	fp := "sha256:" + strings.Repeat("ab", 32)
	jt := JoinToken{Secret: NewSecret(PrefixJoin), Fingerprint: fp}
	got, err := ParseJoinToken(jt.String())
	if err != nil || got != jt {
		t.Fatalf("got %+v, %v", got, err)
	}
	noFP := JoinToken{Secret: jt.Secret}
	if got, err := ParseJoinToken(noFP.String()); err != nil || got != noFP {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"", "brw_x", jt.Secret + ".zz", jt.Secret + ".abcd"} {
		if _, err := ParseJoinToken(bad); err == nil {
			t.Errorf("ParseJoinToken(%q) succeeded", bad)
		}
	}
}

func FuzzParseJoinToken(f *testing.F) {
	f.Add(JoinToken{Secret: NewSecret(PrefixJoin), Fingerprint: "sha256:" + strings.Repeat("0f", 32)}.String())
	f.Add("brwj_.")
	f.Fuzz(func(t *testing.T, s string) {
		jt, err := ParseJoinToken(s)
		if err != nil {
			return
		}
		if again, err := ParseJoinToken(jt.String()); err != nil || again != jt {
			t.Fatalf("round trip of %q: %+v %v", s, again, err)
		}
	})
}

func TestCheckLogin(t *testing.T) {
	good := []string{"root", "alice", "_svc", "a", "build-bot.2", "x2345678901234567890123456789012"}
	bad := []string{"", "-rf", "Alice", "1user", ".hidden", "a b", "a:b", "a/b", "ünï", "root\n",
		"x23456789012345678901234567890123", "DOMAIN\\user", "*"}
	for _, name := range good {
		if err := CheckLogin(name); err != nil {
			t.Errorf("CheckLogin(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range bad {
		if err := CheckLogin(name); err == nil {
			t.Errorf("CheckLogin(%q) = nil, want an error", name)
		}
	}
}
