package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestEscapeReader: escape sequences count only at a line start; "~."
// hangs up, "~~" sends one "~", "~?" answers, anything else goes through,
// also when a sequence is split across reads.
func TestEscapeReader(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		hungUp   bool
	}{
		{"ls\r", "ls\r", false},
		{"a~.b\r", "a~.b\r", false},
		{"~.ignored", "", true},
		{"echo\r~.", "echo\r", true},
		{"x\n~~y", "x\n~y", false},
		{"~x", "~x", false},
		{"~?z", "z", false},
		{"~", "", false},
	} {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tc.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			hungUp := false
			var help bytes.Buffer
			got, _ := io.ReadAll(newEscapeReader(r, '~', &help, func() { hungUp = true }))
			if string(got) != tc.want || hungUp != tc.hungUp {
				t.Errorf("%q (one byte a read: %v): sent %q, hung up %v; want %q, %v", tc.in, oneByte, got, hungUp, tc.want, tc.hungUp)
			}
			if strings.Contains(tc.in, "~?") && !strings.Contains(help.String(), "terminate connection") {
				t.Errorf("%q: no help, %q", tc.in, help.String())
			}
		}
	}
}

func TestEscapeChar(t *testing.T) {
	for in, want := range map[string]byte{"~": '~', "#": '#', "^]": 0x1d, "^a": 0x01, "none": 0} {
		if got, err := escapeChar(in); err != nil || got != want {
			t.Errorf("escapeChar(%q) = %#x, %v; want %#x", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ab", "^1", "^~"} {
		if _, err := escapeChar(bad); err == nil {
			t.Errorf("escapeChar(%q) accepted", bad)
		}
	}
}
