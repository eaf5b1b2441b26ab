package metricsapi

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Calls of the providers, the call label of the metrics.
const (
	callByName     = "custom_by_name"
	callBySelector = "custom_by_selector"
	callExternal   = "external"
)

// providerMetrics are the provider's own metrics; the predictions
// themselves are published by the predictor's Observer (scaler.Metrics).
type providerMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// newProviderMetrics registers the metrics with reg (nil: unregistered),
// with the count of targets of each kind.
func newProviderMetrics(reg prometheus.Registerer, targets []Target) *providerMetrics {
	f := promauto.With(reg)
	m := &providerMetrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_metricsapi_requests_total",
			Help: "Metrics API lookups by call (custom_by_name, custom_by_selector, external) and HTTP status code (404: a metric or object no target declares; 503: no value to serve).",
		}, []string{"call", "code"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "foresight_metricsapi_request_duration_seconds",
			Help:    "Time the provider takes to answer a metrics API lookup, by call.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 10),
		}, []string{"call"}),
	}
	count := f.NewGaugeVec(prometheus.GaugeOpts{
		Name: "foresight_metricsapi_targets",
		Help: "Targets declared in the targets file, by kind of workload.",
	}, []string{"kind"})
	count.WithLabelValues(KindDeployment)
	count.WithLabelValues(KindStatefulSet)
	for _, t := range targets {
		count.WithLabelValues(t.Kind).Inc()
	}
	for _, call := range []string{callByName, callBySelector, callExternal} {
		m.latency.WithLabelValues(call)
	}
	return m
}

// done counts a lookup's outcome and time.
func (m *providerMetrics) done(call string, start time.Time, err error) {
	m.latency.WithLabelValues(call).Observe(time.Since(start).Seconds())
	m.requests.WithLabelValues(call, strconv.Itoa(statusCode(err))).Inc()
}

// statusCode is the HTTP status an error answers with.
func statusCode(err error) int {
	if err == nil {
		return 200
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return int(se.Status().Code)
	}
	return 500
}
