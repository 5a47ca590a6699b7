package client

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/burrow-dev/burrow/internal/apitype"
)

// TestUserKeys checks the methods and paths of the key routes.
func TestUserKeys(t *testing.T) {
	key := apitype.UserKey{ID: "k/1", Name: "laptop", Fingerprint: "SHA256:x"}
	var seen []string
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.EscapedPath())
		switch r.Method {
		case "POST":
			var req apitype.AddUserKeyRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name != "laptop" || req.PublicKey != "ssh-ed25519 AAAA" {
				t.Errorf("POST body %+v (%v)", req, err)
			}
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(key)
		case "GET":
			json.NewEncoder(w).Encode([]apitype.UserKey{key})
		case "DELETE":
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	ctx := t.Context()
	if k, err := c.AddUserKey(ctx, apitype.AddUserKeyRequest{Name: "laptop", PublicKey: "ssh-ed25519 AAAA"}); err != nil || k.ID != key.ID {
		t.Errorf("AddUserKey = %+v, %v", k, err)
	}
	if ks, err := c.ListUserKeys(ctx); err != nil || len(ks) != 1 || ks[0].Fingerprint != key.Fingerprint {
		t.Errorf("ListUserKeys = %+v, %v", ks, err)
	}
	if err := c.DeleteUserKey(ctx, key.ID); err != nil {
		t.Errorf("DeleteUserKey: %v", err)
	}
	want := []string{"POST /v1/ssh/keys", "GET /v1/ssh/keys", "DELETE /v1/ssh/keys/k%2F1"}
	if len(seen) != len(want) || seen[0] != want[0] || seen[1] != want[1] || seen[2] != want[2] {
		t.Errorf("requests %q, want %q", seen, want)
	}
}
