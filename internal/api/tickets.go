package api

import (
	"sync"
	"time"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/dial"
)

// TicketTTL is how long a WebSocket ticket may wait before its one use.
const TicketTTL = 30 * time.Second

// tickets are one-time, short-lived credentials kept in memory by hash.
type tickets struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]ticket
}

type ticket struct {
	p       dial.Principal
	expires time.Time
}

func newTickets(now func() time.Time) *tickets {
	return &tickets{now: now, m: map[string]ticket{}}
}

func (t *tickets) issue(p dial.Principal) apitype.Ticket {
	secret := auth.NewSecret("brwt_")
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.m { // drop expired ones; the map stays small
		if now.After(v.expires) {
			delete(t.m, k)
		}
	}
	exp := now.Add(TicketTTL)
	t.m[string(auth.Hash(secret))] = ticket{p: p, expires: exp}
	return apitype.Ticket{Ticket: secret, ExpiresAt: exp}
}

func (t *tickets) redeem(secret string) (dial.Principal, error) {
	key := string(auth.Hash(secret))
	t.mu.Lock()
	tk, ok := t.m[key]
	delete(t.m, key)
	t.mu.Unlock()
	if !ok || t.now().After(tk.expires) {
		return dial.Principal{}, apitype.Errorf(apitype.CodeUnauthenticated, "ticket unknown, used or expired: get a new one with POST /v1/tickets")
	}
	return tk.p, nil
}
