package api

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/sshca"
	"github.com/burrow-dev/burrow/internal/store"
	"github.com/burrow-dev/burrow/internal/store/sqlite"
)

// sshNow is the clock of the SSH tests: whole seconds, so certificate
// times compare exactly.
var sshNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// sshAPI is an API with a CA and one token per case the SSH routes tell
// apart; secrets maps a token's ID to its secret.
type sshAPI struct {
	*API
	ca      *sshca.Authority
	st      store.Store
	secrets map[string]string
}

func newSSHAPI(t *testing.T) *sshAPI {
	t.Helper()
	st, err := sqlite.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := func() time.Time { return sshNow }
	ca, err := sshca.Open(t.Context(), st, now)
	if err != nil {
		t.Fatal(err)
	}
	s := &sshAPI{ca: ca, st: st, secrets: map[string]string{}}
	revoked := sshNow.Add(-time.Hour)
	for _, tok := range []store.Token{
		{ID: "admin", Subject: "root-admin", Role: apitype.RoleAdmin, Logins: []string{"root"}},
		{ID: "alice", Subject: "alice", Role: apitype.RoleMember, Logins: []string{"alice", "deploy"}},
		{ID: "nologin", Subject: "ci", Role: apitype.RoleMember},
		{ID: "agent", Subject: "a1", Role: apitype.RoleAgent, Logins: []string{"root"}},
		{ID: "revoked", Subject: "bob", Role: apitype.RoleMember, Logins: []string{"bob"}, RevokedAt: &revoked},
	} {
		secret := auth.NewSecret(auth.PrefixAPI)
		tok.Name, tok.Hash, tok.CreatedAt = tok.ID, auth.Hash(secret), sshNow.Add(-24*time.Hour)
		if err := st.CreateToken(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		s.secrets[tok.ID] = secret
	}
	d := dial.New(dial.Options{Store: st, Backend: fakeBackend{}, Logger: discard(), Now: now})
	t.Cleanup(func() { d.Close() })
	s.API = New(Options{Store: st, Dialer: d, Backend: fakeBackend{}, Logger: discard(), CA: ca, Now: now, Org: "acme"})
	return s
}

// call sends a request as token (none if "") and returns the recorder.
func (s *sshAPI) call(t *testing.T, method, path, token string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	r := httptest.NewRequest(method, path, bytes.NewReader(b))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+s.secrets[token])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder, status int) T {
	t.Helper()
	var v T
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
	return v
}

func userKeyLine(t *testing.T) (string, ssh.PublicKey) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " alice@laptop", k
}

func TestSignSSHCertificate(t *testing.T) {
	s := newSSHAPI(t)
	tests := []struct {
		name           string
		token          string
		principals     []string
		ttl            string
		wantPrincipals []string
		wantTTL        time.Duration
	}{
		{"defaults", "alice", nil, "", []string{"alice", "deploy"}, 5 * time.Minute},
		{"one login", "alice", []string{"deploy"}, "90s", []string{"deploy"}, 90 * time.Second},
		{"duplicates dropped", "alice", []string{"alice", "alice"}, "1h", []string{"alice"}, time.Hour},
		{"maximum ttl", "alice", []string{"deploy", "alice"}, "12h", []string{"deploy", "alice"}, 12 * time.Hour},
		{"admin", "admin", nil, "5m", []string{"root"}, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, key := userKeyLine(t)
			w := s.call(t, "POST", "/v1/ssh/certificates", tt.token,
				apitype.SSHCertificateRequest{PublicKey: line, Principals: tt.principals, TTL: tt.ttl})
			got := decode[apitype.SSHCertificate](t, w, http.StatusCreated)
			cert := checkCertificate(t, s, got, key)
			if !slices.Equal(cert.ValidPrincipals, tt.wantPrincipals) || !slices.Equal(got.Principals, tt.wantPrincipals) {
				t.Errorf("principals %q (response %q), want %q", cert.ValidPrincipals, got.Principals, tt.wantPrincipals)
			}
			if want := sshNow.Add(tt.wantTTL); !got.ValidBefore.Equal(want) || cert.ValidBefore != uint64(want.Unix()) {
				t.Errorf("valid_before %v (cert %d), want %v", got.ValidBefore, cert.ValidBefore, want)
			}
			if want := "burrow:acme:" + map[string]string{"alice": "alice", "admin": "root-admin"}[tt.token] + ":" + tt.token; got.KeyID != want || cert.KeyId != want {
				t.Errorf("key id %q (cert %q), want %q", got.KeyID, cert.KeyId, want)
			}
		})
	}
}

