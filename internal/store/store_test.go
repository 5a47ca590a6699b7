package store

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in string
		limit    int
		want     string
	}{
		{"clean", "ls -l /tmp", 64, "ls -l /tmp"},
		{"empty", "", 3, ""},
		{"exactly the limit", "abcdef", 6, "abcdef"},
		{"cut", "abcdefgh", 6, "abc…"},
		{"cut inside a character", "aéééé", 7, "aé…"},
		{"invalid bytes", "a\xff\xfeb\xc3", 64, "a\uFFFDb\uFFFD"},
		{"NULs", "\x00a\x00", 64, "\uFFFDa\uFFFD"},
		{"limit of the ellipsis", "abcd", 3, "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CleanText(tt.in, tt.limit); got != tt.want {
				t.Errorf("CleanText(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
			}
		})
	}
}

func TestSessionEventClean(t *testing.T) {
	e := SessionEvent{Kind: strings.Repeat("k", 300), Login: "root\x00", Detail: strings.Repeat("x", 5000)}.Clean()
	if len(e.Kind) > MaxEventName || len(e.Detail) > MaxEventDetail || e.Login != "root\uFFFD" {
		t.Errorf("Clean = kind %d bytes, detail %d bytes, login %q", len(e.Kind), len(e.Detail), e.Login)
	}
}

// FuzzCleanText checks CleanText's promises on any input: valid UTF-8,
// no NUL, within the limit, and clean short text unchanged.
func FuzzCleanText(f *testing.F) {
	f.Add("ls -l", 16)
	f.Add("a\xff\x00é", 4)
	f.Add(strings.Repeat("日本", 10), 7)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 3 || limit > 1<<16 {
			return
		}
		got := CleanText(s, limit)
		if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 || len(got) > limit {
			t.Fatalf("CleanText(%q, %d) = %q", s, limit, got)
		}
		if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 && len(s) <= limit && got != s {
			t.Fatalf("CleanText(%q, %d) = %q, changed clean text", s, limit, got)
		}
	})
}
