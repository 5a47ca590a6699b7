// Package storetest is the conformance suite every store.Store
// implementation must pass. An implementation's tests call Run with a
// function that opens a fresh, empty store.
//
// Times are compared with time.Time.Equal after Truncate(time.Microsecond):
// implementations must keep at least microsecond precision but may drop
// the rest, the location and the monotonic reading. The times the suite
// writes carry a sub-microsecond remainder below 500ns, so an implementation
// that rounds to the microsecond (PostgreSQL timestamptz) passes too.
//
// Labels, Targets, Logins and CA private keys compare equal when both are
// empty, whether nil or not.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/store"
)

// Run runs the conformance suite, one subtest per scenario. open must return
// a fresh, empty store each time it is called; Run closes it when the
// subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"TokenCreateAndLookup", testTokenCreateAndLookup},
		{"TokenConflict", testTokenConflict},
		{"TokenNotFound", testTokenNotFound},
		{"TokenByID", testTokenByID},
		{"RevokeToken", testRevokeToken},
		{"RevokeSubject", testRevokeSubject},
		{"ListTokens", testListTokens},
		{"TokenLogins", testTokenLogins},
		{"JoinTokenUse", testJoinTokenUse},
		{"JoinTokenRefused", testJoinTokenRefused},
		{"JoinTokenConcurrentUse", testJoinTokenConcurrentUse},
		{"AgentRoundTrip", testAgentRoundTrip},
		{"AgentUpsertKeepsCreatedAt", testAgentUpsertKeepsCreatedAt},
		{"AgentNotFound", testAgentNotFound},
		{"TouchAgent", testTouchAgent},
		{"DeleteAgent", testDeleteAgent},
		{"ListAgents", testListAgents},
		{"AgentHostKey", testAgentHostKey},
		{"UserKeys", testUserKeys}, {"UserKeyConflict", testUserKeyConflict},
		{"SessionsStartEnd", testSessionsStartEnd},
		{"SessionsLimit", testSessionsLimit},
		{"SessionsLargeBatch", testSessionsLargeBatch},
		{"SessionsEmptyBatch", testSessionsEmptyBatch},
		{"SessionEventsOrder", testSessionEventsOrder},
		{"SessionEventsNotFound", testSessionEventsNotFound},
		{"SessionEventsClean", testSessionEventsClean},
		{"SessionEventsLargeBatch", testSessionEventsLargeBatch},
		{"Policy", testPolicy},
		{"CAKeys", testCAKeys},
		{"CAKeyConflict", testCAKeyConflict},
		{"CAKeyConcurrentCreate", testCAKeyConcurrentCreate},
		{"CAKeyRotate", testCAKeyRotate},
		{"CAKeyRotateStaged", testCAKeyRotateStaged},
		{"CAKeyRotateRefused", testCAKeyRotateRefused},
		{"ConcurrentWriters", testConcurrentWriters},
		{"InitSetting", testInitSetting},
		{"Ping", testPing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// base is the suite's reference time: not UTC, with a sub-microsecond
// remainder of 32ns (see the package comment).
var base = time.Date(2025, 3, 14, 15, 9, 26, 535_897_032, time.FixedZone("UTC+2", 2*60*60))

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// ptr returns a pointer to t.
func ptr(t time.Time) *time.Time { return &t }

// hash returns a distinct 32-byte hash for s.
func hash(s string) []byte {
	h := make([]byte, 32)
	copy(h, s)
	h[31] = 0xff
	return h
}

func sameTime(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return sameTime(*a, *b)
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.String()
}

// Checks: each reports every mismatch as a test error.

func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !sameTime(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func checkTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	if !sameTimePtr(got, want) {
		t.Errorf("%s = %s, want %s", what, fmtTimePtr(got), fmtTimePtr(want))
	}
}

func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func checkToken(t *testing.T, got, want store.Token) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || !slices.Equal(got.Hash, want.Hash) ||
		got.Subject != want.Subject || got.Role != want.Role || !slices.Equal(got.Logins, want.Logins) {
		t.Errorf("token = %+v, want %+v", got, want)
	}
	checkTime(t, "token "+want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTimePtr(t, "token "+want.ID+" ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	checkTimePtr(t, "token "+want.ID+" RevokedAt", got.RevokedAt, want.RevokedAt)
}

func checkJoinToken(t *testing.T, got, want store.JoinToken) {
	t.Helper()
	if got.ID != want.ID || !slices.Equal(got.Hash, want.Hash) || got.MaxUses != want.MaxUses || got.Uses != want.Uses {
		t.Errorf("join token = %+v, want %+v", got, want)
	}
	checkTime(t, "join token CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "join token ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

func checkAgent(t *testing.T, got, want store.Agent) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.OS != want.OS || got.Arch != want.Arch ||
		got.Version != want.Version || got.HostKey != want.HostKey {
		t.Errorf("agent = %+v, want %+v", got, want)
	}
	if !maps.Equal(got.Labels, want.Labels) {
		t.Errorf("agent %s Labels = %#v, want %#v", want.ID, got.Labels, want.Labels)
	}
	if len(got.Targets) != 0 || len(want.Targets) != 0 {
		if !reflect.DeepEqual(got.Targets, want.Targets) {
			t.Errorf("agent %s Targets = %#v, want %#v", want.ID, got.Targets, want.Targets)
		}
	}
	checkTime(t, "agent "+want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	checkTime(t, "agent "+want.ID+" LastSeen", got.LastSeen, want.LastSeen)
}

func checkSession(t *testing.T, got, want store.Session) {
	t.Helper()
	g, w := got, want
	g.StartedAt, g.EndedAt, w.StartedAt, w.EndedAt = time.Time{}, nil, time.Time{}, nil
	if g != w {
		t.Errorf("session = %+v, want %+v", got, want)
	}
	checkTime(t, "session "+want.ID+" StartedAt", got.StartedAt, want.StartedAt)
	checkTimePtr(t, "session "+want.ID+" EndedAt", got.EndedAt, want.EndedAt)
}

// Tokens.

func testTokenCreateAndLookup(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokens := []store.Token{
		{ID: "t1", Name: "laptop", Hash: hash("t1"), Subject: "alice", Role: "admin", Logins: []string{"root", "alice"},
			CreatedAt: at(0)},
		{ID: "t2", Name: "ci", Hash: hash("t2"), Subject: "bob", Role: "member", CreatedAt: at(time.Second),
			ExpiresAt: ptr(at(time.Hour))},
		{ID: "t3", Name: "old", Hash: hash("t3"), Subject: "bob", Role: "member", CreatedAt: at(2 * time.Second),
			ExpiresAt: ptr(at(time.Hour)), RevokedAt: ptr(at(time.Minute))},
		{ID: "t4", Name: "agent", Hash: hash("t4"), Subject: "agent-1", Role: "agent", CreatedAt: at(3 * time.Second)},
	}
	for _, tok := range tokens {
		must(t, "CreateToken "+tok.ID, s.CreateToken(ctx, tok))
	}
	for _, want := range tokens {
		got, err := s.TokenByHash(ctx, want.Hash)
		must(t, "TokenByHash "+want.ID, err)
		checkToken(t, got, want)
	}
}

func testTokenConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := store.Token{ID: "t1", Name: "a", Hash: hash("h1"), Subject: "alice", Role: "admin", CreatedAt: at(0)}
	must(t, "CreateToken", s.CreateToken(ctx, orig))
	tests := []struct {
		name string
		tok  store.Token
	}{
		{"same ID", store.Token{ID: "t1", Name: "b", Hash: hash("h2"), Subject: "bob", Role: "member", CreatedAt: at(0)}},
		{"same hash", store.Token{ID: "t2", Name: "b", Hash: hash("h1"), Subject: "bob", Role: "member", CreatedAt: at(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, "CreateToken", s.CreateToken(ctx, tt.tok), store.ErrConflict)
		})
	}
	got, err := s.TokenByHash(ctx, orig.Hash)
	must(t, "TokenByHash", err)
	checkToken(t, got, orig)
}

func testTokenNotFound(t *testing.T, s store.Store) {
	_, err := s.TokenByHash(t.Context(), hash("nope"))
	checkErr(t, "TokenByHash", err, store.ErrNotFound)
}

func testTokenByID(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokens := []store.Token{
		{ID: "t1", Name: "laptop", Hash: hash("t1"), Subject: "alice", Role: "admin", Logins: []string{"root", "alice"},
			CreatedAt: at(0), ExpiresAt: ptr(at(time.Hour))},
		{ID: "t2", Name: "old", Hash: hash("t2"), Subject: "bob", Role: "member", CreatedAt: at(time.Second),
			RevokedAt: ptr(at(time.Minute))},
	}
	for _, tok := range tokens {
		must(t, "CreateToken "+tok.ID, s.CreateToken(ctx, tok))
	}
	for _, want := range tokens {
		got, err := s.Token(ctx, want.ID)
		must(t, "Token "+want.ID, err)
		checkToken(t, got, want)
	}
	_, err := s.Token(ctx, "nope")
	checkErr(t, "Token", err, store.ErrNotFound)
}

func testRevokeToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := store.Token{ID: "t1", Name: "a", Hash: hash("t1"), Subject: "alice", Role: "admin", CreatedAt: at(0)}
	must(t, "CreateToken", s.CreateToken(ctx, tok))
	must(t, "RevokeToken", s.RevokeToken(ctx, "t1", at(time.Minute)))
	got, err := s.TokenByHash(ctx, tok.Hash)
	must(t, "TokenByHash", err)
	tok.RevokedAt = ptr(at(time.Minute))
	checkToken(t, got, tok)

	checkErr(t, "RevokeToken unknown", s.RevokeToken(ctx, "nope", at(0)), store.ErrNotFound)
}

func testRevokeSubject(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokens := []store.Token{
		{ID: "a1", Hash: hash("a1"), Subject: "agent-1", Role: "agent", CreatedAt: at(0)},
		{ID: "a2", Hash: hash("a2"), Subject: "agent-1", Role: "agent", CreatedAt: at(time.Second)},
		{ID: "b1", Hash: hash("b1"), Subject: "agent-2", Role: "agent", CreatedAt: at(2 * time.Second)},
	}
	for _, tok := range tokens {
		must(t, "CreateToken "+tok.ID, s.CreateToken(ctx, tok))
	}
	must(t, "RevokeSubject", s.RevokeSubject(ctx, "agent-1", at(time.Hour)))
	must(t, "RevokeSubject without tokens", s.RevokeSubject(ctx, "nobody", at(time.Hour)))
	tokens[0].RevokedAt = ptr(at(time.Hour))
	tokens[1].RevokedAt = ptr(at(time.Hour))
	for _, want := range tokens {
		got, err := s.TokenByHash(ctx, want.Hash)
		must(t, "TokenByHash "+want.ID, err)
		checkToken(t, got, want)
	}
}

func testListTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListTokens(ctx)
	must(t, "ListTokens empty", err)
	if len(got) != 0 {
		t.Fatalf("ListTokens on an empty store = %+v, want none", got)
	}
	// Inserted out of CreatedAt order.
	tokens := []store.Token{
		{ID: "m", Name: "member", Hash: hash("m"), Subject: "bob", Role: "member", CreatedAt: at(2 * time.Second)},
		{ID: "g", Name: "agent", Hash: hash("g"), Subject: "agent-1", Role: "agent", CreatedAt: at(0)},
		{ID: "a", Name: "admin", Hash: hash("a"), Subject: "alice", Role: "admin", CreatedAt: at(time.Second)},
		{ID: "r", Name: "revoked", Hash: hash("r"), Subject: "carol", Role: "member", CreatedAt: at(-time.Hour),
			RevokedAt: ptr(at(0))},
	}
	for _, tok := range tokens {
		must(t, "CreateToken "+tok.ID, s.CreateToken(ctx, tok))
	}
	got, err = s.ListTokens(ctx)
	must(t, "ListTokens", err)
	want := []store.Token{tokens[3], tokens[2], tokens[0]}
	if len(got) != len(want) {
		t.Fatalf("ListTokens returned %d tokens, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		checkToken(t, got[i], want[i])
	}
}

func testTokenLogins(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokens := []store.Token{
		{ID: "nil", Hash: hash("nil"), Subject: "a", Role: "member", CreatedAt: at(0)},
		{ID: "empty", Hash: hash("empty"), Subject: "b", Role: "member", Logins: []string{}, CreatedAt: at(time.Second)},
		{ID: "one", Hash: hash("one"), Subject: "c", Role: "member", Logins: []string{"c"}, CreatedAt: at(2 * time.Second)},
		{ID: "many", Hash: hash("many"), Subject: "d", Role: "admin",
			Logins: []string{"root", "_svc", "d.e-f", "ünï\"code"}, CreatedAt: at(3 * time.Second)},
	}
	for _, tok := range tokens {
		must(t, "CreateToken "+tok.ID, s.CreateToken(ctx, tok))
		got, err := s.TokenByHash(ctx, tok.Hash)
		must(t, "TokenByHash "+tok.ID, err)
		checkToken(t, got, tok)
	}
	got, err := s.ListTokens(ctx)
	must(t, "ListTokens", err)
	if len(got) != len(tokens) {
		t.Fatalf("ListTokens returned %d tokens, want %d", len(got), len(tokens))
	}
	for i := range tokens {
		checkToken(t, got[i], tokens[i])
	}
}

// Join tokens.

func testJoinTokenUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	jt := store.JoinToken{ID: "j1", Hash: hash("j1"), CreatedAt: at(0), ExpiresAt: at(time.Hour), MaxUses: 2}
	must(t, "CreateJoinToken", s.CreateJoinToken(ctx, jt))
	for i := 1; i <= jt.MaxUses; i++ {
		got, err := s.UseJoinToken(ctx, jt.Hash, at(time.Minute))
		must(t, fmt.Sprintf("UseJoinToken #%d", i), err)
		want := jt
		want.Uses = i
		checkJoinToken(t, got, want)
	}
	_, err := s.UseJoinToken(ctx, jt.Hash, at(time.Minute))
	checkErr(t, "UseJoinToken past MaxUses", err, store.ErrExhausted)
}

func testJoinTokenRefused(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokens := []store.JoinToken{
		{ID: "live", Hash: hash("live"), CreatedAt: at(0), ExpiresAt: at(time.Hour), MaxUses: 1},
		{ID: "used", Hash: hash("used"), CreatedAt: at(0), ExpiresAt: at(time.Hour), MaxUses: 3, Uses: 3},
		{ID: "zero", Hash: hash("zero"), CreatedAt: at(0), ExpiresAt: at(time.Hour), MaxUses: 0},
		{ID: "both", Hash: hash("both"), CreatedAt: at(0), ExpiresAt: at(time.Minute), MaxUses: 1, Uses: 1},
	}
	for _, jt := range tokens {
		must(t, "CreateJoinToken "+jt.ID, s.CreateJoinToken(ctx, jt))
	}
	tests := []struct {
		name string
		hash []byte
		now  time.Time
		want []error // any one of these
	}{
		{"unknown hash", hash("nope"), at(0), []error{store.ErrNotFound}},
		{"now equals ExpiresAt", hash("live"), at(time.Hour), []error{store.ErrExpired}},
		{"now after ExpiresAt", hash("live"), at(2 * time.Hour), []error{store.ErrExpired}},
		{"uses reached MaxUses", hash("used"), at(0), []error{store.ErrExhausted}},
		{"MaxUses zero", hash("zero"), at(0), []error{store.ErrExhausted}},
		// The interface does not rank the two reasons.
		{"expired and exhausted", hash("both"), at(time.Hour), []error{store.ErrExpired, store.ErrExhausted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UseJoinToken(ctx, tt.hash, tt.now)
			if !slices.ContainsFunc(tt.want, func(want error) bool { return errors.Is(err, want) }) {
				t.Errorf("UseJoinToken: err = %v, want one of %v", err, tt.want)
			}
		})
	}
	// The refusals consumed nothing: the live token still has its one use.
	got, err := s.UseJoinToken(ctx, hash("live"), at(time.Hour-time.Second))
	must(t, "UseJoinToken live", err)
	want := tokens[0]
	want.Uses = 1
	checkJoinToken(t, got, want)
}

func testJoinTokenConcurrentUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	const goroutines, maxUses = 20, 5
	jt := store.JoinToken{ID: "j1", Hash: hash("j1"), CreatedAt: at(0), ExpiresAt: at(time.Hour), MaxUses: maxUses}
	must(t, "CreateJoinToken", s.CreateJoinToken(ctx, jt))

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		uses []int
		errs []error
	)
	start := make(chan struct{})
	for range goroutines {
		wg.Go(func() {
			<-start
			got, err := s.UseJoinToken(ctx, jt.Hash, at(time.Minute))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			uses = append(uses, got.Uses)
		})
	}
	close(start)
	wg.Wait()

	slices.Sort(uses)
	if want := []int{1, 2, 3, 4, 5}; !slices.Equal(uses, want) {
		t.Errorf("successful uses saw Uses = %v, want %v", uses, want)
	}
	if len(errs) != goroutines-maxUses {
		t.Errorf("%d uses failed, want %d", len(errs), goroutines-maxUses)
	}
	for _, err := range errs {
		checkErr(t, "UseJoinToken", err, store.ErrExhausted)
	}
}

