// Package connset keeps what a server is serving (connections, listeners),
// so that shutting the server down can close them all and wait for them.
package connset

import (
	"context"
	"io"
	"sync"
)

// Set holds members until they are done. The zero Set is ready to use.
type Set[T interface {
	comparable
	io.Closer
}] struct {
	mu      sync.Mutex
	closed  bool
	members map[T]struct{}
	wg      sync.WaitGroup
}

// Add registers x and reports true, or reports false once the set is
// closed; the caller then closes x itself. Every Add that reported true
// must be matched by one Done.
func (s *Set[T]) Add(x T) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.members == nil {
		s.members = map[T]struct{}{}
	}
	s.members[x] = struct{}{}
	s.wg.Add(1)
	return true
}

// Done unregisters x.
func (s *Set[T]) Done(x T) {
	s.mu.Lock()
	delete(s.members, x)
	s.mu.Unlock()
	s.wg.Done()
}

// Closed reports whether Close or Shutdown has been called.
func (s *Set[T]) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Shutdown refuses new members, waits until ctx is done for the members
// to be Done, then closes those left and waits for them too. It returns
// how many it had to close. Calling it again is harmless.
func (s *Set[T]) Shutdown(ctx context.Context) int {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return 0
	case <-ctx.Done():
	}
	n := s.closeMembers()
	<-done
	return n
}

// Close refuses new members and closes the current ones, without waiting
// for them to be Done (see Wait).
func (s *Set[T]) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.closeMembers()
}

// Wait waits until every member is Done. Call it only after Close or
// Shutdown: an Add racing a Wait on an open set is a WaitGroup misuse.
func (s *Set[T]) Wait() { s.wg.Wait() }

func (s *Set[T]) closeMembers() int {
	s.mu.Lock()
	members := make([]T, 0, len(s.members))
	for x := range s.members {
		members = append(members, x)
	}
	s.mu.Unlock()
	// Closed outside the lock: closing a member may make its server call Done.
	for _, x := range members {
		x.Close()
	}
	return len(members)
}
