package tunnel_test

import (
	"strings"
	"testing"

	"github.com/burrow-dev/burrow/internal/tunnel"
)

// refValidName is ValidName's documented rule written out by hand:
// lowercase DNS labels (1-63 of [a-z0-9-], not starting or ending with
// '-') separated by dots, 1-253 characters in all.
func refValidName(name string) bool {
	if len(name) == 0 || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

var validNameSeeds = []struct {
	name string
	ok   bool
}{
	{"web-1", true},
	{"a", true},
	{"0", true},
	{"db.internal", true},
	{"xn--bcher-kva.example", true},
	{"1.2.3.4", true},
	{strings.Repeat("a", 63), true},
	{strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61), true}, // 253
	{"", false},
	{strings.Repeat("a", 64), false},
	{strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 62), false}, // 254
	{"-web", false},
	{"web-", false},
	{"a.-b", false},
	{"a..b", false},
	{".a", false},
	{"a.", false},
	{".", false},
	{"Web", false},
	{"web_1", false},
	{"web 1", false},
	{"web\n", false},
	{"web\x00", false},
	{"wéb", false},
	{"web/1", false},
	{"web:22", false},
	{"*.example", false},
}

func TestValidName(t *testing.T) {
	for _, tt := range validNameSeeds {
		t.Run(tt.name, func(t *testing.T) {
			if got := tunnel.ValidName(tt.name) == nil; got != tt.ok {
				t.Errorf("ValidName(%q) accepted = %v, want %v", tt.name, got, tt.ok)
			}
			if ref := refValidName(tt.name); ref != tt.ok {
				t.Errorf("test reference disagrees on %q", tt.name)
			}
		})
	}
}

// FuzzValidName: ValidName never accepts a name outside the DNS-like
// rules (charset, empty labels, length), and agrees with the reference.
func FuzzValidName(f *testing.F) {
	for _, s := range validNameSeeds {
		f.Add(s.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := tunnel.ValidName(name)
		if err != nil {
			if refValidName(name) {
				t.Fatalf("ValidName(%q) refused a valid name: %v", name, err)
			}
			return
		}
		if len(name) == 0 || len(name) > 253 {
			t.Fatalf("ValidName accepted a name of %d characters", len(name))
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
				t.Fatalf("ValidName accepted %q with byte %q at %d", name, c, i)
			}
		}
		for _, label := range strings.Split(name, ".") {
			if label == "" {
				t.Fatalf("ValidName accepted %q with an empty label", name)
			}
		}
		if !refValidName(name) {
			t.Fatalf("ValidName accepted %q, which breaks the DNS label rules", name)
		}
	})
}

// TestValidNameLongIsShort: a hostile 5000-character name is refused
// without being echoed whole.
func TestValidNameLongIsShort(t *testing.T) {
	err := tunnel.ValidName(strings.Repeat("a", 5000))
	if err == nil || len(err.Error()) > 120 || !strings.Contains(err.Error(), "5000 characters") {
		t.Errorf("ValidName(5000 × a) = %v", err)
	}
}
