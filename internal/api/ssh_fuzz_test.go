package api

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/sshca"
)

// FuzzSSHCertificateRequest feeds arbitrary request bodies to the checks
// in front of the CA: nothing panics, and what passes is a plain key, for
// logins of the token only, for at most the maximum TTL.
func FuzzSSHCertificateRequest(f *testing.F) {
	f.Add([]byte(`{"public_key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x","principals":["root"],"ttl":"5m"}`))
	f.Add([]byte(`{"public_key":"","ttl":"-1s"}`))
	f.Add([]byte(`{"public_key":"command=\"x\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl","principals":["-rf"]}`))
	f.Add([]byte(`{"public_key":"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC","ttl":"13h"}`))
	exp := time.Now().Add(time.Hour)
	p := dial.Principal{Subject: "alice", Role: apitype.RoleMember, TokenID: "t1", Logins: []string{"alice", "deploy"}, ExpiresAt: &exp}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req apitype.SSHCertificateRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		cr, pub, err := certRequest(req, p, "acme", sshca.Policy{})
		if err != nil {
			return
		}
		if pub == nil || checkKeyType(pub) != nil {
			t.Fatalf("accepted key %q", req.PublicKey)
		}
		for _, pr := range cr.Principals {
			if !slices.Contains(p.Logins, pr) {
				t.Fatalf("principal %q is not one of the token's logins", pr)
			}
		}
		if len(cr.Principals) == 0 || cr.TTL < time.Second || cr.TTL > sshca.MaxTTL || cr.TTL > time.Until(exp) {
			t.Fatalf("accepted %d principals for %v", len(cr.Principals), cr.TTL)
		}
	})
}
