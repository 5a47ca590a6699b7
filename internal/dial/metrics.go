package dial

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the dialer's Prometheus collectors. A nil *Metrics records
// nothing.
type Metrics struct {
	open    prometheus.Gauge
	total   *prometheus.CounterVec
	bytes   *prometheus.CounterVec
	latency prometheus.Histogram
	dropped *prometheus.CounterVec
}

// NewMetrics registers the dialer's collectors with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "burrow_sessions_open", Help: "Sessions currently open."}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "burrow_sessions_total", Help: "Sessions asked for, by front door and result."},
			[]string{"front_door", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "burrow_session_bytes_total", Help: "Bytes carried by closed sessions, by direction (up = to the target)."},
			[]string{"direction"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "burrow_dial_seconds", Help: "Time to open a session, from request to the agent's stream.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16)}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "burrow_session_events_dropped_total", Help: "Session events from agents not audited, by reason (queue_full, unknown_session, other_agent, invalid, closed)."},
			[]string{"reason"}),
	}
	reg.MustRegister(m.open, m.total, m.bytes, m.latency, m.dropped)
	return m
}

func (m *Metrics) dialed(door, result string, took time.Duration) {
	if m == nil {
		return
	}
	m.total.WithLabelValues(door, result).Inc()
	if result == "ok" {
		m.open.Inc()
		m.latency.Observe(took.Seconds())
	}
}

func (m *Metrics) closed(up, down int64) {
	if m == nil {
		return
	}
	m.open.Dec()
	m.bytes.WithLabelValues("up").Add(float64(up))
	m.bytes.WithLabelValues("down").Add(float64(down))
}

func (m *Metrics) eventDropped(reason string) {
	if m == nil {
		return
	}
	m.dropped.WithLabelValues(reason).Inc()
}
