package enrich

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the pipeline's Prometheus metrics. Every guardrail (a
// refused payload, a dropped or retried delivery, context that could not be
// gathered, an analysis that failed) is counted with a reason label.
type Metrics struct {
	webhookRequests  *prometheus.CounterVec
	webhookDuration  prometheus.Histogram
	alertsReceived   *prometheus.CounterVec
	queueWaiting     *prometheus.GaugeVec
	sinkDeliveries   *prometheus.CounterVec
	sinkRetries      *prometheus.CounterVec
	rawLatency       prometheus.Histogram
	analyses         *prometheus.CounterVec
	contextMissing   *prometheus.CounterVec
	redactions       *prometheus.CounterVec
	suggestions      *prometheus.CounterVec
	analysisDuration prometheus.Histogram
	proposals        *prometheus.CounterVec
}

// NewMetrics registers the metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		webhookRequests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_enrich_webhook_requests_total",
			Help: "Webhook requests to /api/alerts by outcome: accepted, unauthorized, method, too_large, malformed, read_error, overload, store_error.",
		}, []string{"outcome"}),
		webhookDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "foresight_enrich_webhook_duration_seconds",
			Help:    "Time from a webhook request to its answer (the alerts are on disk by then).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		alertsReceived: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_enrich_alerts_received_total",
			Help: "Alerts in accepted webhooks by status (firing, resolved) and result (queued, duplicate).",
		}, []string{"status", "result"}),
		queueWaiting: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_enrich_queue_records",
			Help: "Alert records in the durable queue by stage: new (raw not yet delivered), analysis (waiting for or in analysis).",
		}, []string{"stage"}),
		sinkDeliveries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_enrich_sink_deliveries_total",
			Help: "Messages to sinks by sink, kind (alert, resolved, analysis) and result (sent, failed, dropped_backlog).",
		}, []string{"sink", "kind", "result"}),
		sinkRetries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_enrich_sink_retries_total",
			Help: "Retried sink deliveries by sink.",
		}, []string{"sink"}),
		rawLatency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "foresight_enrich_raw_delivery_seconds",
			Help:    "Time from receiving an alert to handing its raw message to every sink's delivery queue.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		analyses: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_enrich_analyses_total",
			Help: "Analyses by result: ok, llm_error, skipped_resolved, canceled_resolved, disabled.",
		}, []string{"result"}),
		contextMissing: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_enrich_context_unavailable_total",
			Help: "Context that could not be gathered, by source (pod, events, logs, owner, node, cluster) and reason (forbidden, not_found, unreachable, no_cluster, error).",
		}, []string{"source", "reason"}),
		redactions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_enrich_redactions_total",
			Help: "Secrets redacted before text reached the model or a sink, by kind.",
		}, []string{"kind"}),
		suggestions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_enrich_suggestions_total",
			Help: "Commands suggested by the model by verdict: read_only, needs_human, rejected, unknown_object.",
		}, []string{"verdict"}),
		analysisDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "foresight_enrich_analysis_duration_seconds",
			Help:    "Time to gather context and get the model's answer for one alert.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 12),
		}),
		proposals: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_enrich_proposals_total",
			Help: "Suggested commands that change the cluster, by proposal result: proposed, or why not (not_an_action, not_allowlisted, out_of_bounds, invalid, gone, read_error, no_change, no_revision, sign_error).",
		}, []string{"result"}),
	}
}
