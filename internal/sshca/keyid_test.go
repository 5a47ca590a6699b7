package sshca

import (
	"strings"
	"testing"
)

func TestParseUserKeyID(t *testing.T) {
	tests := []struct {
		id                    string
		org, subject, tokenID string
		ok                    bool
	}{
		{"burrow:acme:alice:2e2add3d54d4ab5c", "acme", "alice", "2e2add3d54d4ab5c", true},
		{"burrow:acme:ci:bot:t1", "acme", "ci:bot", "t1", true}, // a subject may hold colons
		{"burrow:acme:CI Bot:t1", "acme", "CI Bot", "t1", true},
		{"burrow:alice:t1", "", "", "", false}, // before key ids named the org
		{"burrow::alice:t1", "", "", "", false},
		{"burrow:acme::t1", "", "", "", false},
		{"burrow:acme:alice:", "", "", "", false},
		{"burrow:acme", "", "", "", false},
		{"alice:acme:alice:t1", "", "", "", false},
		{"", "", "", "", false},
	}
	for _, tt := range tests {
		org, subject, tokenID, ok := ParseUserKeyID(tt.id)
		if org != tt.org || subject != tt.subject || tokenID != tt.tokenID || ok != tt.ok {
			t.Errorf("ParseUserKeyID(%q) = %q, %q, %q, %v; want %q, %q, %q, %v", tt.id, org, subject, tokenID, ok, tt.org, tt.subject, tt.tokenID, tt.ok)
		}
	}
}

func TestParseLegacyUserKeyID(t *testing.T) {
	for id, want := range map[string][2]string{
		"burrow:alice:t1":      {"alice", "t1"},
		"burrow:ci:bot:t1":     {"ci:bot", "t1"},
		"burrow:acme:alice:t1": {"acme:alice", "t1"}, // the new form is tried first
		"burrow::t1":           {},
		"burrow:alice:":        {},
		"burrow:alice":         {},
		"alice:t1":             {},
	} {
		subject, tokenID, ok := ParseLegacyUserKeyID(id)
		if subject != want[0] || tokenID != want[1] || ok != (want[0] != "") {
			t.Errorf("ParseLegacyUserKeyID(%q) = %q, %q, %v; want %q", id, subject, tokenID, ok, want)
		}
	}
}

// FuzzParseUserKeyID: what UserKeyID makes parses back; anything parses
// without a panic into fields that make the same id.
func FuzzParseUserKeyID(f *testing.F) {
	f.Add("acme", "alice", "2e2add3d54d4ab5c", "burrow:acme:alice:t1")
	f.Add("default", "ci:bot", "t1", "burrow::")
	f.Fuzz(func(t *testing.T, org, subject, tokenID, id string) {
		if o, s, tk, ok := ParseUserKeyID(id); ok && UserKeyID(o, s, tk) != id {
			t.Errorf("ParseUserKeyID(%q) = %q, %q, %q, which make %q", id, o, s, tk, UserKeyID(o, s, tk))
		}
		if s, tk, ok := ParseLegacyUserKeyID(id); ok && RevokedKeyIDs("x", s, tk)[1] != id {
			t.Errorf("ParseLegacyUserKeyID(%q) = %q, %q, which make %q", id, s, tk, RevokedKeyIDs("x", s, tk)[1])
		}
		if CheckOrg(org) != nil || subject == "" || tokenID == "" || strings.Contains(tokenID, ":") {
			return
		}
		o, s, tk, ok := ParseUserKeyID(UserKeyID(org, subject, tokenID))
		if !ok || o != org || s != subject || tk != tokenID {
			t.Errorf("round trip of %q, %q, %q: %q, %q, %q, %v", org, subject, tokenID, o, s, tk, ok)
		}
	})
}

func TestCheckOrg(t *testing.T) {
	for _, name := range []string{"default", "acme", "a", "acme-corp", "x1", strings.Repeat("a", 63)} {
		if err := CheckOrg(name); err != nil {
			t.Errorf("CheckOrg(%q): %v", name, err)
		}
	}
	for _, name := range []string{"", "Acme", "acme.corp", "-acme", "acme-", "ac me", "acme:x", strings.Repeat("a", 64)} {
		if err := CheckOrg(name); err == nil {
			t.Errorf("CheckOrg(%q) accepted it", name)
		}
	}
}
