package tunnel

import (
	"context"
	"errors"
	"sync"
)

// Rendezvous errors.
var (
	// ErrNoWaiter: nobody waits for that id (never asked, already served,
	// or gave up). The caller must close what it tried to deliver.
	ErrNoWaiter = errors.New("rendezvous: no one is waiting for this session")
	// ErrWrongOwner: the value came from someone other than the expected
	// party (another agent answering a session it was not asked for).
	ErrWrongOwner = errors.New("rendezvous: session belongs to someone else")
	// ErrDuplicate: Expect was called twice for one id.
	ErrDuplicate = errors.New("rendezvous: session id already waiting")
)

// Rendezvous pairs a value that arrives later (an agent's Tunnel stream)
// with the request waiting for it, by session id. Each id is served at
// most once; late or duplicate deliveries are refused.
type Rendezvous[T any] struct {
	mu      sync.Mutex
	waiting map[string]*waiter[T]
}

type waiter[T any] struct {
	owner     string
	ch        chan T // buffered 1
	delivered bool   // guarded by Rendezvous.mu
}

// NewRendezvous returns an empty Rendezvous.
func NewRendezvous[T any]() *Rendezvous[T] {
	return &Rendezvous[T]{waiting: make(map[string]*waiter[T])}
}

// Expect registers interest in id, to be delivered only by owner. Call it
// before asking the other side to deliver, then Wait.
func (r *Rendezvous[T]) Expect(id, owner string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.waiting[id]; ok {
		return ErrDuplicate
	}
	r.waiting[id] = &waiter[T]{owner: owner, ch: make(chan T, 1)}
	return nil
}

// Wait blocks until id is delivered (before or during the call) or ctx
// ends; either way id is forgotten, so a delivery after ctx ended gets
// ErrNoWaiter and stays with its sender.
func (r *Rendezvous[T]) Wait(ctx context.Context, id string) (T, error) {
	r.mu.Lock()
	w := r.waiting[id]
	r.mu.Unlock()
	var zero T
	if w == nil {
		return zero, ErrNoWaiter
	}
	defer r.forget(id, w)
	select {
	case v := <-w.ch:
		return v, nil
	case <-ctx.Done():
	}
	r.forget(id, w)
	// A delivery may have slipped in between ctx ending and forget.
	select {
	case v := <-w.ch:
		return v, nil
	default:
		return zero, ctx.Err()
	}
}

// forget removes id if it still belongs to w.
func (r *Rendezvous[T]) forget(id string, w *waiter[T]) {
	r.mu.Lock()
	if r.waiting[id] == w {
		delete(r.waiting, id)
	}
	r.mu.Unlock()
}

// Cancel forgets id without waiting.
func (r *Rendezvous[T]) Cancel(id string) {
	r.mu.Lock()
	delete(r.waiting, id)
	r.mu.Unlock()
}

// Deliver hands v to the waiter of id. On error the caller keeps v.
func (r *Rendezvous[T]) Deliver(id, owner string, v T) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.waiting[id]
	if !ok {
		return ErrNoWaiter
	}
	if w.owner != owner {
		return ErrWrongOwner
	}
	if w.delivered {
		return ErrNoWaiter
	}
	w.delivered = true // Wait removes the entry when it takes v
	w.ch <- v
	return nil
}

// Len reports how many ids are waiting (for tests and metrics).
func (r *Rendezvous[T]) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.waiting)
}
