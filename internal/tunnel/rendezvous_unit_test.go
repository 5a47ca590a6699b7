package tunnel_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/burrow-dev/burrow/internal/tunnel"
)

// rvTimeout bounds every wait in the rendezvous tests; a healthy run never
// gets near it.
const rvTimeout = 10 * time.Second

func rvContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rvTimeout)
	t.Cleanup(cancel)
	return ctx
}

// expiredContexts are contexts that have already ended, one per way a
// waiting dial can give up.
func expiredContexts() map[string]func(t *testing.T) (context.Context, error) {
	return map[string]func(t *testing.T) (context.Context, error){
		"canceled": func(t *testing.T) (context.Context, error) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, context.Canceled
		},
		"deadline": func(t *testing.T) (context.Context, error) {
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			t.Cleanup(cancel)
			return ctx, context.DeadlineExceeded
		},
	}
}

func TestRendezvousSequences(t *testing.T) {
	defer goleak.VerifyNone(t)
	tests := []struct {
		name string
		run  func(t *testing.T, r *tunnel.Rendezvous[int])
	}{
		{"deliver before wait", func(t *testing.T, r *tunnel.Rendezvous[int]) {
			mustNil(t, "Expect", r.Expect("s1", "agent-a"))
			mustNil(t, "Deliver", r.Deliver("s1", "agent-a", 42))
			waitFor(t, r, "s1", 42)
		}},
		{"deliver while waiting", func(t *testing.T, r *tunnel.Rendezvous[int]) {
			mustNil(t, "Expect", r.Expect("s1", "agent-a"))
			ctx := rvContext(t)
			got := make(chan error, 1)
			go func() {
				v, err := r.Wait(ctx, "s1")
				if err == nil && v != 7 {
					err = fmt.Errorf("got value %d, want 7", v)
				}
				got <- err
			}()
			mustNil(t, "Deliver", r.Deliver("s1", "agent-a", 7))
			if err := <-got; errors.Is(err, tunnel.ErrNoWaiter) {
				bugDeliverBeforeWait(t, 1)
			} else {
				mustNil(t, "Wait", err)
			}
		}},
		{"wait without expect", func(t *testing.T, r *tunnel.Rendezvous[int]) {
			if _, err := r.Wait(rvContext(t), "nobody"); !errors.Is(err, tunnel.ErrNoWaiter) {
				t.Fatalf("Wait for an id never expected = %v, want ErrNoWaiter", err)
			}
		}},
		{"deliver without expect", func(t *testing.T, r *tunnel.Rendezvous[int]) {
			if err := r.Deliver("nobody", "agent-a", 1); !errors.Is(err, tunnel.ErrNoWaiter) {
				t.Fatalf("Deliver = %v, want ErrNoWaiter", err)
			}
		}},
		{"duplicate expect", func(t *testing.T, r *tunnel.Rendezvous[int]) {
			mustNil(t, "Expect", r.Expect("s1", "agent-a"))
			if err := r.Expect("s1", "agent-b"); !errors.Is(err, tunnel.ErrDuplicate) {
				t.Fatalf("second Expect = %v, want ErrDuplicate", err)
			}
			// The first registration is untouched: its owner still delivers,
			// the would-be second owner still cannot.
			if err := r.Deliver("s1", "agent-b", 2); !errors.Is(err, tunnel.ErrWrongOwner) {
				t.Fatalf("Deliver by the refused second owner = %v, want ErrWrongOwner", err)
			}
			mustNil(t, "Deliver", r.Deliver("s1", "agent-a", 1))
			waitFor(t, r, "s1", 1)
		}},
		{"duplicate deliver", func(t *testing.T, r *tunnel.Rendezvous[int]) {
			mustNil(t, "Expect", r.Expect("s1", "agent-a"))
			mustNil(t, "first Deliver", r.Deliver("s1", "agent-a", 1))
			if err := r.Deliver("s1", "agent-a", 2); !errors.Is(err, tunnel.ErrNoWaiter) {
				t.Fatalf("second Deliver = %v, want ErrNoWaiter", err)
			}
			waitFor(t, r, "s1", 1)
		}},
		{"wrong owner", func(t *testing.T, r *tunnel.Rendezvous[int]) {
			mustNil(t, "Expect", r.Expect("s1", "agent-a"))
			if err := r.Deliver("s1", "agent-evil", 666); !errors.Is(err, tunnel.ErrWrongOwner) {
				t.Fatalf("Deliver by another agent = %v, want ErrWrongOwner", err)
			}
			if n := r.Len(); n != 1 {
				t.Fatalf("Len after a refused delivery = %d, want 1 (the waiter stays)", n)
			}
			mustNil(t, "Deliver by the owner", r.Deliver("s1", "agent-a", 1))
			waitFor(t, r, "s1", 1)
		}},
		{"cancel then deliver", func(t *testing.T, r *tunnel.Rendezvous[int]) {
			mustNil(t, "Expect", r.Expect("s1", "agent-a"))
			r.Cancel("s1")
			if err := r.Deliver("s1", "agent-a", 1); !errors.Is(err, tunnel.ErrNoWaiter) {
				t.Fatalf("Deliver after Cancel = %v, want ErrNoWaiter", err)
			}
			if n := r.Len(); n != 0 {
				t.Fatalf("Len = %d, want 0", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tunnel.NewRendezvous[int]()
			tt.run(t, r)
			if n := r.Len(); n != 0 {
				t.Errorf("Len at the end = %d, want 0", n)
			}
		})
	}
}

func TestRendezvousGiveUp(t *testing.T) {
	defer goleak.VerifyNone(t)
	for name, mk := range expiredContexts() {
		t.Run(name, func(t *testing.T) {
			t.Run("never arrives", func(t *testing.T) {
				r := tunnel.NewRendezvous[int]()
				mustNil(t, "Expect", r.Expect("s1", "agent-a"))
				ctx, want := mk(t)
				if _, err := r.Wait(ctx, "s1"); !errors.Is(err, want) {
					t.Fatalf("Wait = %v, want %v", err, want)
				}
				if n := r.Len(); n != 0 {
					t.Fatalf("Len after giving up = %d, want 0", n)
				}
			})
			t.Run("late delivery", func(t *testing.T) {
				r := tunnel.NewRendezvous[int]()
				mustNil(t, "Expect", r.Expect("s1", "agent-a"))
				ctx, want := mk(t)
				if _, err := r.Wait(ctx, "s1"); !errors.Is(err, want) {
					t.Fatalf("Wait = %v, want %v", err, want)
				}
				if err := r.Deliver("s1", "agent-a", 1); !errors.Is(err, tunnel.ErrNoWaiter) {
					t.Fatalf("late Deliver = %v, want ErrNoWaiter", err)
				}
				// The id is free again once given up.
				mustNil(t, "Expect again", r.Expect("s1", "agent-a"))
				r.Cancel("s1")
			})
		})
	}
	t.Run("ctx ends while blocked", func(t *testing.T) {
		r := tunnel.NewRendezvous[int]()
		mustNil(t, "Expect", r.Expect("s1", "agent-a"))
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan error, 1)
		go func() { _, err := r.Wait(ctx, "s1"); got <- err }()
		cancel()
		select {
		case err := <-got:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Wait = %v, want context.Canceled", err)
			}
		case <-time.After(rvTimeout):
			t.Fatal("Wait did not return after its context was cancelled")
		}
		if n := r.Len(); n != 0 {
			t.Fatalf("Len = %d, want 0", n)
		}
	})
}

