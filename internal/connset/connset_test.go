package connset

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

type member struct {
	closed  atomic.Bool
	onClose func()
}

func (m *member) Close() error {
	m.closed.Store(true)
	if m.onClose != nil {
		m.onClose()
	}
	return nil
}

func TestAddAfterCloseRefused(t *testing.T) {
	var s Set[*member]
	s.Close()
	if s.Add(&member{}) {
		t.Fatal("Add after Close succeeded")
	}
	if !s.Closed() {
		t.Fatal("Closed() = false after Close")
	}
}

// A member that finishes on its own is not closed by Shutdown.
func TestShutdownWaits(t *testing.T) {
	var s Set[*member]
	m := &member{}
	if !s.Add(m) {
		t.Fatal("Add refused")
	}
	go func() { time.Sleep(10 * time.Millisecond); s.Done(m) }()
	if n := s.Shutdown(context.Background()); n != 0 {
		t.Fatalf("Shutdown closed %d members, want 0", n)
	}
	if m.closed.Load() {
		t.Fatal("a member that finished by itself was closed")
	}
}

// Past the deadline, Shutdown closes what is left and waits for it.
func TestShutdownClosesTheRest(t *testing.T) {
	var s Set[*member]
	var m *member
	m = &member{onClose: func() { go s.Done(m) }}
	s.Add(m)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n := s.Shutdown(ctx); n != 1 {
		t.Fatalf("Shutdown closed %d members, want 1", n)
	}
	if !m.closed.Load() {
		t.Fatal("member left open")
	}
	if s.Shutdown(ctx) != 0 {
		t.Fatal("a second Shutdown closed something")
	}
}

func TestCloseThenWait(t *testing.T) {
	var s Set[*member]
	var m *member
	m = &member{onClose: func() { s.Done(m) }} // Done from inside Close: no deadlock
	s.Add(m)
	s.Close()
	s.Wait()
	if !m.closed.Load() {
		t.Fatal("member left open")
	}
}
