package store

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tokenStore is a Store with tokens in a map that counts lookups.
type tokenStore struct {
	Store   // nil: other methods are not called
	mu      sync.Mutex
	tokens  map[string]Token // by string(Hash)
	lookups atomic.Int64
	fail    error
}

func newTokenStore(ts ...Token) *tokenStore {
	s := &tokenStore{tokens: make(map[string]Token)}
	for _, t := range ts {
		s.tokens[string(t.Hash)] = cloneToken(t)
	}
	return s
}

func (s *tokenStore) TokenByHash(_ context.Context, hash []byte) (Token, error) {
	s.lookups.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return Token{}, s.fail
	}
	t, ok := s.tokens[string(hash)]
	if !ok {
		return Token{}, ErrNotFound
	}
	return t, nil
}

func (s *tokenStore) revokeWhere(match func(Token) bool, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.tokens {
		if match(t) && t.RevokedAt == nil {
			t.RevokedAt = &at
			s.tokens[k] = t
		}
	}
}

func (s *tokenStore) RevokeToken(_ context.Context, id string, at time.Time) error {
	s.revokeWhere(func(t Token) bool { return t.ID == id }, at)
	return nil
}

func (s *tokenStore) RevokeSubject(_ context.Context, subject string, at time.Time) error {
	s.revokeWhere(func(t Token) bool { return t.Subject == subject }, at)
	return nil
}

func (s *tokenStore) DeleteAgent(_ context.Context, id string) error {
	s.revokeWhere(func(t Token) bool { return t.Subject == id }, time.Now()) // as if its credential went with it
	return nil
}

// fakeClock is a clock moved by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newCache(s Store) (*TokenCache, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	c := CacheTokens(s, 2*time.Second)
	c.now = clk.Now
	return c, clk
}

var (
	tokA = Token{ID: "a", Hash: []byte("hash-a"), Subject: "alice", Role: "member", Logins: []string{"root"}}
	tokB = Token{ID: "b", Hash: []byte("hash-b"), Subject: "agent-1", Role: "agent"}
)

func lookup(t *testing.T, c Store, hash []byte) Token {
	t.Helper()
	tok, err := c.TokenByHash(t.Context(), hash)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenCacheHitsAndTTL(t *testing.T) {
	s := newTokenStore(tokA)
	c, clk := newCache(s)
	for range 5 {
		if got := lookup(t, c, tokA.Hash); got.ID != "a" {
			t.Fatalf("got %+v", got)
		}
	}
	if n := s.lookups.Load(); n != 1 {
		t.Fatalf("%d store lookups for 5 calls, want 1", n)
	}
	clk.Add(1999 * time.Millisecond)
	lookup(t, c, tokA.Hash)
	if n := s.lookups.Load(); n != 1 {
		t.Fatalf("%d store lookups within the TTL, want 1", n)
	}
	clk.Add(time.Millisecond)
	lookup(t, c, tokA.Hash)
	if n := s.lookups.Load(); n != 2 {
		t.Fatalf("%d store lookups after the TTL, want 2", n)
	}
}

// TestTokenCacheSeesRevocationAfterTTL: a revocation the cache did not see
// (another controller's) shows once the TTL has passed.
func TestTokenCacheSeesRevocationAfterTTL(t *testing.T) {
	s := newTokenStore(tokA)
	c, clk := newCache(s)
	lookup(t, c, tokA.Hash)
	s.RevokeToken(t.Context(), "a", time.Now()) // behind the cache's back
	if got := lookup(t, c, tokA.Hash); got.RevokedAt != nil {
		t.Fatal("cached token revoked before the TTL: not cached?")
	}
	clk.Add(2 * time.Second)
	if got := lookup(t, c, tokA.Hash); got.RevokedAt == nil {
		t.Fatal("revocation not seen after the TTL")
	}
}

func TestTokenCacheRevocationInvalidates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tok    Token
		revoke func(context.Context, Store) error
	}{
		{"RevokeToken", tokA, func(ctx context.Context, s Store) error { return s.RevokeToken(ctx, "a", time.Now()) }},
		{"RevokeSubject", tokB, func(ctx context.Context, s Store) error { return s.RevokeSubject(ctx, "agent-1", time.Now()) }},
		{"DeleteAgent", tokB, func(ctx context.Context, s Store) error { return s.DeleteAgent(ctx, "agent-1") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTokenStore(tokA, tokB)
			c, _ := newCache(s)
			lookup(t, c, tc.tok.Hash)
			if err := tc.revoke(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			if got := lookup(t, c, tc.tok.Hash); got.RevokedAt == nil {
				t.Fatal("still unrevoked right after the revocation")
			}
			// A revoked token is not cached: every lookup asks the store.
			before := s.lookups.Load()
			lookup(t, c, tc.tok.Hash)
			if s.lookups.Load() != before+1 {
				t.Fatal("revoked token answered from the cache")
			}
		})
	}
}

func TestTokenCacheKeepsNoErrors(t *testing.T) {
	s := newTokenStore(tokA)
	c, _ := newCache(s)
	for range 2 {
		if _, err := c.TokenByHash(t.Context(), []byte("nope")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err %v, want ErrNotFound", err)
		}
	}
	boom := errors.New("database is locked")
	s.fail = boom
	if _, err := c.TokenByHash(t.Context(), tokA.Hash); !errors.Is(err, boom) {
		t.Fatalf("err %v, want %v", err, boom)
	}
	s.fail = nil
	lookup(t, c, tokA.Hash)
	if n := s.lookups.Load(); n != 4 {
		t.Fatalf("%d store lookups, want 4 (misses and errors are not kept)", n)
	}
}

