package gateway

import (
	"sync"
	"time"
)

// limiter counts failed logins per source IP with a token bucket: each IP
// holds up to max tokens, refilled at max per window; a failure takes one.
// An IP whose bucket is empty is refused for block.
type limiter struct {
	max    float64
	window time.Duration
	block  time.Duration
	now    func() time.Time

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens  float64
	last    time.Time // when tokens was last brought up to date
	blocked time.Time // refused until then
	told    int       // connections told so during this block
}

// tellBlocked is how many connections from a blocked address are told why
// in each block (a handshake costs the gateway CPU); later ones are closed
// at once.
const tellBlocked = 3

// maxTracked bounds the addresses remembered; beyond it, full buckets
// are forgotten.
const maxTracked = 10000

func newLimiter(max int, window, block time.Duration, now func() time.Time) *limiter {
	return &limiter{max: float64(max), window: window, block: block, now: now, m: map[string]*bucket{}}
}

// allowed reports whether ip may log in now.
func (l *limiter) allowed(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[ip]
	return b == nil || !l.now().Before(b.blocked)
}

// refusal reports whether ip is refused now, until when, and whether this
// connection is to be told so (the first tellBlocked of the block).
func (l *limiter) refusal(ip string) (until time.Time, tell, blocked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[ip]
	if b == nil || !l.now().Before(b.blocked) {
		return time.Time{}, false, false
	}
	b.told++
	return b.blocked, b.told <= tellBlocked, true
}

// failed records a failed login from ip. It reports whether that blocked
// ip (so the caller logs it once).
func (l *limiter) failed(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.m[ip]
	if b == nil {
		l.pruneLocked(now)
		b = &bucket{tokens: l.max, last: now}
		l.m[ip] = b
	}
	l.refillLocked(b, now)
	b.tokens--
	if b.tokens >= 1 || now.Before(b.blocked) {
		return false
	}
	b.blocked = now.Add(l.block)
	b.told = 0
	b.tokens = l.max // a fresh start once the block ends
	b.last = b.blocked
	return true
}

func (l *limiter) refillLocked(b *bucket, now time.Time) {
	if now.After(b.last) {
		b.tokens = min(l.max, b.tokens+l.max*float64(now.Sub(b.last))/float64(l.window))
		b.last = now
	}
}

// pruneLocked forgets addresses that are neither blocked nor short of
// tokens, when there are too many.
func (l *limiter) pruneLocked(now time.Time) {
	if len(l.m) < maxTracked {
		return
	}
	for ip, b := range l.m {
		l.refillLocked(b, now)
		if b.tokens >= l.max && !now.Before(b.blocked) {
			delete(l.m, ip)
		}
	}
}

// startups counts connections that have not finished their login yet, per
// source IP and in all, as sshd's MaxStartups and PerSourceMaxStartups
// do: one address cannot hold more than perSource of them, nor can all
// together hold more than max, so clients that connect and say nothing
// (slow loris) use up a bounded share until LoginGraceTime drops them.
type startups struct {
	max, perSource int

	mu    sync.Mutex
	total int
	by    map[string]int
}

func newStartups(max, perSource int) *startups {
	return &startups{max: max, perSource: perSource, by: map[string]int{}}
}

// begin counts a new unauthenticated connection from ip, or reports that
// there are too many; then the caller must not call end.
func (s *startups) begin(ip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total >= s.max || s.by[ip] >= s.perSource {
		return false
	}
	s.total++
	s.by[ip]++
	return true
}

// end uncounts a connection begin counted, once its login is over either
// way.
func (s *startups) end(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.by[ip]--; s.by[ip] == 0 {
		delete(s.by, ip)
	}
}
