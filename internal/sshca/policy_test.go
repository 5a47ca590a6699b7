package sshca

import (
	"testing"
	"time"
)

func TestPolicy(t *testing.T) {
	for _, p := range []Policy{{MaxTTL: -time.Second}, {MaxTTL: time.Minute}, {MaxTTL: MaxTTL + time.Second}, {Deny: []string{"shell"}}} {
		if p.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", p)
		}
	}
	p := Policy{MaxTTL: time.Hour, Deny: []string{"pty", "user-rc"}}
	if err := p.Validate(); err != nil || p.LongestTTL() != time.Hour || (Policy{}).LongestTTL() != MaxTTL {
		t.Fatalf("Validate %v, LongestTTL %v", err, p.LongestTTL())
	}
	var r UserCertRequest
	p.Apply(&r)
	if r.PermitPTY || r.PermitUserRC || !r.PermitPortForwarding || !r.PermitAgentForwarding {
		t.Errorf("Apply: %+v", r)
	}
}
