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

// HostSwitchGrace is how long a host CA key stays trusted after its
// successor took over signing in a staged rotation: time for every agent
// and the gateway, which get new certificates at the switch, to present
// them.
const HostSwitchGrace = 10 * time.Minute

// ErrRotationUnderWay refuses a staged host CA rotation while another is
// under way.
var ErrRotationUnderWay = store.ErrRotationUnderWay

// Rotation is what Rotate did.
type Rotation struct {
	// Key is the new CA key, without its private half.
	Key store.CAKey
	// SignsFrom is when Key starts signing: now, or the end of the
	// overlap in a staged host CA rotation.
	SignsFrom time.Time
	// PreviousTrustedUntil is when the previous key stops being trusted.
	PreviousTrustedUntil time.Time
}

// Rotate makes a new ed25519 CA key.
//
// For the user CA, and for the host CA with overlap 0, the new key signs
// from now on, and the previous one stays trusted for overlap. Overlap 0
// is for a compromised key: no earlier key is trusted any more, one still
// in an earlier rotation's overlap included.
//
// For the host CA with an overlap, the rotation is staged, because
// clients (known_hosts @cert-authority lines) must trust a host CA key
// before hosts present certificates from it: the new key is trusted, so
// published, at once; the previous one keeps signing until the overlap
// ends, then the new one signs and the previous one stays trusted for
// HostSwitchGrace. A staged rotation under way refuses another one with an
// overlap; one with overlap 0 (a compromised key) switches at once.
//
// The store does it in one transaction.
func (a *Authority) Rotate(ctx context.Context, overlap time.Duration) (Rotation, error) {
	if overlap < 0 || overlap > MaxOverlap {
		return Rotation{}, fmt.Errorf("sshca: rotate: overlap %v is not between 0 and %v", overlap, MaxOverlap)
	}
	now := a.now()
	retire, trustUntil := now, now.Add(overlap)
	switch {
	case a.kind == store.CAHost && overlap > 0:
		retire, trustUntil = now.Add(overlap), now.Add(overlap+HostSwitchGrace)
	case a.kind == store.CAHost:
		// Retired a little in the past, so that a controller on the same
		// store whose clock is behind does not take the key for one whose
		// retirement lies ahead, and sign with it.
		retire = now.Add(-ClockSkew)
	}
	next, err := newKey(a.kind, a.comment, now)
	if err != nil {
		return Rotation{}, fmt.Errorf("sshca: rotate %s CA: %w", a.kind, err)
	}
	if err := a.st.RotateCAKey(ctx, next, retire, trustUntil); errors.Is(err, store.ErrRotationUnderWay) {
		a.Reload(ctx) // for the time to name; on error the old view still has one
		// Said to the admin as it is: no package prefix.
		if at, ok := a.switchAt(now); ok {
			return Rotation{}, fmt.Errorf("%w: its new key signs from %s; rotate again after that, or with overlap 0s to switch at once",
				ErrRotationUnderWay, at.UTC().Format(time.RFC3339))
		}
		return Rotation{}, fmt.Errorf("%w; rotate again after its new key signs, or with overlap 0s to switch at once", ErrRotationUnderWay)
	} else if err != nil {
		return Rotation{}, fmt.Errorf("sshca: rotate %s CA: %w", a.kind, err)
	}
	if _, err := a.Reload(ctx); err != nil {
		return Rotation{}, err
	}
	next.Private = nil
	signsFrom := retire
	if signsFrom.Before(now) {
		signsFrom = now
	}
	return Rotation{Key: next, SignsFrom: signsFrom, PreviousTrustedUntil: trustUntil}, nil
}

// switchAt returns when a staged rotation's new key starts signing, if
// one is under way at now.
func (a *Authority) switchAt(now time.Time) (time.Time, bool) {
	for _, k := range a.cur.Load().keys {
		if k.RetiredAt != nil && k.RetiredAt.After(now) {
			return *k.RetiredAt, true
		}
	}
	return time.Time{}, false
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
	ks, err := load(keys, a.now())
	if err != nil {
		return false, err
	}
	old := a.cur.Swap(ks)
	return !sameKeys(old.keys, keys), nil
}

// NextChange returns the next time after now at which what this Authority
// trusts or signs with changes by the clock alone: a retired key's trust
// ends, or a staged rotation's new key starts signing. false when neither
// is ahead.
func (a *Authority) NextChange() (time.Time, bool) {
	now := a.now()
	var next time.Time
	for _, k := range a.cur.Load().keys {
		for _, t := range []*time.Time{k.RetiredAt, k.TrustedUntil} {
			if k.RetiredAt == nil || t == nil || !t.After(now) {
				continue
			}
			if next.IsZero() || t.Before(next) {
				next = *t
			}
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
