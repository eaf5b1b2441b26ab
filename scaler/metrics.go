package scaler

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/foresight-aiops/foresight/forecast"
)

// Metrics publishes what the predictor does. It implements Observer.
type Metrics struct {
	load      *prometheus.GaugeVec
	replicas  *prometheus.GaugeVec
	decisions *prometheus.CounterVec
	stale     *prometheus.CounterVec
	model     *prometheus.GaugeVec
	fits      *prometheus.CounterVec
	fitTime   prometheus.Histogram
	excluded  prometheus.Histogram

	lastModel sync.Map // Ref → model string, to retire old model_info series
}

var _ Observer = (*Metrics)(nil)

// NewMetrics registers the scaler's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	objects := []string{"namespace", "scaledobject"}
	return &Metrics{
		load: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_scaler_load",
			Help: "Load per ScaledObject: kind=predicted (largest forecast quantile over the lead time, before caps), reactive (current), served (reported to KEDA).",
		}, append(objects, "kind")),
		replicas: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_scaler_replicas",
			Help: "Replicas the load implies per ScaledObject: kind=predicted (the policy's decision on the forecast) or served.",
		}, append(objects, "kind")),
		decisions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_scaler_decisions_total",
			Help: "Decisions by what decided them: forecast, reactive, peak_cap, max_replicas, min_replicas, or a fallback_* reason (the forecast was not used).",
		}, []string{"reason", "mode"}),
		stale: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_scaler_stale_answers_total",
			Help: "Answers given from the last values while the datasource was unreachable.",
		}, []string{"datasource"}),
		model: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_scaler_model_info",
			Help: "The model behind each ScaledObject's forecast (value 1).",
		}, append(objects, "model")),
		fits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_scaler_fits_total",
			Help: "Model fits by result (ok or error).",
		}, []string{"result"}),
		fitTime: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "foresight_scaler_fit_duration_seconds",
			Help:    "Time to read a model's history and fit it.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		excluded: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "foresight_scaler_excluded_points",
			Help:    "History points left out of each fit (outage windows and excludeQuery).",
			Buckets: []float64{0, 1, 10, 60, 300, 1440, 10080},
		}),
	}
}

// Predicted records one answer.
func (m *Metrics) Predicted(ref Ref, p Prediction) {
	m.load.WithLabelValues(ref.Namespace, ref.Name, "predicted").Set(p.Decision.Predicted)
	m.load.WithLabelValues(ref.Namespace, ref.Name, "reactive").Set(p.Reactive)
	m.load.WithLabelValues(ref.Namespace, ref.Name, "served").Set(p.Served)
	m.replicas.WithLabelValues(ref.Namespace, ref.Name, "predicted").Set(float64(p.Decision.Replicas))
	m.replicas.WithLabelValues(ref.Namespace, ref.Name, "served").Set(float64(p.Replicas))
	m.decisions.WithLabelValues(string(p.Decision.Reason), string(p.Mode)).Inc()
	if p.Stale {
		m.stale.WithLabelValues(p.Datasource).Inc()
	}
	if p.Model != "" {
		if old, ok := m.lastModel.Swap(ref, p.Model); ok && old.(string) != p.Model {
			m.model.DeleteLabelValues(ref.Namespace, ref.Name, old.(string))
		}
		m.model.WithLabelValues(ref.Namespace, ref.Name, p.Model).Set(1)
	}
}

// Fitted records one fit.
func (m *Metrics) Fitted(_ Policy, _ *forecast.Model, _ *forecast.Selection, took time.Duration, excluded int, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.fits.WithLabelValues(result).Inc()
	m.fitTime.Observe(took.Seconds())
	if err == nil {
		m.excluded.Observe(float64(excluded))
	}
}
