package sshca

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Policy is what user certificates may grant, for every user of this
// controller. The zero Policy grants every permit-* extension for up to
// MaxTTL.
type Policy struct {
	// MaxTTL is the longest validity granted: 0 means MaxTTL; it can only
	// be shorter, since revoked tokens are listed to agents for MaxTTL.
	MaxTTL time.Duration
	// Deny leaves these permit-* extensions out of every certificate, so
	// that SSH servers refuse what they permit.
	Deny []string
}

// MinPolicyTTL is the shortest maximum lifetime a policy may set: the
// life of the certificate `burrow ssh` gets for each connection.
const MinPolicyTTL = 5 * time.Minute

// Denials are the names Policy.Deny takes, each for its permit-* extension.
var Denials = []string{"pty", "port-forwarding", "agent-forwarding", "user-rc"}

// Validate says what is wrong with p, if anything.
func (p Policy) Validate() error {
	if p.MaxTTL != 0 && (p.MaxTTL < MinPolicyTTL || p.MaxTTL > MaxTTL) {
		return fmt.Errorf("sshca: a certificate policy's maximum lifetime must be between %v and %v, not %v", MinPolicyTTL, MaxTTL, p.MaxTTL)
	}
	for _, d := range p.Deny {
		if !slices.Contains(Denials, d) {
			return fmt.Errorf("sshca: a certificate policy cannot deny %q, only %s", d, strings.Join(Denials, ", "))
		}
	}
	return nil
}

// LongestTTL is the longest validity p grants.
func (p Policy) LongestTTL() time.Duration {
	if p.MaxTTL == 0 {
		return MaxTTL
	}
	return p.MaxTTL
}

// Apply sets r's permit-* fields as p allows.
func (p Policy) Apply(r *UserCertRequest) {
	r.PermitPTY = !slices.Contains(p.Deny, "pty")
	r.PermitPortForwarding = !slices.Contains(p.Deny, "port-forwarding")
	r.PermitAgentForwarding = !slices.Contains(p.Deny, "agent-forwarding")
	r.PermitUserRC = !slices.Contains(p.Deny, "user-rc")
}