// Agents.

func testAgentRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	tests := []struct {
		name  string
		agent store.Agent
	}{
		{"nil labels and targets", store.Agent{ID: "a1", Name: "one", CreatedAt: at(0), LastSeen: at(time.Second)}},
		{"empty labels and targets", store.Agent{ID: "a2", Name: "two", Labels: map[string]string{},
			Targets: []store.Target{}, CreatedAt: at(0), LastSeen: at(0)}},
		{"everything", store.Agent{
			ID: "a3", Name: "three", OS: "linux", Arch: "arm64", Version: "v1.2.3",
			Labels: map[string]string{"env": "prod", "team": "infra", "quote\"": "ünï\ncode"},
			Targets: []store.Target{
				{Name: "three", Host: "localhost", Allow: "22,443", Deny: "", SSH: "builtin"},
				{Name: "db", Host: "10.0.0.5", Allow: "", Deny: "1-1023", SSH: "system"},
			},
			HostKey:   hostKey,
			CreatedAt: at(-24 * time.Hour), LastSeen: at(time.Hour),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			must(t, "UpsertAgent", s.UpsertAgent(ctx, tt.agent))
			got, err := s.Agent(ctx, tt.agent.ID)
			must(t, "Agent", err)
			checkAgent(t, got, tt.agent)
		})
	}
}