// TestRendezvousConcurrent runs many sessions at once, each with a wrong
// owner trying to steal it, a right delivery and a duplicate, in random
// order relative to Wait.
func TestRendezvousConcurrent(t *testing.T) {
	defer goleak.VerifyNone(t)
	const sessions = 1000
	r := tunnel.NewRendezvous[int]()
	ctx := rvContext(t)
	var lost atomic.Int64 // delivered before Wait looked: the known bug
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, owner := fmt.Sprintf("session-%d", i), fmt.Sprintf("agent-%d", i%17)
			if err := r.Expect(id, owner); err != nil {
				t.Errorf("%s: Expect: %v", id, err)
				return
			}
			delivered := make(chan struct{})
			go func() {
				defer close(delivered)
				if err := r.Deliver(id, owner+"-impostor", -1); !errors.Is(err, tunnel.ErrWrongOwner) && !errors.Is(err, tunnel.ErrNoWaiter) {
					t.Errorf("%s: impostor Deliver = %v", id, err)
				}
				if err := r.Deliver(id, owner, i); err != nil {
					t.Errorf("%s: Deliver: %v", id, err)
				}
				if err := r.Deliver(id, owner, -2); !errors.Is(err, tunnel.ErrNoWaiter) {
					t.Errorf("%s: duplicate Deliver = %v, want ErrNoWaiter", id, err)
				}
			}()
			v, err := r.Wait(ctx, id)
			<-delivered
			switch {
			case errors.Is(err, tunnel.ErrNoWaiter):
				lost.Add(1)
			case err != nil || v != i:
				t.Errorf("%s: Wait = %d, %v; want %d, nil", id, v, err, i)
			}
		}()
	}
	wg.Wait()
	if n := r.Len(); n != 0 {
		t.Fatalf("Len after all sessions = %d, want 0", n)
	}
	if n := lost.Load(); n > 0 {
		bugDeliverBeforeWait(t, int(n))
	}
}

