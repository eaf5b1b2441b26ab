package scaler

import (
	"context"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/foresight-aiops/foresight/forecast"
)

// Metrics publishes what the predictor does. It implements Observer.
type Metrics struct {
	load      *prometheus.GaugeVec
	replicas  *prometheus.GaugeVec
	decisions *prometheus.CounterVec
	stale     *prometheus.CounterVec
	model     *prometheus.GaugeVec
	params    *prometheus.GaugeVec
	season    *prometheus.GaugeVec
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	fits      *prometheus.CounterVec
	fitTime   prometheus.Histogram
	excluded  *prometheus.GaugeVec

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
			Help: "Decisions per ScaledObject by what decided them: forecast, reactive, peak_cap, max_replicas, min_replicas, or a fallback_* reason (the forecast was not used).",
		}, append(objects, "reason", "mode")),
		stale: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_scaler_stale_answers_total",
			Help: "Answers given from the last values while the datasource was unreachable.",
		}, []string{"datasource"}),
		model: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_scaler_model_info",
			Help: "The model behind each ScaledObject's forecast (value 1).",
		}, append(objects, "model")),
		params: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_scaler_model_parameter",
			Help: "Smoothing parameters of each ScaledObject's model: alpha, beta, phi, gamma (one per season, gamma1 the shorter), lambda (AR(1)).",
		}, append(objects, "parameter")),
		season: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_scaler_season_period_seconds",
			Help: "Seasonal periods of each ScaledObject's model (season 1 the shorter); absent without a season.",
		}, append(objects, "season")),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_scaler_requests_total",
			Help: "gRPC requests by method and status code.",
		}, []string{"method", "code"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "foresight_scaler_request_duration_seconds",
			Help:    "Time to answer a gRPC request, by method (KEDA gives a poll's three calls 3 s in all).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 10),
		}, []string{"method"}),
		fits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_scaler_fits_total",
			Help: "Model fits by result (ok or error).",
		}, []string{"result"}),
		fitTime: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "foresight_scaler_fit_duration_seconds",
			Help:    "Time to read a model's history and fit it.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		excluded: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_scaler_excluded_points",
			Help: "History points the latest fit of each ScaledObject's model left out: excludeWindows, excludeQuery and, with excludeAnomalies, the anomalies found.",
		}, objects),
	}
}

// Predicted records one answer.
func (m *Metrics) Predicted(ref Ref, p Prediction) {
	m.load.WithLabelValues(ref.Namespace, ref.Name, "predicted").Set(p.Decision.Predicted)
	m.load.WithLabelValues(ref.Namespace, ref.Name, "reactive").Set(p.Reactive)
	m.load.WithLabelValues(ref.Namespace, ref.Name, "served").Set(p.Served)
	m.replicas.WithLabelValues(ref.Namespace, ref.Name, "predicted").Set(float64(p.Decision.Replicas))
	m.replicas.WithLabelValues(ref.Namespace, ref.Name, "served").Set(float64(p.Replicas))
	m.decisions.WithLabelValues(ref.Namespace, ref.Name, string(p.Decision.Reason), string(p.Mode)).Inc()
	m.excluded.WithLabelValues(ref.Namespace, ref.Name).Set(float64(p.Excluded))
	if p.Stale {
		m.stale.WithLabelValues(p.Datasource).Inc()
	}
	if p.Model == "" {
		return
	}
	old, ok := m.lastModel.Swap(ref, p.Model)
	if ok && old.(string) == p.Model {
		m.setParams(ref, p) // the parameters change at each refit
		return
	}
	if ok {
		m.model.DeleteLabelValues(ref.Namespace, ref.Name, old.(string))
		m.params.DeletePartialMatch(prometheus.Labels{"namespace": ref.Namespace, "scaledobject": ref.Name})
		m.season.DeletePartialMatch(prometheus.Labels{"namespace": ref.Namespace, "scaledobject": ref.Name})
	}
	m.model.WithLabelValues(ref.Namespace, ref.Name, p.Model).Set(1)
	m.setParams(ref, p)
}

func (m *Metrics) setParams(ref Ref, p Prediction) {
	set := func(name string, v float64) { m.params.WithLabelValues(ref.Namespace, ref.Name, name).Set(v) }
	set("alpha", p.Params.Alpha)
	if p.Params.Beta != 0 {
		set("beta", p.Params.Beta)
	}
	if p.Params.Phi != 0 {
		set("phi", p.Params.Phi)
	}
	for i, g := range p.Params.Gamma {
		set("gamma"+strconv.Itoa(i+1), g)
	}
	if p.Params.Lambda != 0 {
		set("lambda", p.Params.Lambda)
	}
	for i, period := range p.Periods {
		m.season.WithLabelValues(ref.Namespace, ref.Name, strconv.Itoa(i+1)).Set(float64(period) * p.Step.Seconds())
	}
}

// UnaryInterceptor counts and times the gRPC requests it serves.
func (m *Metrics) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		method := path.Base(info.FullMethod)
		m.latency.WithLabelValues(method).Observe(time.Since(start).Seconds())
		m.requests.WithLabelValues(method, status.Code(err).String()).Inc()
		return resp, err
	}
}

// Fitted records one fit.
func (m *Metrics) Fitted(_ Policy, _ *forecast.Model, _ *forecast.Selection, took time.Duration, _ int, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.fits.WithLabelValues(result).Inc()
	m.fitTime.Observe(took.Seconds())
}
