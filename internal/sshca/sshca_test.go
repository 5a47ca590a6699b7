package sshca

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/store"
	"github.com/burrow-dev/burrow/internal/store/sqlite"
)

// epoch is the tests' clock: whole seconds, so certificate times are exact.
var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return epoch }

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "burrow.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mustOpen(t *testing.T, st store.Store, now func() time.Time) *Authority {
	t.Helper()
	a, err := Open(t.Context(), st, now)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func userKeys(t *testing.T, st store.Store) []store.CAKey {
	t.Helper()
	keys, err := st.ListCAKeys(t.Context(), store.CAUser)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func newUserKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestOpenCreatesOnceAndReloads(t *testing.T) {
	st := openStore(t)
	first := mustOpen(t, st, fixedNow)
	keys := userKeys(t, st)
	if len(keys) != 1 {
		t.Fatalf("store holds %d user CA keys after the first start, want 1", len(keys))
	}
	k := keys[0]
	if k.Kind != store.CAUser || k.RetiredAt != nil || !k.CreatedAt.Equal(epoch) {
		t.Errorf("stored key = %+v", k)
	}
	if !strings.HasPrefix(k.Public, "ssh-ed25519 ") || !strings.HasSuffix(k.Public, " burrow-user-ca") {
		t.Errorf("stored public key %q, want an ssh-ed25519 line ending in burrow-user-ca", k.Public)
	}
	if !strings.Contains(string(k.Private), "OPENSSH PRIVATE KEY") {
		t.Errorf("stored private key is not an OpenSSH PEM key")
	}
	if got := first.UserCAKeys(); !slices.Equal(got, []string{k.Public}) {
		t.Errorf("UserCAKeys = %q, want [%q]", got, k.Public)
	}

	second := mustOpen(t, st, fixedNow)
	if !sameKey(first.PublicKey(), second.PublicKey()) {
		t.Error("the second start uses another CA key")
	}
	if n := len(userKeys(t, st)); n != 1 {
		t.Errorf("store holds %d user CA keys after the second start, want 1", n)
	}
}

// TestOpenConcurrent is several controllers' first start against one store.
func TestOpenConcurrent(t *testing.T) {
	st := openStore(t)
	const n = 8
	auths := make([]*Authority, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			auths[i], errs[i] = Open(t.Context(), st, fixedNow)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
	}
	for i, a := range auths[1:] {
		if !sameKey(a.PublicKey(), auths[0].PublicKey()) {
			t.Errorf("Open #%d uses another CA than #0", i+1)
		}
	}
	if keys := userKeys(t, st); len(keys) != 1 {
		t.Errorf("store holds %d user CA keys, want 1", len(keys))
	}
}

// lateStore hides the CA keys from the first ListCAKeys, as if another
// controller stored its CA between that read and this one's insert.
type lateStore struct {
	store.Store
	once sync.Once
}

func (s *lateStore) ListCAKeys(ctx context.Context, kind string) ([]store.CAKey, error) {
	hide := false
	s.once.Do(func() { hide = true })
	if hide {
		return nil, nil
	}
	return s.Store.ListCAKeys(ctx, kind)
}

func TestOpenLosesTheRace(t *testing.T) {
	st := openStore(t)
	winner := mustOpen(t, st, fixedNow)
	loser := mustOpen(t, &lateStore{Store: st}, fixedNow)
	if !sameKey(winner.PublicKey(), loser.PublicKey()) {
		t.Error("the controller that lost the insert uses its own CA key")
	}
	if keys := userKeys(t, st); len(keys) != 1 {
		t.Errorf("store holds %d user CA keys, want 1", len(keys))
	}
}

func TestOpenRefusesBrokenKey(t *testing.T) {
	other, err := newKey(store.CAUser, "other", epoch)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mangle func(*store.CAKey)
		want   string
	}{
		{"mismatched halves", func(k *store.CAKey) { k.Public = other.Public }, "do not match"},
		{"bad private key", func(k *store.CAKey) { k.Private = []byte("junk") }, "private key"},
		{"bad public key", func(k *store.CAKey) { k.Public = "junk" }, "public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			k, err := newKey(store.CAUser, userCAComment, epoch)
			if err != nil {
				t.Fatal(err)
			}
			tt.mangle(&k)
			if err := st.CreateCAKey(t.Context(), k); err != nil {
				t.Fatal(err)
			}
			_, err = Open(t.Context(), st, fixedNow)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestUserCAKeysOverlap checks which keys are trusted around a rotation:
// the current one, and retired ones until their TrustedUntil.
func TestUserCAKeysOverlap(t *testing.T) {
	st := openStore(t)
	ctx := t.Context()
	mk := func(d, retired, until time.Duration) store.CAKey {
		k, err := newKey(store.CAUser, userCAComment, epoch.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		if retired != 0 {
			r, u := epoch.Add(retired), epoch.Add(until)
			k.RetiredAt = &r
			if until != 0 {
				k.TrustedUntil = &u
			}
		}
		if err := st.CreateCAKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	mk(-3*time.Hour, -2*time.Hour, 0)                      // retired, never trusted again
	mk(-2*time.Hour, -time.Hour, -time.Minute)             // overlap over
	overlap := mk(-time.Hour, -time.Minute, 2*time.Minute) // overlap running
	cur := mk(-time.Minute, 0, 0)

	now := epoch
	a := mustOpen(t, st, func() time.Time { return now })
	if !strings.HasPrefix(cur.Public, strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(a.PublicKey())), "\n")) {
		t.Error("the Authority does not sign with the current key")
	}
	if got, want := a.UserCAKeys(), []string{overlap.Public, cur.Public}; !slices.Equal(got, want) {
		t.Errorf("UserCAKeys = %q, want %q", got, want)
	}
	now = epoch.Add(2 * time.Minute)
	if got, want := a.UserCAKeys(), []string{cur.Public}; !slices.Equal(got, want) {
		t.Errorf("UserCAKeys after the overlap = %q, want %q", got, want)
	}
}

// reparse round-trips cert through its authorized_keys form, as a client
// receives it.
func reparse(t *testing.T, cert *ssh.Certificate) *ssh.Certificate {
	t.Helper()
	pub, _, _, _, err := ssh.ParseAuthorizedKey(ssh.MarshalAuthorizedKey(cert))
	if err != nil {
		t.Fatalf("parse the signed certificate: %v", err)
	}
	c, ok := pub.(*ssh.Certificate)
	if !ok {
		t.Fatalf("signed key is a %T, not a certificate", pub)
	}
	return c
}

func TestSignUser(t *testing.T) {
	a := mustOpen(t, openStore(t), fixedNow)
	key := newUserKey(t)
	req := UserCertRequest{
		KeyID: "burrow:alice:tok1", Principals: []string{"root", "alice"}, TTL: 5 * time.Minute,
		PermitPTY: true, PermitPortForwarding: true, PermitAgentForwarding: true, PermitUserRC: true,
		SourceAddress: "10.0.0.0/8,192.0.2.7",
	}
	signed, err := a.SignUser(key, req)
	if err != nil {
		t.Fatal(err)
	}
	c := reparse(t, signed)

	if c.CertType != ssh.UserCert {
		t.Errorf("CertType = %d, want user", c.CertType)
	}
	if !sameKey(c.Key, key) {
		t.Error("certificate is for another key")
	}
	if !sameKey(c.SignatureKey, a.PublicKey()) {
		t.Error("certificate is not signed by the user CA")
	}
	if c.KeyId != req.KeyID {
		t.Errorf("KeyId = %q, want %q", c.KeyId, req.KeyID)
	}
	if !slices.Equal(c.ValidPrincipals, req.Principals) {
		t.Errorf("ValidPrincipals = %q, want %q", c.ValidPrincipals, req.Principals)
	}
	if want := uint64(epoch.Add(-time.Minute).Unix()); c.ValidAfter != want {
		t.Errorf("ValidAfter = %d, want %d (now - 1m)", c.ValidAfter, want)
	}
	if want := uint64(epoch.Add(5 * time.Minute).Unix()); c.ValidBefore != want {
		t.Errorf("ValidBefore = %d, want %d (now + TTL)", c.ValidBefore, want)
	}
	if c.Serial == 0 {
		t.Error("Serial is 0")
	}
	wantExt := map[string]string{"permit-pty": "", "permit-port-forwarding": "", "permit-agent-forwarding": "", "permit-user-rc": ""}
	if !maps.Equal(c.Extensions, wantExt) {
		t.Errorf("Extensions = %v, want %v", c.Extensions, wantExt)
	}
	if want := map[string]string{"source-address": req.SourceAddress}; !maps.Equal(c.CriticalOptions, want) {
		t.Errorf("CriticalOptions = %v, want %v", c.CriticalOptions, want)
	}

	other, err := a.SignUser(key, req)
	if err != nil {
		t.Fatal(err)
	}
	if other.Serial == c.Serial {
		t.Errorf("two certificates share serial %d", c.Serial)
	}
}

// TestSignUserChecks lets x/crypto/ssh's own checker judge the certificate
// at instants around its validity window, for each principal.
func TestSignUserChecks(t *testing.T) {
	a := mustOpen(t, openStore(t), fixedNow)
	c, err := a.SignUser(newUserKey(t), UserCertRequest{KeyID: "k", Principals: []string{"alice"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		at        time.Time
		principal string
		ok        bool
	}{
		{"now", epoch, "alice", true},
		{"clock behind by 59s", epoch.Add(-59 * time.Second), "alice", true},
		{"clock behind by 61s", epoch.Add(-61 * time.Second), "alice", false},
		{"just before expiry", epoch.Add(time.Hour - time.Second), "alice", true},
		{"at expiry", epoch.Add(time.Hour), "alice", false},
		{"other principal", epoch, "root", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checker := &ssh.CertChecker{
				Clock:           func() time.Time { return tt.at },
				IsUserAuthority: func(k ssh.PublicKey) bool { return sameKey(k, a.PublicKey()) },
			}
			err := checker.CheckCert(tt.principal, c)
			if (err == nil) != tt.ok {
				t.Errorf("CheckCert(%q) at %v: err = %v, want ok=%v", tt.principal, tt.at, err, tt.ok)
			}
		})
	}
}

func TestSignUserExtensions(t *testing.T) {
	a := mustOpen(t, openStore(t), fixedNow)
	key := newUserKey(t)
	tests := []struct {
		req  UserCertRequest
		want []string
	}{
		{UserCertRequest{}, nil},
		{UserCertRequest{PermitPTY: true}, []string{"permit-pty"}},
		{UserCertRequest{PermitPortForwarding: true, PermitUserRC: true}, []string{"permit-port-forwarding", "permit-user-rc"}},
		{UserCertRequest{PermitAgentForwarding: true}, []string{"permit-agent-forwarding"}},
	}
	for _, tt := range tests {
		tt.req.Principals, tt.req.TTL = []string{"u"}, time.Minute
		c, err := a.SignUser(key, tt.req)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Sorted(maps.Keys(reparse(t, c).Extensions))
		if !slices.Equal(got, tt.want) {
			t.Errorf("%+v: extensions %q, want %q", tt.req, got, tt.want)
		}
		if len(c.CriticalOptions) != 0 {
			t.Errorf("%+v: critical options %v, want none", tt.req, c.CriticalOptions)
		}
	}
}

func TestSignUserRefuses(t *testing.T) {
	a := mustOpen(t, openStore(t), fixedNow)
	key := newUserKey(t)
	cert, err := a.SignUser(key, UserCertRequest{Principals: []string{"u"}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ok := UserCertRequest{Principals: []string{"u"}, TTL: time.Minute}
	with := func(f func(*UserCertRequest)) UserCertRequest { r := ok; f(&r); return r }
	tests := []struct {
		name string
		key  ssh.PublicKey
		req  UserCertRequest
		want string
	}{
		{"no key", nil, ok, "no public key"},
		{"certificate as key", cert, ok, "is a certificate"},
		{"no principals", key, with(func(r *UserCertRequest) { r.Principals = nil }), "at least one principal"},
		{"empty principal", key, with(func(r *UserCertRequest) { r.Principals = []string{"u", ""} }), "empty principal"},
		{"zero TTL", key, with(func(r *UserCertRequest) { r.TTL = 0 }), "must be positive"},
		{"negative TTL", key, with(func(r *UserCertRequest) { r.TTL = -time.Minute }), "must be positive"},
		{"TTL over 12h", key, with(func(r *UserCertRequest) { r.TTL = MaxTTL + time.Second }), "longer than the maximum"},
		{"bad source address", key, with(func(r *UserCertRequest) { r.SourceAddress = "10.0.0.0/8,example.com" }), "source-address"},
		{"empty source address item", key, with(func(r *UserCertRequest) { r.SourceAddress = "10.0.0.1," }), "source-address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := a.SignUser(tt.key, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SignUser: (%v, %v), want an error containing %q", c, err, tt.want)
			}
		})
	}
	if _, err := a.SignUser(key, with(func(r *UserCertRequest) { r.TTL = MaxTTL })); err != nil {
		t.Errorf("SignUser with TTL = MaxTTL: %v", err)
	}
}

// TestSignUserSSHKeygen has OpenSSH's ssh-keygen read a certificate back.
func TestSignUserSSHKeygen(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen is not on PATH")
	}
	a := mustOpen(t, openStore(t), fixedNow)
	c, err := a.SignUser(newUserKey(t), UserCertRequest{
		KeyID: "burrow:alice:tok1", Principals: []string{"root", "alice"}, TTL: 5 * time.Minute,
		PermitPTY: true, PermitPortForwarding: true, PermitAgentForwarding: true, PermitUserRC: true,
		SourceAddress: "10.0.0.0/8",
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519-cert.pub")
	if err := os.WriteFile(path, ssh.MarshalAuthorizedKey(c), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(keygen, "-L", "-f", path)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -L: %v\n%s", err, out)
	}
	text := string(out)
	const layout = "2006-01-02T15:04:05"
	for _, want := range []string{
		"Type: ssh-ed25519-cert-v01@openssh.com user certificate",
		"Signing CA: ED25519 " + ssh.FingerprintSHA256(a.PublicKey()),
		`Key ID: "burrow:alice:tok1"`,
		"Serial: " + strconv.FormatUint(c.Serial, 10),
		"Valid: from " + epoch.Add(-time.Minute).Format(layout) + " to " + epoch.Add(5*time.Minute).Format(layout),
		"source-address 10.0.0.0/8",
		"permit-agent-forwarding", "permit-port-forwarding", "permit-pty", "permit-user-rc",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("ssh-keygen -L output lacks %q:\n%s", want, text)
		}
	}
	principals := principalsSection(text)
	if !slices.Equal(principals, []string{"root", "alice"}) {
		t.Errorf("ssh-keygen -L principals = %q, want [root alice]:\n%s", principals, text)
	}
}

// principalsSection returns the indented lines under "Principals:" in
// ssh-keygen -L output.
func principalsSection(text string) []string {
	_, after, ok := strings.Cut(text, "Principals:")
	if !ok {
		return nil
	}
	var out []string
	for _, line := range strings.Split(after, "\n")[1:] {
		f := strings.TrimSpace(line)
		if f == "" || strings.HasSuffix(f, ":") || strings.Contains(f, ": ") {
			break
		}
		out = append(out, f)
	}
	return out
}
