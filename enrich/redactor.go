package enrich

import "github.com/foresight-aiops/foresight/enrich/redact"

// CountingRedactor applies redact.Redact and counts each redaction by kind
// on foresight_enrich_redactions_total.
type CountingRedactor struct{ metrics *Metrics }

// NewRedactor returns a redactor that counts on metrics (nil: uncounted).
func NewRedactor(metrics *Metrics) *CountingRedactor {
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &CountingRedactor{metrics: metrics}
}

// Redact implements Redactor.
func (r *CountingRedactor) Redact(s string) string {
	out, found := redact.Redact(s)
	for _, f := range found {
		r.metrics.redactions.WithLabelValues(f.Kind).Inc()
	}
	return out
}
