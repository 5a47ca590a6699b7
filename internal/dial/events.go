package dial

import (
	"net"
	"time"

	"github.com/burrow-dev/burrow/internal/store"
)

// AgentConn is a connection that knows which agent serves it. A Backend's
// DialTarget may return one; the Dialer then accepts session events for
// the session from that agent only.
type AgentConn interface {
	net.Conn
	AgentID() string
}

// Reasons an agent's session event is dropped, the reason label of
// burrow_session_events_dropped_total.
const (
	dropQueueFull  = "queue_full"      // the audit writer is behind
	dropUnknown    = "unknown_session" // not a session of this dialer, or closed more than EventGrace ago
	dropOtherAgent = "other_agent"     // the session is served by another agent
	dropInvalid    = "invalid"         // no agent id or no kind
	dropClosed     = "closed"          // the dialer is closed
)

// closedSession is a session that closed at at; its agent may report
// events for it until at+EventGrace.
type closedSession struct {
	id string
	at time.Time
}

// SessionEvent queues ev, reported by the agent agentID, for the audit log
// of session ev.SessionID, and reports whether it did. It never waits on
// the store. It accepts the event only if the session is one this Dialer
// routed to that agent and it is open or closed less than EventGrace ago,
// so an agent cannot write into other agents' sessions; a zero At becomes
// the current time. A dropped event (that check failed, the queue is
// full, or the Dialer is closed) is counted in
// burrow_session_events_dropped_total and logged at debug level. The store
// cleans and bounds the event's text (store.SessionEvent.Clean).
func (d *Dialer) SessionEvent(agentID string, ev store.SessionEvent) bool {
	reason := d.checkEvent(agentID, ev)
	if reason == "" {
		if ev.At.IsZero() {
			ev.At = d.opts.Now()
		}
		reason = d.audit.event(ev)
	}
	if reason == "" {
		return true
	}
	d.opts.Metrics.eventDropped(reason)
	d.log.Debug("session event dropped", "session_id", ev.SessionID, "agent_id", agentID, "kind", ev.Kind, "reason", reason)
	return false
}

// checkEvent returns why the Dialer refuses ev from agentID, or "".
func (d *Dialer) checkEvent(agentID string, ev store.SessionEvent) string {
	if agentID == "" || ev.Kind == "" {
		return dropInvalid
	}
	now := d.opts.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.forgetLocked(now)
	owner, ok := d.sessions[ev.SessionID]
	switch {
	case !ok:
		return dropUnknown
	case owner != agentID:
		return dropOtherAgent
	}
	return ""
}

// forgetLocked forgets the sessions that closed EventGrace or longer
// before now. d.mu must be held.
func (d *Dialer) forgetLocked(now time.Time) {
	for len(d.closed) > 0 && now.Sub(d.closed[0].at) >= d.opts.EventGrace {
		delete(d.sessions, d.closed[0].id)
		d.closed[0] = closedSession{}
		d.closed = d.closed[1:]
	}
}
