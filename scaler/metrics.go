package scaler

import (
	"context"
	"path"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
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
	held      *prometheus.GaugeVec
	holdsEnd  *prometheus.CounterVec

	objects sync.Map // Ref → *objectMetrics
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
		held: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_scaler_held_points",
			Help: "Live values far below the forecast that each ScaledObject's model is not learning (excludeAnomalies): an outage's collapse in progress, during which the forecast holds; 0 otherwise.",
		}, objects),
		holdsEnd: f.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_scaler_holds_ended_total",
			Help: "Holds of excludeAnomalies (a collapse far below the forecast, not learnt) that ended, by outcome: recovered (the load came back), learnt_as_change (it stayed low for longer than a hold lasts), refit (a refit learnt it).",
		}, []string{"outcome"}),
	}
}

// objectMetrics holds one ScaledObject's series, looked up once: a
// WithLabelValues per gauge per answer was a fifth of the server's work
// per poll.
type objectMetrics struct {
	loadPredicted, loadReactive, loadServed prometheus.Gauge
	replicasPredicted, replicasServed       prometheus.Gauge
	excluded, held                          prometheus.Gauge

	mu        sync.Mutex
	decisions map[[2]string]prometheus.Counter // reason, mode
	model     string                           // the model_info series set, "" before the first
	params    forecast.Params                  // the parameters published last
	periods   []int
	step      time.Duration
}

func (m *Metrics) object(ref Ref) *objectMetrics {
	if o, ok := m.objects.Load(ref); ok {
		return o.(*objectMetrics)
	}
	o := &objectMetrics{
		loadPredicted:     m.load.WithLabelValues(ref.Namespace, ref.Name, "predicted"),
		loadReactive:      m.load.WithLabelValues(ref.Namespace, ref.Name, "reactive"),
		loadServed:        m.load.WithLabelValues(ref.Namespace, ref.Name, "served"),
		replicasPredicted: m.replicas.WithLabelValues(ref.Namespace, ref.Name, "predicted"),
		replicasServed:    m.replicas.WithLabelValues(ref.Namespace, ref.Name, "served"),
		excluded:          m.excluded.WithLabelValues(ref.Namespace, ref.Name),
		held:              m.held.WithLabelValues(ref.Namespace, ref.Name),
		decisions:         map[[2]string]prometheus.Counter{},
	}
	actual, _ := m.objects.LoadOrStore(ref, o)
	return actual.(*objectMetrics)
}

// HoldEnded counts a hold of excludeAnomalies that ended.
func (m *Metrics) HoldEnded(_ Policy, outcome string) {
	m.holdsEnd.WithLabelValues(outcome).Inc()
}