// TestCertificatePolicy: a controller's policy shortens the longest
// lifetime and leaves permit-* extensions out; the default grants all.
func TestCertificatePolicy(t *testing.T) {
	s := newSSHAPI(t)
	sign := func(ttl string) (*httptest.ResponseRecorder, ssh.PublicKey) {
		line, key := userKeyLine(t)
		return s.call(t, "POST", "/v1/ssh/certificates", "alice", apitype.SSHCertificateRequest{PublicKey: line, TTL: ttl}), key
	}
	w, key := sign("1h")
	cert := checkCertificate(t, s, decode[apitype.SSHCertificate](t, w, http.StatusCreated), key)
	for _, e := range []string{"permit-pty", "permit-port-forwarding", "permit-agent-forwarding", "permit-user-rc"} {
		if _, ok := cert.Extensions[e]; !ok {
			t.Errorf("default policy: %s missing from %v", e, cert.Extensions)
		}
	}

	s.API = New(Options{Store: s.st, Dialer: s.opts.Dialer, Backend: fakeBackend{}, Logger: discard(), CA: s.ca, Now: s.opts.Now,
		CertPolicy: sshca.Policy{MaxTTL: 30 * time.Minute, Deny: []string{"port-forwarding", "agent-forwarding"}}})
	w, _ = sign("")
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(decode[apitype.SSHCertificate](t, w, http.StatusCreated).Certificate))
	if err != nil {
		t.Fatal(err)
	}
	cert = pub.(*ssh.Certificate)
	if cert.ValidBefore != uint64(sshNow.Add(5*time.Minute).Unix()) {
		t.Errorf("default lifetime under a 30m policy: valid before %d", cert.ValidBefore)
	}
	if _, ok := cert.Extensions["permit-pty"]; !ok || len(cert.Extensions) != 2 {
		t.Errorf("denying forwarding: extensions %v, want permit-pty and permit-user-rc only", cert.Extensions)
	}
	w, _ = sign("1h")
	if e := decode[apitype.Error](t, w, http.StatusBadRequest); !strings.Contains(e.Message, "maximum 30m0s") {
		t.Errorf("1h under a 30m policy: %q", e.Message)
	}
}

func TestSignSSHCertificateSourceAddress(t *testing.T) {
	s := newSSHAPI(t)
	tests := []struct{ name, in, want string }{
		{"address", "192.0.2.1", "192.0.2.1"},
		{"list with spaces", " 10.0.0.0/8, 192.0.2.1 ,2001:db8::/32", "10.0.0.0/8,192.0.2.1,2001:db8::/32"},
		{"none", "  ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, _ := userKeyLine(t)
			w := s.call(t, "POST", "/v1/ssh/certificates", "alice",
				apitype.SSHCertificateRequest{PublicKey: line, SourceAddress: tt.in})
			got := decode[apitype.SSHCertificate](t, w, http.StatusCreated)
			pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(got.Certificate))
			if err != nil {
				t.Fatal(err)
			}
			opts := pub.(*ssh.Certificate).CriticalOptions
			want := map[string]string{}
			if tt.want != "" {
				want["source-address"] = tt.want
			}
			if !maps.Equal(opts, want) {
				t.Errorf("critical options %v, want %v", opts, want)
			}
		})
	}
}

// checkCertificate parses the certificate of a response and checks what
// every certificate has: the key, the CA, the start, the extensions; and
// that an SSH server trusting the CA accepts it.
func checkCertificate(t *testing.T, s *sshAPI, got apitype.SSHCertificate, key ssh.PublicKey) *ssh.Certificate {
	t.Helper()
	pub, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(got.Certificate))
	if err != nil || len(rest) != 0 {
		t.Fatalf("certificate %q: %v (rest %q)", got.Certificate, err, rest)
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok {
		t.Fatalf("certificate is a %T", pub)
	}
	if cert.CertType != ssh.UserCert || !bytes.Equal(cert.Key.Marshal(), key.Marshal()) {
		t.Errorf("certificate type %d for key %s, want a user certificate for %s", cert.CertType,
			ssh.FingerprintSHA256(cert.Key), ssh.FingerprintSHA256(key))
	}
	if !bytes.Equal(cert.SignatureKey.Marshal(), s.ca.PublicKey().Marshal()) {
		t.Error("certificate is not signed by the user CA")
	}
	if want := sshNow.Add(-time.Minute); !got.ValidAfter.Equal(want) || cert.ValidAfter != uint64(want.Unix()) {
		t.Errorf("valid_after %v (cert %d), want %v", got.ValidAfter, cert.ValidAfter, want)
	}
	wantExt := map[string]string{"permit-pty": "", "permit-port-forwarding": "", "permit-agent-forwarding": "", "permit-user-rc": ""}
	if !maps.Equal(cert.Extensions, wantExt) || len(cert.CriticalOptions) != 0 {
		t.Errorf("extensions %v, critical options %v; want %v and none", cert.Extensions, cert.CriticalOptions, wantExt)
	}
	checker := &ssh.CertChecker{
		Clock:           func() time.Time { return sshNow },
		IsUserAuthority: func(k ssh.PublicKey) bool { return bytes.Equal(k.Marshal(), s.ca.PublicKey().Marshal()) },
	}
	if err := checker.CheckCert(cert.ValidPrincipals[0], cert); err != nil {
		t.Errorf("an SSH server trusting the CA refuses the certificate: %v", err)
	}
	return cert
}

