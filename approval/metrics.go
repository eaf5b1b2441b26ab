package approval

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Endpoints (the endpoint label).
const (
	endpointPage  = "page"  // GET /approve
	endpointLink  = "link"  // POST /approve
	endpointSlack = "slack" // POST /slack/interactions
)

// Outcomes of a request (the outcome label).
const (
	outcomeAccepted   = "accepted"    // approved: executing or waiting for the gate
	outcomeRejected   = "rejected"    // a human pressed Reject
	outcomeShown      = "shown"       // the approval page was served
	outcomeForged     = "forged"      // bad token or Slack signature
	outcomeStale      = "stale"       // Slack timestamp outside the replay window
	outcomeExpired    = "expired"     // the token expired
	outcomeReplayed   = "replayed"    // the proposal was decided before
	outcomeMalformed  = "malformed"   // unreadable request
	outcomeRefused    = "refused"     // the allowlist refuses the action
	outcomeAnonymous  = "anonymous"   // no identity (header or name)
	outcomeTooLarge   = "too_large"   // body over the limit
	outcomeDisabled   = "disabled"    // Slack interactions not configured
	outcomeStopping   = "stopping"    // the approver is shutting down
	outcomeStoreError = "store_error" // the single-use store failed
	// outcomeUnauthorized: a link approval without an identity source
	// (no --identity-header, no --allow-self-declared-approvers), or a
	// Slack click from outside the allowed teams, channels or users.
	outcomeUnauthorized = "unauthorized"
	// outcomeRetried: Slack's redelivery of a click already handled.
	outcomeRetried = "retried"
)

type metrics struct {
	requests  *prometheus.CounterVec
	results   *prometheus.CounterVec
	postbacks *prometheus.CounterVec
	inflight  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_approval_requests_total",
			Help: "Approval requests by endpoint (page, link, slack) and outcome (accepted, rejected, shown, forged, stale, expired, replayed, malformed, refused, anonymous, unauthorized, retried, too_large, disabled, stopping, store_error).",
		}, []string{"endpoint", "outcome"}),
		results: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_approval_results_total",
			Help: "Approved actions by the executor's outcome (executed, refused, failed) and reason.",
		}, []string{"outcome", "reason"}),
		postbacks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_approval_postbacks_total",
			Help: "Results posted back, by channel (slack_thread, slack_response_url, webhook, none) and outcome (sent, failed).",
		}, []string{"channel", "outcome"}),
		inflight: f.NewGauge(prometheus.GaugeOpts{
			Name: "foresight_approval_executions_in_flight",
			Help: "Approved actions executing or waiting for the stability gate.",
		}),
	}
}