// TestRendezvousDeliverRacesExpiry checks the contract the server relies on
// to avoid leaking streams: when a delivery races the waiter giving up,
// exactly one of them owns the value. Deliver returning nil means Wait got
// the value; Deliver failing means Wait failed and the caller must close it.
func TestRendezvousDeliverRacesExpiry(t *testing.T) {
	defer goleak.VerifyNone(t)
	const rounds = 2000
	r := tunnel.NewRendezvous[int]()
	var won, lost, bug int
	for i := range rounds {
		id := fmt.Sprint("s", i)
		mustNil(t, "Expect", r.Expect(id, "a"))
		ctx, cancel := context.WithCancel(context.Background())
		type waitResult struct {
			v   int
			err error
		}
		waited := make(chan waitResult, 1)
		go func() { v, err := r.Wait(ctx, id); waited <- waitResult{v, err} }()
		delivered := make(chan error, 1)
		go func() { delivered <- r.Deliver(id, "a", i) }()
		if rand.IntN(2) == 0 {
			cancel()
		} else {
			go cancel()
		}
		derr, w := <-delivered, <-waited
		cancel()
		switch {
		case derr == nil && w.err == nil && w.v == i:
			won++
		case errors.Is(derr, tunnel.ErrNoWaiter) && errors.Is(w.err, context.Canceled):
			lost++
		case derr == nil && errors.Is(w.err, tunnel.ErrNoWaiter):
			bug++ // Deliver ran before Wait looked the id up
		default:
			t.Fatalf("round %d: Deliver = %v but Wait = %d, %v: the value is lost or owned twice", i, derr, w.v, w.err)
		}
	}
	if n := r.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
	t.Logf("%d deliveries won the race, %d lost it", won, lost)
	if bug > 0 {
		bugDeliverBeforeWait(t, bug)
	}
}

// waitFor waits for id, which was already delivered, and checks the value.
func waitFor(t *testing.T, r *tunnel.Rendezvous[int], id string, want int) {
	t.Helper()
	v, err := r.Wait(rvContext(t), id)
	if errors.Is(err, tunnel.ErrNoWaiter) {
		bugDeliverBeforeWait(t, 1)
	}
	if err != nil || v != want {
		t.Fatalf("Wait(%q) = %d, %v; want %d, nil", id, v, err, want)
	}
}

// bugDeliverBeforeWait reports the bug that Deliver forgets the id, so a
// Wait that starts after the delivery (allowed by Expect's doc: "Call it
// before asking the other side to deliver, then Wait") finds nobody and
// returns ErrNoWaiter while Deliver returned nil: the value is lost and its
// owner never closes it. Server.DialTarget hits this when the agent's Tunnel
// stream is delivered between "ac.send <- instr" and "pending.Wait".
func bugDeliverBeforeWait(t *testing.T, n int) {
	t.Helper()
	knownBug(t, "rendezvous.go: Deliver deletes the waiter, so Wait after Deliver returns ErrNoWaiter and the delivered value is lost (%d times)", n)
}

func knownBug(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf("regression: "+format, args...)
}

func mustNil(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