func TestSignSSHCertificateRefused(t *testing.T) {
	s := newSSHAPI(t)
	line, _ := userKeyLine(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := ssh.NewPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	_, key := userKeyLine(t)
	cert, err := s.ca.SignUser(key, sshca.UserCertRequest{Principals: []string{"alice"}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	req := func(f func(*apitype.SSHCertificateRequest)) apitype.SSHCertificateRequest {
		r := apitype.SSHCertificateRequest{PublicKey: line}
		if f != nil {
			f(&r)
		}
		return r
	}
	tests := []struct {
		name   string
		token  string
		body   any
		status int
		code   string
		want   []string // in the message
	}{
		{"no token", "", req(nil), 401, apitype.CodeUnauthenticated, nil},
		{"revoked token", "revoked", req(nil), 401, apitype.CodeUnauthenticated, []string{"revoked"}},
		{"agent credential", "agent", req(nil), 403, apitype.CodeForbidden, []string{"agent"}},
		{"token without logins", "nologin", req(nil), 403, apitype.CodeForbidden,
			[]string{"nologin", "burrow token create --login NAME"}},
		{"login not allowed", "alice", req(func(r *apitype.SSHCertificateRequest) { r.Principals = []string{"alice", "root"} }),
			403, apitype.CodeForbidden, []string{`"root"`, "alice, deploy", "burrow token create --login root"}},
		{"bad principal", "alice", req(func(r *apitype.SSHCertificateRequest) { r.Principals = []string{"-oProxyCommand"} }),
			400, apitype.CodeInvalid, []string{"not a user name"}},
		{"no key", "alice", req(func(r *apitype.SSHCertificateRequest) { r.PublicKey = " " }), 400, apitype.CodeInvalid,
			[]string{"public_key is required"}},
		{"garbage key", "alice", req(func(r *apitype.SSHCertificateRequest) { r.PublicKey = "ssh-ed25519 AAAAnope" }), 400,
			apitype.CodeInvalid, []string{"not an SSH public key"}},
		{"key with options", "alice", req(func(r *apitype.SSHCertificateRequest) { r.PublicKey = `from="10.0.0.1" ` + line }), 400,
			apitype.CodeInvalid, []string{"options"}},
		{"two keys", "alice", req(func(r *apitype.SSHCertificateRequest) { r.PublicKey = line + "\n" + line }), 400,
			apitype.CodeInvalid, []string{"one key"}},
		{"certificate as key", "alice", req(func(r *apitype.SSHCertificateRequest) {
			r.PublicKey = string(ssh.MarshalAuthorizedKey(cert))
		}), 400, apitype.CodeInvalid, []string{"certificate"}},
		{"weak RSA key", "alice", req(func(r *apitype.SSHCertificateRequest) {
			r.PublicKey = string(ssh.MarshalAuthorizedKey(rsaPub))
		}), 400, apitype.CodeInvalid, []string{"1024 bits"}},
		{"bad ttl", "alice", req(func(r *apitype.SSHCertificateRequest) { r.TTL = "5 minutes" }), 400, apitype.CodeInvalid,
			[]string{"not a duration"}},
		{"zero ttl", "alice", req(func(r *apitype.SSHCertificateRequest) { r.TTL = "0s" }), 400, apitype.CodeInvalid,
			[]string{"at least 1s"}},
		{"negative ttl", "alice", req(func(r *apitype.SSHCertificateRequest) { r.TTL = "-5m" }), 400, apitype.CodeInvalid,
			[]string{"at least 1s"}},
		{"sub-second ttl", "alice", req(func(r *apitype.SSHCertificateRequest) { r.TTL = "1ns" }), 400, apitype.CodeInvalid,
			[]string{"at least 1s"}},
		{"ttl over 12h", "alice", req(func(r *apitype.SSHCertificateRequest) { r.TTL = "12h0m1s" }), 400, apitype.CodeInvalid,
			[]string{"maximum 12h"}},
		{"bad source address", "alice", req(func(r *apitype.SSHCertificateRequest) { r.SourceAddress = "10.0.0.0/8,example.com" }),
			400, apitype.CodeInvalid, []string{`"example.com"`, "neither an IP address nor a CIDR prefix"}},
		{"source address with host bits", "alice", req(func(r *apitype.SSHCertificateRequest) { r.SourceAddress = "10.1.2.3/8" }),
			400, apitype.CodeInvalid, []string{"host bits", "10.0.0.0/8"}},
		{"empty source address entry", "alice", req(func(r *apitype.SSHCertificateRequest) { r.SourceAddress = "10.0.0.1,,10.0.0.2" }),
			400, apitype.CodeInvalid, []string{`""`}},
		{"source address with zone", "alice", req(func(r *apitype.SSHCertificateRequest) { r.SourceAddress = "fe80::1%eth0" }),
			400, apitype.CodeInvalid, []string{"neither"}},
		{"ttl in nanoseconds", "alice", `{"public_key": "` + line + `", "ttl": 300000000000}`, 400, apitype.CodeInvalid, nil},
		{"unknown field", "alice", `{"public_key": "` + line + `", "extensions": ["permit-pty"]}`, 400, apitype.CodeInvalid,
			[]string{"unknown field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := s.call(t, "POST", "/v1/ssh/certificates", tt.token, tt.body)
			e := decode[apitype.Error](t, w, tt.status)
			if e.Code != tt.code {
				t.Errorf("code %q, want %q (%s)", e.Code, tt.code, e.Message)
			}
			for _, want := range tt.want {
				if !strings.Contains(e.Message, want) {
					t.Errorf("message %q lacks %q", e.Message, want)
				}
			}
		})
	}
}

func TestSSHRoutesWithoutCA(t *testing.T) {
	s := newSSHAPI(t)
	s.API.opts.CA = nil
	line, _ := userKeyLine(t)
	for _, w := range []*httptest.ResponseRecorder{
		s.call(t, "POST", "/v1/ssh/certificates", "alice", apitype.SSHCertificateRequest{PublicKey: line}),
		s.call(t, "GET", "/v1/ssh/ca", "alice", nil),
	} {
		if e := decode[apitype.Error](t, w, http.StatusServiceUnavailable); e.Code != apitype.CodeUnavailable {
			t.Errorf("code %q, want %q", e.Code, apitype.CodeUnavailable)
		}
	}
}

func TestSSHCA(t *testing.T) {
	s := newSSHAPI(t)
	for _, token := range []string{"alice", "nologin", "admin"} {
		got := decode[apitype.SSHCA](t, s.call(t, "GET", "/v1/ssh/ca", token, nil), http.StatusOK)
		if want := s.ca.UserCAKeys(); len(want) != 1 || !slices.Equal(got.UserCAKeys, want) {
			t.Errorf("%s: user_ca_keys %q, want %q (one key)", token, got.UserCAKeys, want)
		}
		if !strings.HasSuffix(got.UserCAKeys[0], " burrow-user-ca") {
			t.Errorf("CA key %q lacks its comment", got.UserCAKeys[0])
		}
		if got.Org != "acme" {
			t.Errorf("%s: org %q, want acme", token, got.Org)
		}
	}
	for token, status := range map[string]int{"": 401, "revoked": 401, "agent": 403} {
		if w := s.call(t, "GET", "/v1/ssh/ca", token, nil); w.Code != status {
			t.Errorf("token %q: status %d, want %d", token, w.Code, status)
		}
	}
}

func TestCreateTokenLogins(t *testing.T) {
	s := newSSHAPI(t)
	tooMany := make([]string, maxLogins+1)
	for i := range tooMany {
		tooMany[i] = "u" + strconv.Itoa(i)
	}
	tests := []struct {
		name   string
		req    apitype.CreateTokenRequest
		status int
		want   []string
	}{
		{"admin default", apitype.CreateTokenRequest{Name: "ops", Role: "admin"}, 201, []string{"root"}},
		{"member default", apitype.CreateTokenRequest{Name: "laptop", Subject: "carol"}, 201, []string{"carol"}},
		{"member default from name", apitype.CreateTokenRequest{Name: "dave"}, 201, []string{"dave"}},
		{"subject not a user name", apitype.CreateTokenRequest{Name: "ci", Subject: "CI Bot"}, 201, nil},
		{"given", apitype.CreateTokenRequest{Name: "x", Logins: []string{"www-data", "root", "www-data"}}, 201,
			[]string{"www-data", "root"}},
		{"admin given", apitype.CreateTokenRequest{Name: "y", Role: "admin", Logins: []string{"ubuntu"}}, 201, []string{"ubuntu"}},
		{"bad login", apitype.CreateTokenRequest{Name: "z", Logins: []string{"-rf"}}, 400, nil},
		{"upper case", apitype.CreateTokenRequest{Name: "z", Logins: []string{"Alice"}}, 400, nil},
		{"too many", apitype.CreateTokenRequest{Name: "z", Logins: tooMany}, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := s.call(t, "POST", "/v1/tokens", "admin", tt.req)
			if tt.status != 201 {
				if e := decode[apitype.Error](t, w, tt.status); e.Code != apitype.CodeInvalid {
					t.Errorf("code %q, want invalid", e.Code)
				}
				return
			}
			got := decode[apitype.Token](t, w, 201)
			if !slices.Equal(got.Logins, tt.want) {
				t.Errorf("logins %q, want %q", got.Logins, tt.want)
			}
			listed := decode[[]apitype.Token](t, s.call(t, "GET", "/v1/tokens", "admin", nil), 200)
			i := slices.IndexFunc(listed, func(x apitype.Token) bool { return x.ID == got.ID })
			if i < 0 || !slices.Equal(listed[i].Logins, tt.want) {
				t.Errorf("GET /v1/tokens does not list %s with logins %q", got.ID, tt.want)
			}
		})
	}
}

func TestListTargetsSSH(t *testing.T) {
	s := newSSHAPI(t)
	const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINveKhB/Vof5Gq1HV2b/j1ldfmvCfpGQ9ZlvRdh7QsxL"
	err := s.st.UpsertAgent(t.Context(), store.Agent{ID: "a1", Name: "agent-1", HostKey: hostKey,
		Targets:   []store.Target{{Name: "web-1", Host: "localhost", SSH: "builtin"}, {Name: "db-1", Host: "10.0.0.5"}},
		CreatedAt: sshNow, LastSeen: sshNow})
	if err != nil {
		t.Fatal(err)
	}
	got := decode[[]apitype.Target](t, s.call(t, "GET", "/v1/targets", "alice", nil), 200)
	if len(got) != 2 {
		t.Fatalf("targets %+v, want 2", got)
	}
	for _, tg := range got {
		wantSSH := map[string]string{"web-1": "builtin", "db-1": ""}[tg.Name]
		if tg.HostKey != hostKey || tg.SSH != wantSSH {
			t.Errorf("target %s: host_key %q ssh %q, want %q and %q", tg.Name, tg.HostKey, tg.SSH, hostKey, wantSSH)
		}
	}
}

// TestRevokeUser: revoking a user revokes every token of that subject
// (not agents', not other users'), lists only those revoked now, and an
// unknown user or a member is refused.
func TestRevokeUser(t *testing.T) {
	s := newSSHAPI(t)
	got := decode[apitype.RevokedUser](t, s.call(t, "POST", "/v1/users/alice/revoke", "admin", nil), 200)
	if got.Subject != "alice" || !slices.Equal(got.TokensRevoked, []string{"alice"}) {
		t.Fatalf("revoke alice: %+v", got)
	}
	if w := s.call(t, "GET", "/v1/ssh/ca", "alice", nil); w.Code != 401 {
		t.Errorf("alice's token after revoking alice: status %d, want 401", w.Code)
	}
	if w := s.call(t, "GET", "/v1/ssh/ca", "nologin", nil); w.Code != 200 {
		t.Errorf("another user's token after revoking alice: status %d, want 200", w.Code)
	}
	got = decode[apitype.RevokedUser](t, s.call(t, "POST", "/v1/users/bob/revoke", "admin", nil), 200)
	if len(got.TokensRevoked) != 0 {
		t.Errorf("bob's token was revoked already; got %+v", got)
	}
	for _, who := range []string{"a1", "nobody"} { // an agent is no user
		if e := decode[apitype.Error](t, s.call(t, "POST", "/v1/users/"+who+"/revoke", "admin", nil), 404); e.Code != apitype.CodeNotFound {
			t.Errorf("revoke %s: code %q, want not_found", who, e.Code)
		}
	}
	if w := s.call(t, "POST", "/v1/users/root-admin/revoke", "nologin", nil); w.Code != 403 {
		t.Errorf("a member revoking a user: status %d, want 403", w.Code)
	}
}
