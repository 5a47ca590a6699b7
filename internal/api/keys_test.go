package api

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/sshca"
)

func keyIDs(ks []apitype.UserKey) []string {
	var ids []string
	for _, k := range ks {
		ids = append(ids, k.ID)
	}
	return ids
}

// TestUserKeys registers, lists and removes keys as a member and an admin.
func TestUserKeys(t *testing.T) {
	s := newSSHAPI(t)
	line, pub := userKeyLine(t)
	k := decode[apitype.UserKey](t, s.call(t, "POST", "/v1/ssh/keys", "alice", apitype.AddUserKeyRequest{PublicKey: line}), 201)
	wantLine := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(pub)), "\n")
	if k.ID == "" || k.Name != "alice@laptop" || k.PublicKey != wantLine || k.Fingerprint != ssh.FingerprintSHA256(pub) ||
		k.Subject != "alice" || k.TokenID != "alice" || !k.CreatedAt.Equal(sshNow) {
		t.Errorf("added key = %+v", k)
	}
	line2, _ := userKeyLine(t)
	k2 := decode[apitype.UserKey](t, s.call(t, "POST", "/v1/ssh/keys", "nologin", apitype.AddUserKeyRequest{Name: " ci box ", PublicKey: line2}), 201)
	if k2.Name != "ci box" || k2.Subject != "ci" {
		t.Errorf("second key = %+v", k2)
	}

	if got := keyIDs(decode[[]apitype.UserKey](t, s.call(t, "GET", "/v1/ssh/keys", "alice", nil), 200)); len(got) != 1 || got[0] != k.ID {
		t.Errorf("alice lists %v, want [%s]", got, k.ID)
	}
	if got := keyIDs(decode[[]apitype.UserKey](t, s.call(t, "GET", "/v1/ssh/keys", "admin", nil), 200)); len(got) != 2 {
		t.Errorf("admin lists %v, want both keys", got)
	}

	// A member cannot see or remove another user's key; an admin can.
	decode[apitype.Error](t, s.call(t, "DELETE", "/v1/ssh/keys/"+k2.ID, "alice", nil), 404)
	if w := s.call(t, "DELETE", "/v1/ssh/keys/"+k.ID, "alice", nil); w.Code != 204 {
		t.Fatalf("alice removes her key: %d %s", w.Code, w.Body)
	}
	decode[apitype.Error](t, s.call(t, "DELETE", "/v1/ssh/keys/"+k.ID, "alice", nil), 404)
	if w := s.call(t, "DELETE", "/v1/ssh/keys/"+k2.ID, "admin", nil); w.Code != 204 {
		t.Fatalf("admin removes ci's key: %d %s", w.Code, w.Body)
	}
	if got := decode[[]apitype.UserKey](t, s.call(t, "GET", "/v1/ssh/keys", "admin", nil), 200); len(got) != 0 {
		t.Errorf("after removal admin lists %v", keyIDs(got))
	}
}

// TestUserKeyConflict: a key is registered once; its owner learns its id.
func TestUserKeyConflict(t *testing.T) {
	s := newSSHAPI(t)
	line, _ := userKeyLine(t)
	k := decode[apitype.UserKey](t, s.call(t, "POST", "/v1/ssh/keys", "alice", apitype.AddUserKeyRequest{PublicKey: line}), 201)
	e := decode[apitype.Error](t, s.call(t, "POST", "/v1/ssh/keys", "alice", apitype.AddUserKeyRequest{PublicKey: line}), 409)
	if !strings.Contains(e.Message, "burrow keys remove "+k.ID) {
		t.Errorf("owner's conflict message %q does not name the key", e.Message)
	}
	e = decode[apitype.Error](t, s.call(t, "POST", "/v1/ssh/keys", "nologin", apitype.AddUserKeyRequest{PublicKey: line}), 409)
	if strings.Contains(e.Message, k.ID) || !strings.Contains(e.Message, "another user") {
		t.Errorf("other user's conflict message %q", e.Message)
	}
}

func TestUserKeyRefused(t *testing.T) {
	s := newSSHAPI(t)
	line, key := userKeyLine(t)
	cert, err := s.ca.SignUser(key, sshca.UserCertRequest{Principals: []string{"alice"}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := ssh.NewPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		token, path  string
		method       string
		body         any
		status       int
		code, inText string
	}{
		{"no token", "", "/v1/ssh/keys", "POST", apitype.AddUserKeyRequest{PublicKey: line}, 401, apitype.CodeUnauthenticated, ""},
		{"revoked token", "revoked", "/v1/ssh/keys", "GET", nil, 401, apitype.CodeUnauthenticated, "revoked"},
		{"agent credential", "agent", "/v1/ssh/keys", "POST", apitype.AddUserKeyRequest{PublicKey: line}, 403, apitype.CodeForbidden, "agent"},
		{"no key", "alice", "/v1/ssh/keys", "POST", apitype.AddUserKeyRequest{}, 400, apitype.CodeInvalid, "public_key is required"},
		{"certificate", "alice", "/v1/ssh/keys", "POST", apitype.AddUserKeyRequest{PublicKey: string(ssh.MarshalAuthorizedKey(cert))},
			400, apitype.CodeInvalid, "certificate"},
		{"weak RSA key", "alice", "/v1/ssh/keys", "POST", apitype.AddUserKeyRequest{PublicKey: string(ssh.MarshalAuthorizedKey(rsaPub))},
			400, apitype.CodeInvalid, "1024 bits"},
		{"options", "alice", "/v1/ssh/keys", "POST", apitype.AddUserKeyRequest{PublicKey: "no-pty " + line}, 400, apitype.CodeInvalid, "options"},
		{"long name", "alice", "/v1/ssh/keys", "POST", apitype.AddUserKeyRequest{Name: strings.Repeat("n", 129), PublicKey: line},
			400, apitype.CodeInvalid, "128 bytes"},
		{"unknown key", "alice", "/v1/ssh/keys/nope", "DELETE", nil, 404, apitype.CodeNotFound, "burrow keys list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := decode[apitype.Error](t, s.call(t, tt.method, tt.path, tt.token, tt.body), tt.status)
			if e.Code != tt.code || !strings.Contains(e.Message, tt.inText) {
				t.Errorf("error %s %q, want %s containing %q", e.Code, e.Message, tt.code, tt.inText)
			}
		})
	}
}