func testAgentUpsertKeepsCreatedAt(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := store.Agent{ID: "a1", Name: "old", OS: "linux", Arch: "amd64", Version: "v1",
		Labels: map[string]string{"a": "1"}, Targets: []store.Target{{Name: "old", Host: "localhost"}},
		CreatedAt: at(0), LastSeen: at(0)}
	must(t, "UpsertAgent first", s.UpsertAgent(ctx, first))
	second := store.Agent{ID: "a1", Name: "new", OS: "darwin", Arch: "arm64", Version: "v2",
		Labels: map[string]string{"b": "2"}, Targets: []store.Target{{Name: "new", Host: "127.0.0.1", Deny: "25"}},
		CreatedAt: at(time.Hour), LastSeen: at(time.Hour)}
	must(t, "UpsertAgent second", s.UpsertAgent(ctx, second))

	got, err := s.Agent(ctx, "a1")
	must(t, "Agent", err)
	want := second
	want.CreatedAt = first.CreatedAt
	checkAgent(t, got, want)
}

func testAgentNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Agent(ctx, "nope")
	checkErr(t, "Agent", err, store.ErrNotFound)
	checkErr(t, "DeleteAgent", s.DeleteAgent(ctx, "nope"), store.ErrNotFound)
}

func testTouchAgent(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := store.Agent{ID: "a1", Name: "one", OS: "linux", Labels: map[string]string{"k": "v"},
		CreatedAt: at(0), LastSeen: at(0)}
	must(t, "UpsertAgent", s.UpsertAgent(ctx, a))
	must(t, "TouchAgent", s.TouchAgent(ctx, "a1", at(time.Hour)))
	got, err := s.Agent(ctx, "a1")
	must(t, "Agent", err)
	a.LastSeen = at(time.Hour)
	checkAgent(t, got, a)
}