// TestTokenCacheCopies: what a caller does to a returned token does not
// reach the cache.
func TestTokenCacheCopies(t *testing.T) {
	c, _ := newCache(newTokenStore(tokA))
	lookup(t, c, tokA.Hash)
	got := lookup(t, c, tokA.Hash) // from the cache
	got.Logins[0] = "mallory"
	got.Hash[0] = 'X'
	if again := lookup(t, c, tokA.Hash); again.Logins[0] != "root" || string(again.Hash) != "hash-a" {
		t.Fatalf("cache changed through a returned token: %+v", again)
	}
}

// TestTokenCacheConcurrentRevocation races lookups with a revocation
// (run with -race): once RevokeToken has returned, no lookup started
// after it sees the token unrevoked, whatever lookups were in flight.
func TestTokenCacheConcurrentRevocation(t *testing.T) {
	for range 50 {
		s := newTokenStore(tokA)
		c, _ := newCache(s)
		var revoked atomic.Bool
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 100 {
					after := revoked.Load()
					tok, err := c.TokenByHash(t.Context(), tokA.Hash)
					if err != nil {
						t.Error(err)
						return
					}
					if after && tok.RevokedAt == nil {
						t.Error("unrevoked token after RevokeToken returned")
						return
					}
				}
			})
		}
		wg.Go(func() {
			c.RevokeToken(t.Context(), "a", time.Now())
			revoked.Store(true)
		})
		wg.Wait()
	}
}

// TestTokenCacheCoversStore makes whoever adds a method to Store decide
// whether it must empty the token cache: a method that can revoke or
// remove a token must be overridden by TokenCache (and be tested in
// TestTokenCacheRevocationInvalidates).
func TestTokenCacheCoversStore(t *testing.T) {
	invalidates := map[string]bool{"RevokeToken": true, "RevokeSubject": true, "DeleteAgent": true, "SetPolicy": true}
	passThrough := map[string]bool{
		"CreateToken": true, "TokenByHash": true, "Token": true, "ListTokens": true,
		"CreateJoinToken": true, "UseJoinToken": true,
		"UpsertAgent": true, "Agent": true, "ListAgents": true, "TouchAgent": true,
		"StartSessions": true, "EndSessions": true, "ListSessions": true,
		"AddSessionEvents": true, "SessionEvents": true,
		"Policy":      true,
		"CreateCAKey": true, "ListCAKeys": true, "RotateCAKey": true,
		"AddUserKey": true, "ListUserKeys": true, "UserKeyByFingerprint": true, "DeleteUserKey": true,
		"InitSetting": true, "Ping": true, "Close": true,
	}
	st := reflect.TypeFor[Store]()
	for i := range st.NumMethod() {
		name := st.Method(i).Name
		if !invalidates[name] && !passThrough[name] {
			t.Errorf("Store.%s is new: if it can revoke, delete or change a token, make TokenCache empty the cache in it; then list it in this test", name)
		}
	}
}

// policyStore is a Store with policies in a map that counts lookups.
type policyStore struct {
	Store
	mu      sync.Mutex
	pol     map[string]Policy
	lookups atomic.Int64
}

func (s *policyStore) Policy(_ context.Context, target string) (Policy, error) {
	s.lookups.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pol[target]
	if !ok {
		return Policy{}, ErrNotFound
	}
	return p, nil
}

func (s *policyStore) SetPolicy(_ context.Context, p Policy) error {
	s.mu.Lock()
	s.pol[p.Target] = p
	s.mu.Unlock()
	return nil
}

// TestTokenCachePolicies: a policy, and its absence, are kept for the TTL;
// SetPolicy through the cache is seen at once, one behind its back after
// the TTL.
func TestTokenCachePolicies(t *testing.T) {
	ps := &policyStore{pol: map[string]Policy{"db": {Target: "db", Deny: "22"}}}
	c, clk := newCache(ps)
	ctx := t.Context()
	for range 3 {
		if p, err := c.Policy(ctx, "db"); err != nil || p.Deny != "22" {
			t.Fatalf("db: %+v, %v", p, err)
		}
		if _, err := c.Policy(ctx, "web"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("web: %v, want ErrNotFound", err)
		}
	}
	if n := ps.lookups.Load(); n != 2 {
		t.Fatalf("%d store lookups, want 2", n)
	}
	if err := c.SetPolicy(ctx, Policy{Target: "web", Allow: "80"}); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Policy(ctx, "web"); err != nil || p.Allow != "80" {
		t.Fatalf("web after SetPolicy: %+v, %v", p, err)
	}
	c.Policy(ctx, "db")                                    // cached again
	ps.SetPolicy(ctx, Policy{Target: "db", Deny: "22,23"}) // another controller
	if p, _ := c.Policy(ctx, "db"); p.Deny != "22" {
		t.Fatalf("db within the TTL: %+v, want the cached one", p)
	}
	clk.Add(3 * time.Second)
	if p, _ := c.Policy(ctx, "db"); p.Deny != "22,23" {
		t.Fatalf("db after the TTL: %+v", p)
	}
}
