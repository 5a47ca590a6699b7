package tunnel

import (
	"strings"
	"testing"

	"github.com/burrow-dev/burrow/internal/tunnel/tunnelpb"
)

// TestReservedTargetNames: NAME.burrow and NAME.<org> are other names of
// the target NAME, so no agent may declare a target by one of them (it
// would get NAME's host certificate principal).
func TestReservedTargetNames(t *testing.T) {
	s := NewServer(ServerOptions{Org: "acme"})
	ac := &agentConn{id: "a1", targets: map[string]*tunnelpb.Target{}}
	for name, reserved := range map[string]bool{
		"web-1": false, "acme": false, "web-1.acme-2": false, "burrow": false,
		"web-1.acme": true, "web-1.burrow": true, "db.acme.burrow": true,
	} {
		why := s.refuseLocked(ac, &tunnelpb.Target{Name: name})
		if got := strings.Contains(why, "may not end in"); got != reserved {
			t.Errorf("target %q: refusal %q, want refused: %v", name, why, reserved)
		}
	}
	if why := NewServer(ServerOptions{}).refuseLocked(ac, &tunnelpb.Target{Name: "web-1.acme"}); why != "" {
		t.Errorf("without an org, web-1.acme is refused: %q", why)
	}
}
