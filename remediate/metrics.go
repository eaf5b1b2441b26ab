package remediate

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// executorMetrics is what the executor publishes. With a nil Registerer
// the metrics exist but are not exported.
type executorMetrics struct {
	actions  *prometheus.CounterVec
	waiting  prometheus.Gauge
	inFlight prometheus.Gauge
	// recalled is 1 once the last hour's executions were read back from
	// the approver's Events; recallFailures counts the attempts that
	// could not read them.
	recalled       prometheus.Gauge
	recallFailures prometheus.Counter
}

// newExecutorMetrics registers the executor's metrics; remaining reports
// the budget left for a kind at scrape time.
func newExecutorMetrics(reg prometheus.Registerer, remaining func(Kind) int) *executorMetrics {
	f := promauto.With(reg)
	m := &executorMetrics{
		actions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_remediation_actions_total",
			Help: "Approved remediation actions by kind and outcome (executed, refused, failed); reason is the refusal or failure reason (not_allowlisted, out_of_bounds, drifted, gone, budget_spent, gate_timeout, dry_run_failed, pdb_blocked, forbidden, api_error, unknown_result: may have been applied, ...) or none.",
		}, []string{"kind", "outcome", "reason"}),
		waiting: f.NewGauge(prometheus.GaugeOpts{
			Name: "foresight_remediation_gate_waiting",
			Help: "Approved disruptive actions (cordon, evict) waiting for the stability gate.",
		}),
		inFlight: f.NewGauge(prometheus.GaugeOpts{
			Name: "foresight_remediation_gate_in_flight",
			Help: "1 while a disruptive action is being executed (at most one cluster-wide), else 0.",
		}),
		recalled: f.NewGauge(prometheus.GaugeOpts{
			Name: "foresight_remediation_history_recalled",
			Help: "1 once the executions of the last hour were read back from the approver's Events (budgets and the gate survive a restart); 0 until then, when disruptive actions wait for the settle period as if one had just run.",
		}),
		recallFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "foresight_remediation_history_recall_failures_total",
			Help: "Attempts to read the last hour's executions back from the approver's Events that failed (retried on the next approval; the approver needs list on events.events.k8s.io).",
		}),
	}
	for _, k := range Kinds {
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "foresight_remediation_budget_remaining",
			Help:        "Executions of each action kind still allowed in the sliding hour (the budgets of the remediation config).",
			ConstLabels: prometheus.Labels{"kind": string(k)},
		}, func() float64 { return float64(remaining(k)) })
	}
	return m
}

// auditMetrics is what Audit publishes.
type auditMetrics struct {
	entries       *prometheus.CounterVec
	writeFailures prometheus.Counter
	eventFailures prometheus.Counter
}

func newAuditMetrics(reg prometheus.Registerer) *auditMetrics {
	f := promauto.With(reg)
	return &auditMetrics{
		entries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_remediation_audit_entries_total",
			Help: "Audit entries recorded, by event (proposed, approved, rejected, refused, waiting, executed, failed).",
		}, []string{"event"}),
		writeFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "foresight_remediation_audit_write_failures_total",
			Help: "Audit entries that could not be written to the audit log (see the approver's log for the error).",
		}),
		eventFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "foresight_remediation_audit_event_failures_total",
			Help: "Audit entries whose Kubernetes Event could not be created (best effort; the JSON line is the record).",
		}),
	}
}