func testDeleteAgent(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"a1", "a2"} {
		must(t, "UpsertAgent "+id, s.UpsertAgent(ctx, store.Agent{ID: id, Name: id, CreatedAt: at(0), LastSeen: at(0)}))
	}
	must(t, "DeleteAgent", s.DeleteAgent(ctx, "a1"))
	_, err := s.Agent(ctx, "a1")
	checkErr(t, "Agent after delete", err, store.ErrNotFound)
	checkErr(t, "DeleteAgent twice", s.DeleteAgent(ctx, "a1"), store.ErrNotFound)
	_, err = s.Agent(ctx, "a2")
	must(t, "Agent a2", err)
}

func testListAgents(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListAgents(ctx)
	must(t, "ListAgents empty", err)
	if len(got) != 0 {
		t.Fatalf("ListAgents on an empty store = %+v, want none", got)
	}
	agents := []store.Agent{
		{ID: "1", Name: "charlie", Labels: map[string]string{"n": "3"}, CreatedAt: at(0), LastSeen: at(0)},
		{ID: "2", Name: "alpha", Targets: []store.Target{{Name: "alpha", Host: "localhost"}}, CreatedAt: at(time.Second), LastSeen: at(0)},
		{ID: "3", Name: "bravo", CreatedAt: at(2 * time.Second), LastSeen: at(time.Minute)},
	}
	for _, a := range agents {
		must(t, "UpsertAgent "+a.ID, s.UpsertAgent(ctx, a))
	}
	got, err = s.ListAgents(ctx)
	must(t, "ListAgents", err)
	want := []store.Agent{agents[1], agents[2], agents[0]}
	if len(got) != len(want) {
		t.Fatalf("ListAgents returned %d agents, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		checkAgent(t, got[i], want[i])
	}
}

// hostKey is an agent's SSH host public key as the store receives it.
const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0n9Pw9bGdZ1o7rSg8bQh5dUu7hB2D0g7bQk1o7hA9x burrow-host"

func testAgentHostKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := store.Agent{ID: "a1", Name: "one", CreatedAt: at(0), LastSeen: at(0)}
	steps := []string{"", hostKey, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAnotherKeyAfterReinstallxxxxxxxxxxxxxxxxxx", ""}
	for i, hk := range steps {
		a.HostKey, a.LastSeen = hk, at(time.Duration(i)*time.Second)
		must(t, fmt.Sprintf("UpsertAgent #%d", i), s.UpsertAgent(ctx, a))
		got, err := s.Agent(ctx, a.ID)
		must(t, fmt.Sprintf("Agent #%d", i), err)
		checkAgent(t, got, a)
		all, err := s.ListAgents(ctx)
		must(t, fmt.Sprintf("ListAgents #%d", i), err)
		if len(all) != 1 {
			t.Fatalf("ListAgents returned %d agents, want 1", len(all))
		}
		checkAgent(t, all[0], a)
	}
}

// Sessions.

// session returns an open session started at at(d).
func session(id string, d time.Duration) store.Session {
	return store.Session{ID: id, Subject: "alice", TokenID: "t1", Target: "db", Port: 5432,
		FrontDoor: "ws", StartedAt: at(d)}
}

// ended returns s ended at at(d) with result r.
func ended(s store.Session, d time.Duration, r string) store.Session {
	s.EndedAt, s.BytesUp, s.BytesDown, s.Result = ptr(at(d)), 1<<40+7, 12345, r
	return s
}

func checkSessions(t *testing.T, limit int, s store.Store, want []store.Session) {
	t.Helper()
	got, err := s.ListSessions(t.Context(), limit)
	must(t, "ListSessions", err)
	if len(got) != len(want) {
		t.Fatalf("ListSessions(%d) returned %d sessions, want %d: %+v", limit, len(got), len(want), got)
	}
	for i := range want {
		checkSession(t, got[i], want[i])
	}
}

func testSessionsStartEnd(t *testing.T, s store.Store) {
	ctx := t.Context()
	s1, s2, s3 := session("s1", 0), session("s2", time.Second), session("s3", 2*time.Second)
	s3.Port, s3.FrontDoor, s3.Subject = 22, "quic", "bob"
	must(t, "StartSessions", s.StartSessions(ctx, []store.Session{s1, s2, s3}))
	checkSessions(t, 10, s, []store.Session{s3, s2, s1})

	// End carries only what EndSessions sets; the start fields must stay.
	e1, e3 := ended(s1, time.Minute, "ok"), ended(s3, time.Hour, "refused: port 22 denied")
	must(t, "EndSessions", s.EndSessions(ctx, []store.Session{
		{ID: e1.ID, EndedAt: e1.EndedAt, BytesUp: e1.BytesUp, BytesDown: e1.BytesDown, Result: e1.Result},
		{ID: e3.ID, EndedAt: e3.EndedAt, BytesUp: e3.BytesUp, BytesDown: e3.BytesDown, Result: e3.Result},
	}))
	checkSessions(t, 10, s, []store.Session{e3, s2, e1})
}

func testSessionsLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	var all []store.Session
	// Started out of order, so the newest first order is the store's.
	for _, i := range []int{4, 1, 9, 0, 7, 3, 8, 2, 6, 5} {
		all = append(all, session(fmt.Sprintf("s%d", i), time.Duration(i)*time.Second))
	}
	must(t, "StartSessions", s.StartSessions(ctx, all))
	newest := func(n int) []store.Session {
		var out []store.Session
		for i := 9; i > 9-n; i-- {
			out = append(out, session(fmt.Sprintf("s%d", i), time.Duration(i)*time.Second))
		}
		return out
	}
	tests := []struct {
		limit int
		want  []store.Session
	}{
		{1, newest(1)},
		{3, newest(3)},
		{10, newest(10)},
		{100, newest(10)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("limit=%d", tt.limit), func(t *testing.T) {
			checkSessions(t, tt.limit, s, tt.want)
		})
	}
}

func testSessionsLargeBatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 500
	start := make([]store.Session, n)
	end := make([]store.Session, n)
	for i := range start {
		start[i] = session(fmt.Sprintf("s%03d", i), time.Duration(i)*time.Millisecond)
		end[i] = ended(start[i], time.Hour, "ok")
	}
	must(t, "StartSessions", s.StartSessions(ctx, start))
	must(t, "EndSessions", s.EndSessions(ctx, end))
	want := slices.Clone(end)
	slices.Reverse(want)
	checkSessions(t, 2*n, s, want)
}

func testSessionsEmptyBatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "StartSessions nil", s.StartSessions(ctx, nil))
	must(t, "EndSessions nil", s.EndSessions(ctx, nil))
	checkSessions(t, 10, s, nil)
}

// Policies.

func testPolicy(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Policy(ctx, "db")
	checkErr(t, "Policy before SetPolicy", err, store.ErrNotFound)

	steps := []store.Policy{
		{Target: "db", Allow: "5432", Deny: ""},
		{Target: "db", Allow: "", Deny: "1-1023"},
		{Target: "web", Allow: "80,443", Deny: "8080"},
	}
	for i, p := range steps {
		must(t, fmt.Sprintf("SetPolicy #%d", i), s.SetPolicy(ctx, p))
		got, err := s.Policy(ctx, p.Target)
		must(t, fmt.Sprintf("Policy #%d", i), err)
		if got != p {
			t.Errorf("Policy #%d = %+v, want %+v", i, got, p)
		}
	}
	got, err := s.Policy(ctx, "db")
	must(t, "Policy db", err)
	if got != steps[1] {
		t.Errorf("Policy db = %+v, want %+v", got, steps[1])
	}
}

