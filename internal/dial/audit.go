package dial

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/burrow-dev/burrow/internal/store"
)

// auditor writes session rows and session events in batches from one
// goroutine, so that neither the dial path nor an agent reporting events
// ever waits on the database. Close flushes what is queued.
type auditor struct {
	st     store.Store
	log    *slog.Logger
	ch     chan auditEvent         // session starts and ends; senders wait when full
	events chan store.SessionEvent // agents' events; dropped when full
	done   chan struct{}

	mu     sync.RWMutex // held for reading by senders, so none sends on a closed channel
	closed bool         // set by Close, under mu held for writing
}

type auditEvent struct {
	s   store.Session
	end bool
}

// pending is one batch: what the auditor has received since its last
// write.
type pending struct {
	starts, ends []store.Session
	events       []store.SessionEvent
}

func (p *pending) len() int { return len(p.starts) + len(p.ends) + len(p.events) }

func (p *pending) add(ev auditEvent) {
	if ev.end {
		p.ends = append(p.ends, ev.s)
	} else {
		p.starts = append(p.starts, ev.s)
	}
}

func (p *pending) reset() {
	p.starts, p.ends, p.events = p.starts[:0], p.ends[:0], p.events[:0]
}

const (
	auditBatch = 256
	auditEvery = 50 * time.Millisecond
	auditQueue = 4096 // session starts and ends
	eventQueue = 4096 // session events
)

func newAuditor(st store.Store, log *slog.Logger) *auditor {
	a := &auditor{st: st, log: log, ch: make(chan auditEvent, auditQueue),
		events: make(chan store.SessionEvent, eventQueue), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *auditor) start(s store.Session) { a.send(auditEvent{s: s}) }
func (a *auditor) end(s store.Session)   { a.send(auditEvent{s: s, end: true}) }

// send queues ev, waiting while the queue is full. After Close the row is
// logged and lost instead.
func (a *auditor) send(ev auditEvent) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		a.log.Warn("audit: session row after the dialer closed, not recorded", "session_id", ev.s.ID, "end", ev.end, "result", ev.s.Result)
		return
	}
	a.ch <- ev
}

// event queues e without waiting. It returns "" if e was queued, else why
// not: dropQueueFull or dropClosed.
func (a *auditor) event(e store.SessionEvent) string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return dropClosed
	}
	select {
	case a.events <- e:
		return ""
	default:
		return dropQueueFull
	}
}

func (a *auditor) run() {
	defer close(a.done)
	var batch pending
	tick := time.NewTicker(auditEvery)
	defer tick.Stop()
	events := a.events
	for {
		select {
		case ev, ok := <-a.ch:
			if !ok {
				a.drain(&batch, events)
				a.flush(&batch)
				return
			}
			batch.add(ev)
		case e, ok := <-events:
			if !ok {
				events = nil // Close closes a.ch next
				continue
			}
			batch.events = append(batch.events, e)
		case <-tick.C:
			a.flush(&batch)
			continue
		}
		if batch.len() >= auditBatch {
			a.flush(&batch)
		}
	}
}

// drain moves the events still queued into batch once Close has closed
// both channels.
func (a *auditor) drain(batch *pending, events chan store.SessionEvent) {
	if events == nil {
		return
	}
	for e := range events {
		batch.events = append(batch.events, e)
	}
}

// flush writes starts, then events, then ends, each as one store call, so
// that a session that opened and closed within one batch is inserted before
// it is updated. (An event can still be written a batch before its
// session's start row, which the store allows.)
func (a *auditor) flush(batch *pending) {
	if batch.len() == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if len(batch.starts) > 0 {
		a.logErr(a.st.StartSessions(ctx, batch.starts), "audit: record session starts", len(batch.starts))
	}
	if len(batch.events) > 0 {
		a.logErr(a.st.AddSessionEvents(ctx, batch.events), "audit: record session events", len(batch.events))
	}
	if len(batch.ends) > 0 {
		a.logErr(a.st.EndSessions(ctx, batch.ends), "audit: record session ends", len(batch.ends))
	}
	batch.reset()
}

func (a *auditor) logErr(err error, msg string, count int) {
	if err != nil {
		a.log.Error(msg, "err", err, "count", count)
	}
}

// Close stops the writer after flushing. Rows and events that come after
// it are dropped.
func (a *auditor) Close() error {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.events)
		close(a.ch)
	}
	a.mu.Unlock()
	<-a.done
	return nil
}
