package controller

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/burrow-dev/burrow/internal/sshca"
	"github.com/burrow-dev/burrow/internal/store"
)

// trustState remembers what agents were last told, so that the periodic
// refresh pushes only changes, and the last revocation list read, which
// stands in while the store is unreachable.
type trustState struct {
	mu      sync.Mutex
	pushed  string        // trustKey of the last push
	revoked []string      // last good RevokedKeyIDs result
	wake    chan struct{} // tells watchTrust of a push (a rotation may start an overlap)
}

// wakeup is the channel pushTrust signals, made on first use.
func (s *trustState) wakeup() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
	}
	return s.wake
}

// revokedKeyIDs lists the certificate key ids agents must refuse: those
// of user tokens revoked less than sshca.MaxTTL ago (older certificates
// have expired anyway) and not expired. On a store error it returns the
// last list it read.
func (c *Controller) revokedKeyIDs() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ts, err := c.st.ListTokens(ctx)
	c.trust.mu.Lock()
	defer c.trust.mu.Unlock()
	if err != nil {
		c.log.Warn("list revoked tokens; agents keep the previous list", "err", err)
		return slices.Clone(c.trust.revoked)
	}
	c.trust.revoked = revokedKeyIDs(ts, c.org, c.opts.Now())
	return slices.Clone(c.trust.revoked)
}

func revokedKeyIDs(ts []store.Token, org string, now time.Time) []string {
	var ids []string
	for _, t := range ts {
		if sshca.StillRevoked(t.RevokedAt, t.ExpiresAt, now) {
			ids = append(ids, sshca.RevokedKeyIDs(org, t.Subject, t.ID)...)
		}
	}
	return ids
}

// trustKey sums up what agents are told: trusted user CA keys, revoked
// key ids, and the host CA keys trusted and signing (whose change means
// new host certificates).
func (c *Controller) trustKey() string {
	return strings.Join(c.ca.UserCAKeys(), ",") + "|" + strings.Join(c.revokedKeyIDs(), ",") + "|" +
		strings.Join(c.hostCA.TrustedKeys(), ",") + "|" + string(c.hostCA.PublicKey().Marshal())
}

// pushTrust tells every connected agent the trust now, and remembers it.
func (c *Controller) pushTrust() {
	k := c.trustKey()
	c.trust.mu.Lock()
	c.trust.pushed = k
	c.trust.mu.Unlock()
	c.tunnels.PushTrust()
	c.certifyGateway()
	select {
	case c.trust.wakeup() <- struct{}{}:
	default: // watchTrust has a wake-up pending already
	}
}

// refreshTrust reloads the CAs from the store (another controller may have
// rotated them) and pushes the trust if it changed: after a rotation or a
// revocation elsewhere, when an overlap or a revocation's bound ran out,
// or when a staged host CA rotation's new key starts signing.
func (c *Controller) refreshTrust(ctx context.Context) {
	for _, ca := range []*sshca.Authority{c.ca, c.hostCA} {
		if _, err := ca.Reload(ctx); err != nil {
			c.log.Warn("reload SSH CA", "err", err)
		}
	}
	k := c.trustKey()
	c.trust.mu.Lock()
	changed := k != c.trust.pushed
	c.trust.mu.Unlock()
	if changed {
		c.pushTrust()
	} else {
		c.certifyGateway() // renews it when half its validity has passed
	}
}

// watchTrust runs refreshTrust every TrustRefresh, and right after an
// overlap ends so that agents stop trusting the retired CA key on time (or
// a staged host CA rotation switches keys, so that they get certificates
// from the new one), until ctx ends. After each push (a rotation here) it
// looks again at when the next such change is due.
func (c *Controller) watchTrust(ctx context.Context) {
	k := c.trustKey()
	c.trust.mu.Lock()
	c.trust.pushed = k
	c.trust.mu.Unlock()
	wake := c.trust.wakeup()
	for {
		t := time.NewTimer(c.nextTrustRefresh())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
			t.Stop()
		case <-t.C:
			c.refreshTrust(ctx)
		}
	}
}

// changeSlack is how long after an overlap's end (or a key switch) the
// controller refreshes the trust, so that its clock is past it by then.
const changeSlack = 100 * time.Millisecond

// nextTrustRefresh is how long until the next refresh: TrustRefresh, or
// less when a CA key's overlap ends, or a staged rotation switches, sooner.
func (c *Controller) nextTrustRefresh() time.Duration {
	wait := c.opts.TrustRefresh
	for _, ca := range []*sshca.Authority{c.ca, c.hostCA} {
		if at, ok := ca.NextChange(); ok {
			wait = min(wait, at.Sub(c.opts.Now())+changeSlack)
		}
	}
	return wait
}