// CA keys.

// caKey returns a CA key of kind created at at(d); the key material is
// opaque to the store.
func caKey(id, kind string, d time.Duration) store.CAKey {
	return store.CAKey{ID: id, Kind: kind, Public: "ssh-ed25519 AAAA" + id + " burrow-" + kind + "-ca",
		Private:   []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n" + id + "\x00\xff\n-----END OPENSSH PRIVATE KEY-----\n"),
		CreatedAt: at(d)}
}

// retired returns k retired at at(d) and trusted until at(until), or not
// trusted at all if until is negative.
func retired(k store.CAKey, d, until time.Duration) store.CAKey {
	k.RetiredAt = ptr(at(d))
	if until >= 0 {
		k.TrustedUntil = ptr(at(until))
	}
	return k
}

func checkCAKeys(t *testing.T, s store.Store, kind string, want []store.CAKey) {
	t.Helper()
	got, err := s.ListCAKeys(t.Context(), kind)
	must(t, "ListCAKeys "+kind, err)
	if len(got) != len(want) {
		t.Fatalf("ListCAKeys(%q) returned %d keys, want %d: %+v", kind, len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID || g.Kind != w.Kind || g.Public != w.Public || !slices.Equal(g.Private, w.Private) {
			t.Errorf("CA key #%d = %+v, want %+v", i, g, w)
		}
		checkTime(t, "CA key "+w.ID+" CreatedAt", g.CreatedAt, w.CreatedAt)
		checkTimePtr(t, "CA key "+w.ID+" RetiredAt", g.RetiredAt, w.RetiredAt)
		checkTimePtr(t, "CA key "+w.ID+" TrustedUntil", g.TrustedUntil, w.TrustedUntil)
	}
}

func testCAKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	checkCAKeys(t, s, store.CAUser, nil)
	// Inserted out of CreatedAt order: two retired generations, the
	// current key, and a host key.
	keys := []store.CAKey{
		caKey("u3", store.CAUser, 2*time.Hour),
		retired(caKey("u1", store.CAUser, 0), time.Hour, -1),
		caKey("h1", store.CAHost, time.Minute),
		retired(caKey("u2", store.CAUser, time.Hour), 2*time.Hour, 3*time.Hour),
	}
	for _, k := range keys {
		must(t, "CreateCAKey "+k.ID, s.CreateCAKey(ctx, k))
	}
	checkCAKeys(t, s, store.CAUser, []store.CAKey{keys[1], keys[3], keys[0]})
	checkCAKeys(t, s, store.CAHost, []store.CAKey{keys[2]})
	checkCAKeys(t, s, "other", nil)
}

func testCAKeyConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	cur := caKey("u1", store.CAUser, 0)
	must(t, "CreateCAKey", s.CreateCAKey(ctx, cur))
	tests := []struct {
		name string
		key  store.CAKey
	}{
		{"same ID", retired(caKey("u1", store.CAUser, time.Hour), time.Hour, -1)},
		{"same ID other kind", caKey("u1", store.CAHost, time.Hour)},
		{"second current key", caKey("u2", store.CAUser, time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, "CreateCAKey", s.CreateCAKey(ctx, tt.key), store.ErrConflict)
		})
	}
	// Retired keys and current keys of another kind do not conflict.
	old := retired(caKey("u0", store.CAUser, -time.Hour), 0, time.Hour)
	host := caKey("h1", store.CAHost, 0)
	must(t, "CreateCAKey retired", s.CreateCAKey(ctx, old))
	must(t, "CreateCAKey host", s.CreateCAKey(ctx, host))
	checkCAKeys(t, s, store.CAUser, []store.CAKey{old, cur})
	checkCAKeys(t, s, store.CAHost, []store.CAKey{host})
}

// testCAKeyConcurrentCreate is two controllers' first start, many times
// over: exactly one current key wins, the others get ErrConflict.
func testCAKeyConcurrentCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	const goroutines = 10
	var wg sync.WaitGroup
	errs := make([]error, goroutines)
	start := make(chan struct{})
	for i := range goroutines {
		wg.Go(func() {
			<-start
			errs[i] = s.CreateCAKey(ctx, caKey(fmt.Sprintf("u%d", i), store.CAUser, time.Duration(i)))
		})
	}
	close(start)
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Errorf("CreateCAKey u%d and u%d both succeeded", won, i)
		case err == nil:
			won = i
		default:
			checkErr(t, fmt.Sprintf("CreateCAKey u%d", i), err, store.ErrConflict)
		}
	}
	if won < 0 {
		t.Fatal("no CreateCAKey succeeded")
	}
	checkCAKeys(t, s, store.CAUser, []store.CAKey{caKey(fmt.Sprintf("u%d", won), store.CAUser, time.Duration(won))})
}

