package gateway

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the gateway's Prometheus collectors, so an operator sees
// logins and the limits at work without debug logs. A nil *Metrics
// records nothing.
type Metrics struct {
	logins  *prometheus.CounterVec
	refused *prometheus.CounterVec
}

// Results of a connection's login, and reasons a connection is closed
// before it, as the metrics label them.
const (
	loginOK      = "ok"      // logged in
	loginRefused = "refused" // its keys were refused
	loginFailed  = "failed"  // the handshake ended otherwise: silence, garbage, a client gone

	refusedRateLimited = "rate_limited"       // too many failed logins from its address
	refusedStartups    = "logins_in_progress" // MaxStartups or PerSourceMaxStartups reached
)

// NewMetrics registers the gateway's collectors with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "burrow_ssh_gateway_logins_total",
			Help: "Connections to the SSH gateway that finished their handshake, by result (ok, refused: keys refused, failed: timeout, garbage or client gone)."},
			[]string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "burrow_ssh_gateway_connections_refused_total",
			Help: "Connections to the SSH gateway closed before their handshake, by reason (rate_limited, logins_in_progress)."},
			[]string{"reason"}),
	}
	for _, r := range []string{loginOK, loginRefused, loginFailed} {
		m.logins.WithLabelValues(r)
	}
	for _, r := range []string{refusedRateLimited, refusedStartups} {
		m.refused.WithLabelValues(r)
	}
	reg.MustRegister(m.logins, m.refused)
	return m
}

func (m *Metrics) login(result string) {
	if m != nil {
		m.logins.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) refuse(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}