// Predicted records one answer.
func (m *Metrics) Predicted(ref Ref, p Prediction) {
	o := m.object(ref)
	o.loadPredicted.Set(p.Decision.Predicted)
	o.loadReactive.Set(p.Reactive)
	o.loadServed.Set(p.Served)
	o.replicasPredicted.Set(float64(p.Decision.Replicas))
	o.replicasServed.Set(float64(p.Replicas))
	o.excluded.Set(float64(p.Excluded))
	o.held.Set(float64(p.Held))
	if p.Stale {
		m.stale.WithLabelValues(p.Datasource).Inc()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	dk := [2]string{string(p.Decision.Reason), string(p.Mode)}
	c, ok := o.decisions[dk]
	if !ok {
		c = m.decisions.WithLabelValues(ref.Namespace, ref.Name, dk[0], dk[1])
		o.decisions[dk] = c
	}
	c.Inc()
	if p.Model == "" {
		return
	}
	if o.model == p.Model {
		if !sameParams(o.params, p.Params) || !slices.Equal(o.periods, p.Periods) || o.step != p.Step {
			m.setParams(o, ref, p) // the parameters change at each refit
		}
		return
	}
	if o.model != "" {
		m.model.DeleteLabelValues(ref.Namespace, ref.Name, o.model)
		m.params.DeletePartialMatch(prometheus.Labels{"namespace": ref.Namespace, "scaledobject": ref.Name})
		m.season.DeletePartialMatch(prometheus.Labels{"namespace": ref.Namespace, "scaledobject": ref.Name})
	}
	o.model = p.Model
	m.model.WithLabelValues(ref.Namespace, ref.Name, p.Model).Set(1)
	m.setParams(o, ref, p)
}

func sameParams(a, b forecast.Params) bool {
	return a.Alpha == b.Alpha && a.Beta == b.Beta && a.Phi == b.Phi && a.Lambda == b.Lambda && slices.Equal(a.Gamma, b.Gamma)
}

// setParams publishes p's parameters and seasons; o.mu is held.
func (m *Metrics) setParams(o *objectMetrics, ref Ref, p Prediction) {
	o.params = p.Params
	o.params.Gamma = slices.Clone(p.Params.Gamma)
	o.periods, o.step = slices.Clone(p.Periods), p.Step
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

// UnaryInterceptor counts and times the gRPC requests it serves. The
// series of the scaler's own methods are looked up once.
func (m *Metrics) UnaryInterceptor() grpc.UnaryServerInterceptor {
	known := map[string]*methodMetrics{}
	for _, md := range externalscaler.ExternalScaler_ServiceDesc.Methods {
		known["/"+externalscaler.ExternalScaler_ServiceDesc.ServiceName+"/"+md.MethodName] = &methodMetrics{name: md.MethodName, latency: m.latency.WithLabelValues(md.MethodName)}
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		took := time.Since(start).Seconds()
		code := status.Code(err)
		if mm, ok := known[info.FullMethod]; ok && int(code) < len(mm.codes) {
			mm.latency.Observe(took)
			c := mm.codes[code].Load()
			if c == nil {
				cc := m.requests.WithLabelValues(mm.name, code.String())
				c = &cc
				mm.codes[code].Store(c)
			}
			(*c).Inc()
			return resp, err
		}
		method := path.Base(info.FullMethod)
		m.latency.WithLabelValues(method).Observe(took)
		m.requests.WithLabelValues(method, code.String()).Inc()
		return resp, err
	}
}

// methodMetrics are one gRPC method's series; codes are filled on first use.
type methodMetrics struct {
	name    string
	latency prometheus.Observer
	codes   [17]atomic.Pointer[prometheus.Counter] // by codes.Code
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

// ServerOptions are the gRPC server options foresight serve uses: the
// metrics interceptor (m may be nil) and a pool of stream workers.
//
// The workers matter at KEDA's poll rates: without them gRPC starts a
// goroutine per call, and each new goroutine grows its stack through the
// handler's call depth again (runtime.newstack and copystack took 15-17%
// of the server's CPU at 5,000 polls/s); a pooled worker keeps its grown
// stack. A call that finds every worker busy still gets a goroutine of
// its own, so the pool is sized for the calls in flight at such rates
// (hundreds): with 4 workers newstack stayed at 17%, with 64 it fell to
// about 1%. An idle worker costs a parked goroutine.
//
// What is left of a call's cost is gRPC's: on 2 cores at 5,000 polls/s
// the scaler spends about 140 us of CPU a poll, a quarter of it in write
// and read system calls and a fifth in waking and parking threads for the
// handoffs between gRPC's reader, a worker and its writer (perf stat:
// 1.7 writes, 3 futex calls and 5 context switches a poll); the handlers
// are a tenth. Static flow-control windows (no BDP pings) changed none of
// these counts (back-to-back runs, 2026-11-25), so they are not set.
func ServerOptions(m *Metrics) []grpc.ServerOption {
	opts := []grpc.ServerOption{grpc.NumStreamWorkers(uint32(max(64, 32*runtime.GOMAXPROCS(0))))}
	if m != nil {
		opts = append(opts, grpc.UnaryInterceptor(m.UnaryInterceptor()))
	}
	return opts
}
