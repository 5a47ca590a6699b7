package store

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// TokenCacheTTL is how long CacheTokens keeps a token: how late a
// revocation made by another controller sharing the database can take
// effect here.
const TokenCacheTTL = 2 * time.Second

// maxCachedTokens bounds the cache; past it, stale entries are dropped,
// and if none is stale, everything.
const maxCachedTokens = 10000

// CacheTokens returns s with TokenByHash answered from memory for ttl after
// a lookup, so that every stream of a client or agent does not read the
// database to check the same bearer token. Only found, unrevoked tokens
// are kept (callers still check expiry against their clock); errors are
// never kept, nor is a miss (so a new token needs no invalidation). Every
// revocation or deletion made through the returned store (RevokeToken,
// RevokeSubject, DeleteAgent) empties the cache at once; one made by
// another process is seen within ttl.
//
// Policy, which the dialer reads for every session, is kept the same way,
// found or not found (most targets have no controller policy); SetPolicy
// through the returned store forgets them at once.
func CacheTokens(s Store, ttl time.Duration) *TokenCache {
	return &TokenCache{Store: s, ttl: ttl, now: time.Now, m: make(map[string]cachedToken), pol: make(map[string]cachedPolicy)}
}

// TokenCache is the Store made by CacheTokens.
type TokenCache struct {
	Store
	ttl time.Duration
	now func() time.Time

	mu  sync.Mutex
	m   map[string]cachedToken  // by string(Hash)
	pol map[string]cachedPolicy // by target
	// gen counts invalidations: a lookup that read the database before
	// one does not keep what it read.
	gen uint64
}

type cachedToken struct {
	t       Token
	expires time.Time
}

type cachedPolicy struct {
	p       Policy
	found   bool
	expires time.Time
}

// TokenByHash answers from the cache, or from the store (keeping a found,
// unrevoked token for the TTL).
func (c *TokenCache) TokenByHash(ctx context.Context, hash []byte) (Token, error) {
	key := string(hash)
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[key]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return cloneToken(e.t), nil
	}
	t, err := c.Store.TokenByHash(ctx, hash)
	if err != nil || t.RevokedAt != nil {
		return t, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.m) >= maxCachedTokens {
			c.pruneLocked(now)
		}
		c.m[key] = cachedToken{t: cloneToken(t), expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return t, nil
}

func (c *TokenCache) pruneLocked(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, k)
		}
	}
	if len(c.m) >= maxCachedTokens {
		clear(c.m)
	}
}

// Invalidate empties the cache.
func (c *TokenCache) Invalidate() {
	c.mu.Lock()
	c.gen++
	clear(c.m)
	clear(c.pol)
	c.mu.Unlock()
}

// Policy answers from the cache, or from the store (keeping the policy, or
// its absence, for the TTL).
func (c *TokenCache) Policy(ctx context.Context, target string) (Policy, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.pol[target]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		if !e.found {
			return Policy{}, ErrNotFound
		}
		return e.p, nil
	}
	p, err := c.Store.Policy(ctx, target)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return p, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.pol) >= maxCachedTokens {
			clear(c.pol)
		}
		c.pol[target] = cachedPolicy{p: p, found: found, expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return p, err
}

// SetPolicy writes to the store, then empties the cache.
func (c *TokenCache) SetPolicy(ctx context.Context, p Policy) error {
	defer c.Invalidate()
	return c.Store.SetPolicy(ctx, p)
}

// RevokeToken revokes in the store, then empties the cache.
func (c *TokenCache) RevokeToken(ctx context.Context, id string, at time.Time) error {
	defer c.Invalidate()
	return c.Store.RevokeToken(ctx, id, at)
}

// RevokeSubject revokes in the store, then empties the cache.
func (c *TokenCache) RevokeSubject(ctx context.Context, subject string, at time.Time) error {
	defer c.Invalidate()
	return c.Store.RevokeSubject(ctx, subject, at)
}

// DeleteAgent deletes in the store, then empties the cache (the agent's
// credential must not outlive it here).
func (c *TokenCache) DeleteAgent(ctx context.Context, id string) error {
	defer c.Invalidate()
	return c.Store.DeleteAgent(ctx, id)
}

// cloneToken copies what t shares, so callers cannot change the cache.
func cloneToken(t Token) Token {
	t.Hash = slices.Clone(t.Hash)
	t.Logins = slices.Clone(t.Logins)
	if t.ExpiresAt != nil {
		e := *t.ExpiresAt
		t.ExpiresAt = &e
	}
	return t
}
