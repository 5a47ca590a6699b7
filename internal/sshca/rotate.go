package sshca

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/burrow-dev/burrow/internal/store"
)

// MaxOverlap bounds how long a retired CA key stays trusted after Rotate.
const MaxOverlap = 30 * 24 * time.Hour

// Rotate makes a new ed25519 CA key the one that signs, from now on, and
// keeps the current one trusted for overlap (0: not at all, so
// certificates it signed stop working at once). The store does both in
// one transaction. It returns the new key (without its private half).
func (a *Authority) Rotate(ctx context.Context, overlap time.Duration) (store.CAKey, error) {
	if overlap < 0 || overlap > MaxOverlap {
		return store.CAKey{}, fmt.Errorf("sshca: rotate: overlap %v is not between 0 and %v", overlap, MaxOverlap)
	}
	now := a.now()
	next, err := newKey(a.kind, a.comment, now)
	if err != nil {
		return store.CAKey{}, fmt.Errorf("sshca: rotate %s CA: %w", a.kind, err)
	}
	if err := a.st.RotateCAKey(ctx, next, now, now.Add(overlap)); err != nil {
		return store.CAKey{}, fmt.Errorf("sshca: rotate %s CA: %w", a.kind, err)
	}
	if _, err := a.Reload(ctx); err != nil {
		return store.CAKey{}, err
	}
	next.Private = nil
	return next, nil
}

// Reload re-reads the CA keys from the store, so that a rotation made by
// another controller on the same store takes effect here. It reports
// whether the keys changed. On error the Authority keeps its keys.
func (a *Authority) Reload(ctx context.Context) (changed bool, err error) {
	keys, err := a.st.ListCAKeys(ctx, a.kind)
	if err != nil {
		return false, fmt.Errorf("sshca: reload %s CA: %w", a.kind, err)
	}
	if _, ok := current(keys); !ok {
		return false, errors.New("sshca: reload: the store has no current " + a.kind + " CA key")
	}
	ks, err := load(keys)
	if err != nil {
		return false, err
	}
	old := a.cur.Swap(ks)
	return !sameKeys(old.keys, keys), nil
}

// TrustEnds returns when the next retired key stops being trusted, the
// earliest overlap end after now, and false when no overlap is running.
func (a *Authority) TrustEnds() (time.Time, bool) {
	now := a.now()
	var next time.Time
	for _, k := range a.cur.Load().keys {
		if k.RetiredAt == nil || k.TrustedUntil == nil || !k.TrustedUntil.After(now) {
			continue
		}
		if next.IsZero() || k.TrustedUntil.Before(next) {
			next = *k.TrustedUntil
		}
	}
	return next, !next.IsZero()
}

// Keys returns every CA key of this Authority's kind, oldest first,
// without their private halves.
func (a *Authority) Keys() []store.CAKey {
	keys := append([]store.CAKey(nil), a.cur.Load().keys...)
	for i := range keys {
		keys[i].Private = nil
	}
	return keys
}

// sameKeys reports whether a and b are the same keys in the same states.
func sameKeys(a, b []store.CAKey) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || !sameTime(a[i].RetiredAt, b[i].RetiredAt) || !sameTime(a[i].TrustedUntil, b[i].TrustedUntil) {
			return false
		}
	}
	return true
}

func sameTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}
