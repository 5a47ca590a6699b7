package dial

import (
	"context"
	"net"
	"testing"
)

type routes map[string]bool

func (r routes) Route(target string) (Route, bool) { return Route{}, r[target] }
func (r routes) DialTarget(context.Context, string, string, int) (net.Conn, error) {
	return nil, ErrOffline
}

// TestResolve: NAME.<org> is NAME (no target has a name of that form).
func TestResolve(t *testing.T) {
	d := &Dialer{opts: Options{Org: "acme", Backend: routes{"web-1": true}}}
	for give, want := range map[string]string{
		"web-1":       "web-1",
		"web-1.acme":  "web-1",
		"db.acme":     "db", // offline or unknown: still NAME
		".acme":       ".acme",
		"web-1.acm":   "web-1.acm",
		"web-1.other": "web-1.other",
	} {
		if got := d.resolve(give); got != want {
			t.Errorf("resolve(%q) = %q, want %q", give, got, want)
		}
	}
	d.opts.Org = ""
	if got := d.resolve("web-1."); got != "web-1." {
		t.Errorf("without an org: resolve(%q) = %q", "web-1.", got)
	}
}
