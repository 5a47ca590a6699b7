package dial

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/burrow-dev/burrow/internal/store"
)

// auditor writes session rows in batches from one goroutine, so that the
// dial path never waits on the database. Close flushes what is queued.
type auditor struct {
	st   store.Store
	log  *slog.Logger
	ch   chan auditEvent
	done chan struct{}
	once sync.Once
}

type auditEvent struct {
	s   store.Session
	end bool
}

const (
	auditBatch = 256
	auditEvery = 50 * time.Millisecond
)

func newAuditor(st store.Store, log *slog.Logger) *auditor {
	a := &auditor{st: st, log: log, ch: make(chan auditEvent, 4096), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *auditor) start(s store.Session) { a.ch <- auditEvent{s: s} }
func (a *auditor) end(s store.Session)   { a.ch <- auditEvent{s: s, end: true} }

func (a *auditor) run() {
	defer close(a.done)
	var batch []auditEvent
	tick := time.NewTicker(auditEvery)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-a.ch:
			if !ok {
				a.flush(batch)
				return
			}
			batch = append(batch, ev)
			if len(batch) >= auditBatch {
				batch = a.flush(batch)
			}
		case <-tick.C:
			batch = a.flush(batch)
		}
	}
}

// flush writes starts before ends, so a session that opened and closed
// within one batch is still inserted before it is updated.
func (a *auditor) flush(batch []auditEvent) []auditEvent {
	if len(batch) == 0 {
		return batch
	}
	var starts, ends []store.Session
	for _, ev := range batch {
		if ev.end {
			ends = append(ends, ev.s)
		} else {
			starts = append(starts, ev.s)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.st.StartSessions(ctx, starts); len(starts) > 0 && err != nil {
		a.log.Error("audit: record session starts", "err", err, "count", len(starts))
	}
	if err := a.st.EndSessions(ctx, ends); len(ends) > 0 && err != nil {
		a.log.Error("audit: record session ends", "err", err, "count", len(ends))
	}
	return batch[:0]
}

// Close stops the writer after flushing; sessions must not start after it.
func (a *auditor) Close() error {
	a.once.Do(func() { close(a.ch) })
	<-a.done
	return nil
}