// Concurrency and health.

// testConcurrentWriters runs every kind of write from many goroutines at
// once; none may fail (for example with a lock error).
func testConcurrentWriters(t *testing.T, s store.Store) {
	ctx := t.Context()
	const goroutines, rounds = 8, 10
	var wg sync.WaitGroup
	errc := make(chan error, goroutines*rounds)
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				errc <- writeRound(ctx, s, g, r)
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Error(err)
		}
	}
	got, err := s.ListSessions(ctx, 2*goroutines*rounds)
	must(t, "ListSessions", err)
	if len(got) != goroutines*rounds {
		t.Errorf("ListSessions returned %d sessions, want %d", len(got), goroutines*rounds)
	}
}

// writeRound does one of each write, with IDs unique to goroutine g and
// round r, and reads some of it back.
func writeRound(ctx context.Context, s store.Store, g, r int) error {
	id := fmt.Sprintf("g%d-r%d", g, r)
	sess := session(id, time.Duration(g*100+r)*time.Millisecond)
	return errors.Join(
		s.CreateToken(ctx, store.Token{ID: id, Hash: hash(id), Subject: "s", Role: "member", CreatedAt: at(0)}),
		s.UpsertAgent(ctx, store.Agent{ID: fmt.Sprintf("g%d", g), Name: id, CreatedAt: at(0), LastSeen: at(0)}),
		s.StartSessions(ctx, []store.Session{sess}),
		s.EndSessions(ctx, []store.Session{ended(sess, time.Hour, "ok")}),
		s.AddSessionEvents(ctx, []store.SessionEvent{event(id, 0, "ssh-login", ""), exited(id, time.Second, 0, "")}),
		s.SetPolicy(ctx, store.Policy{Target: fmt.Sprintf("g%d", g), Allow: id}),
		s.RevokeSubject(ctx, "s", at(time.Hour)),
		func() error { _, err := s.ListAgents(ctx); return err }(),
	)
}

func testPing(t *testing.T, s store.Store) {
	must(t, "Ping", s.Ping(t.Context()))
}

func testInitSetting(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Unix(1700000000, 0)
	for _, tt := range []struct{ name, value, want string }{
		{"org", "acme", "acme"},
		{"org", "other", "acme"}, // set once
		{"another", "x", "x"},
	} {
		got, err := s.InitSetting(ctx, tt.name, tt.value, now)
		if err != nil || got != tt.want {
			t.Errorf("InitSetting(%q, %q) = %q, %v; want %q", tt.name, tt.value, got, err, tt.want)
		}
	}
}
