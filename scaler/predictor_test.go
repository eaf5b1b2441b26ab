package scaler

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/internal/tsdbtest"
	"github.com/foresight-aiops/foresight/policy"
	"github.com/foresight-aiops/foresight/promsource"
)

// clock is a settable clock for the predictor.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// rampLoad is a request rate of 100/s at night that ramps to 500/s
// between 09:00 and 10:00 UTC every day, and back down from 18:00 to
// 19:00.
func rampLoad(t time.Time) float64 {
	h := float64(t.UTC().Hour()) + float64(t.UTC().Minute())/60
	switch {
	case h < 9 || h >= 19:
		return 100
	case h < 10:
		return 100 + 400*(h-9)
	case h < 18:
		return 500
	default:
		return 500 - 400*(h-18)
	}
}

// loadSeries returns rampLoad with a little deterministic wobble at each
// minute of [from, to).
func loadSeries(from, to time.Time) tsdbtest.Series {
	s := tsdbtest.Series{Metric: "requests_per_second", Labels: map[string]string{"job": "api"}}
	for t := from; t.Before(to); t = t.Add(time.Minute) {
		wobble := 3 * math.Sin(float64(t.Unix()/60)*0.7)
		s.Samples = append(s.Samples, forecast.Sample{T: t, V: rampLoad(t) + wobble})
	}
	return s
}

// promSet adapts promsource to the predictor, as cmd/foresight does.
type promSet struct{ set promsource.Set }

func (p promSet) Source(name string) (Source, error) { return p.set.Get(name) }

func newVMPredictor(t *testing.T, now time.Time, opts Options) (*Predictor, *tsdbtest.Server, *clock) {
	t.Helper()
	return newTSDBPredictor(t, tsdbtest.StartVictoriaMetrics, now, opts)
}

// newTSDBPredictor starts a TSDB with a week of rampLoad before now and
// returns a predictor reading it, on a clock set to now.
func newTSDBPredictor(t *testing.T, start func(testing.TB, ...tsdbtest.Series) *tsdbtest.Server, now time.Time, opts Options) (*Predictor, *tsdbtest.Server, *clock) {
	t.Helper()
	vm := start(t, loadSeries(now.Add(-7*24*time.Hour), now.Add(time.Minute)))
	set, err := promsource.NewSet(promsource.SingleConfig(vm.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: now}
	opts.Now = c.Now
	return NewPredictor(promSet{set}, opts), vm, c
}

func testPolicy(t *testing.T, extra map[string]string) Policy {
	t.Helper()
	md := map[string]string{
		"query":            `sum(requests_per_second{job="api"})`,
		"targetPerReplica": "50",
		"leadTime":         "5m",
		"maxStaleness":     "10m",
	}
	for k, v := range extra {
		md[k] = v
	}
	p, err := ParsePolicy(md)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var ref = Ref{Namespace: "shop", Name: "api"}

// The served value rises before the live load does: at 08:57, three
// minutes before the daily ramp, the forecast over the next five minutes
// already asks for more replicas than the current load. On VictoriaMetrics,
// Prometheus, and a Thanos querier over Prometheus.
func TestPredictorLeadsTheRamp(t *testing.T) {
	for name, start := range map[string]func(testing.TB, ...tsdbtest.Series) *tsdbtest.Server{
		"VictoriaMetrics": tsdbtest.StartVictoriaMetrics,
		"Prometheus":      tsdbtest.StartPrometheus,
		"Thanos":          tsdbtest.StartThanos,
	} {
		t.Run(name, func(t *testing.T) { leadsTheRamp(t, start) })
	}
}

func leadsTheRamp(t *testing.T, start func(testing.TB, ...tsdbtest.Series) *tsdbtest.Server) {
	// Half a minute past a step: the forecast must still reach the lead
	// time (it once stopped a step short and fell back).
	now := time.Date(2026, 3, 16, 8, 57, 30, 0, time.UTC)
	pr, _, c := newTSDBPredictor(t, start, now, Options{})
	p := testPolicy(t, nil)
	ctx := context.Background()

	first, err := pr.Predict(ctx, ref, p)
	if err != nil {
		t.Fatal(err)
	}
	if first.Model != "" || first.Decision.Reason != policy.ReasonNoForecast || math.Abs(first.Served-first.Reactive) > 1e-9 {
		t.Errorf("first request: model %q, reason %s, served %g, reactive %g; want the current load while the model fits",
			first.Model, first.Decision.Reason, first.Served, first.Reactive)
	}
	if first.Reactive < 90 || first.Reactive > 110 {
		t.Fatalf("current load %g, want about 100", first.Reactive)
	}
	var pred Prediction
	waitFor(t, "the first fit", func() bool {
		pred, err = pr.Predict(ctx, ref, p)
		return err == nil && pred.Model != ""
	})
	t.Logf("at %s: current %.1f, served %.1f (%s), %d replicas, model %s", c.Now().Format("15:04"), pred.Reactive, pred.Served, pred.Decision.Detail(), pred.Replicas, pred.Model)
	if pred.Decision.Reason != policy.ReasonForecast {
		t.Errorf("reason %s, want forecast", pred.Decision.Reason)
	}
	if pred.Replicas <= int(math.Ceil(pred.Reactive/50)) || pred.Served < 1.1*pred.Reactive {
		t.Errorf("served %g for %d replicas at a current load of %g: the ramp three minutes ahead is not provisioned for",
			pred.Served, pred.Replicas, pred.Reactive)
	}
	// Never more than the peak cap: 1.2 × the week's peak of about 503.
	if pred.Served > 1.2*505 {
		t.Errorf("served %g, above the peak cap", pred.Served)
	}
}

// When the datasource goes away, the last values are served for
// maxStaleness, then ErrStale; when it comes back, predictions resume.
func TestPredictorStaleness(t *testing.T) {
	for name, start := range map[string]func(testing.TB, ...tsdbtest.Series) *tsdbtest.Server{
		"VictoriaMetrics": tsdbtest.StartVictoriaMetrics,
		"Prometheus":      tsdbtest.StartPrometheus,
		"Thanos":          tsdbtest.StartThanos,
	} {
		t.Run(name, func(t *testing.T) { staleness(t, start) })
	}
}

func staleness(t *testing.T, start func(testing.TB, ...tsdbtest.Series) *tsdbtest.Server) {
	now := time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC)
	pr, vm, c := newTSDBPredictor(t, start, now, Options{QueryTimeout: time.Second})
	p := testPolicy(t, nil)
	ctx := context.Background()
	if _, err := pr.Predict(ctx, ref, p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first fit", func() bool {
		pred, err := pr.Predict(ctx, ref, p)
		return err == nil && pred.Model != ""
	})
	before, _ := pr.Predict(ctx, ref, p)

	vm.Stop()
	c.Set(now.Add(2 * time.Minute))
	var stale Prediction
	waitFor(t, "a failed refresh", func() bool {
		var err error
		stale, err = pr.Predict(ctx, ref, p)
		return err == nil && stale.Stale
	})
	if stale.Served < before.Reactive-1 {
		t.Errorf("stale answer %g, below the last current load %g", stale.Served, before.Reactive)
	}
	if d := stale.Decision.Detail(); !strings.HasSuffix(d, "; datasource unreachable, serving the last values") {
		t.Errorf("stale answer's detail %q does not say the datasource is unreachable", d)
	}
	c.Set(now.Add(11 * time.Minute))
	_, err := pr.Predict(ctx, ref, p)
	if !errors.Is(err, ErrStale) {
		t.Fatalf("after maxStaleness: error %v, want ErrStale", err)
	}

	vm.Restart(t)
	c.Set(now.Add(13 * time.Minute))
	waitFor(t, "predictions to resume", func() bool {
		pred, err := pr.Predict(ctx, ref, p)
		return err == nil && !pred.Stale
	})
}

// The current load is re-read every ReactiveEvery, not only once a step:
// a load that jumps between two steps reaches the reactive floor within
// seconds, and an unreachable datasource is noticed as soon.
func TestPredictorRereadsTheCurrentLoad(t *testing.T) {
	now := time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC) // rampLoad: 500
	pr, vm, c := newVMPredictor(t, now, Options{QueryTimeout: time.Second, ReactiveEvery: 15 * time.Second})
	p := testPolicy(t, nil)
	ctx := context.Background()
	first, err := pr.Predict(ctx, ref, p)
	if err != nil {
		t.Fatal(err)
	}
	jump := now.Add(20 * time.Second)
	vm.Append(t, tsdbtest.Series{
		Metric: "requests_per_second", Labels: map[string]string{"job": "api"},
		Samples: []forecast.Sample{{T: jump, V: 2000}},
	})
	c.Set(jump)
	waitFor(t, "the jump to be read, 20 s after the last read and within the step", func() bool {
		pred, err := pr.Predict(ctx, ref, p)
		return err == nil && pred.Reactive == 2000 && pred.Served >= 2000
	})
	if first.Reactive == 2000 {
		t.Fatal("the jump was visible before it happened: the test shows nothing")
	}
}

// Shadow mode serves the current load but computes the prediction;
// reactive mode fits nothing.
func TestPredictorModes(t *testing.T) {
	now := time.Date(2026, 3, 16, 8, 57, 0, 0, time.UTC)
	pr, _, _ := newVMPredictor(t, now, Options{})
	ctx := context.Background()
	shadow := testPolicy(t, map[string]string{"mode": "shadow"})
	if _, err := pr.Predict(ctx, ref, shadow); err != nil {
		t.Fatal(err)
	}
	var pred Prediction
	waitFor(t, "the shadow model", func() bool {
		var err error
		pred, err = pr.Predict(ctx, ref, shadow)
		return err == nil && pred.Model != ""
	})
	if math.Abs(pred.Served-pred.Reactive) > 1e-9 || pred.Decision.Load <= pred.Reactive {
		t.Errorf("shadow: served %g (current %g), prediction %g: want the current load served and a higher prediction computed",
			pred.Served, pred.Reactive, pred.Decision.Load)
	}

	reactive := testPolicy(t, map[string]string{"mode": "reactive", "history": "6d"})
	got, err := pr.Predict(ctx, Ref{"shop", "other"}, reactive)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // nothing may start; give it the chance
	if got.Model != "" || math.Abs(got.Served-got.Reactive) > 1e-9 {
		t.Errorf("reactive mode: model %q, served %g, current %g", got.Model, got.Served, got.Reactive)
	}
}

// A datasource the server does not know, and a query the TSDB rejects,
// give errors that say so rather than a silent zero.
func TestPredictorBadSources(t *testing.T) {
	now := time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC)
	pr, _, _ := newVMPredictor(t, now, Options{})
	ctx := context.Background()
	_, err := pr.Predict(ctx, ref, testPolicy(t, map[string]string{"datasource": "thanos"}))
	if !errors.Is(err, ErrNoValue) || !errors.Is(err, promsource.ErrUnknownDatasource) {
		t.Errorf("unknown datasource: %v", err)
	}
	_, err = pr.Predict(ctx, ref, testPolicy(t, map[string]string{"query": "sum(rate(x[5m]"}))
	if !errors.Is(err, ErrNoValue) || !errors.Is(err, promsource.ErrBadQuery) {
		t.Errorf("bad query: %v", err)
	}
}

// Every replica behind a Service answers alike: the state derives from the
// TSDB alone, so two predictors on one datasource and one clock agree to
// the last bit (KEDA round-robins a poll's calls across replicas).
func TestReplicasAgree(t *testing.T) {
	now := time.Date(2026, 3, 16, 8, 57, 30, 0, time.UTC)
	a, vm, c := newVMPredictor(t, now, Options{})
	set, err := promsource.NewSet(promsource.SingleConfig(vm.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := NewPredictor(promSet{set}, Options{Now: c.Now})
	p := testPolicy(t, map[string]string{"excludeAnomalies": "true"})
	ctx := context.Background()
	for _, pr := range []*Predictor{a, b} {
		if _, err := pr.Predict(ctx, ref, p); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a model", func() bool {
			pred, err := pr.Predict(ctx, ref, p)
			return err == nil && pred.Model != ""
		})
	}
	pa, _ := a.Predict(ctx, ref, p)
	pb, _ := b.Predict(ctx, ref, p)
	if pa.Served != pb.Served || pa.Model != pb.Model || pa.Params.Alpha != pb.Params.Alpha || pa.Replicas != pb.Replicas {
		t.Errorf("replica A serves %v (%s %v), replica B %v (%s %v)", pa.Served, pa.Model, pa.Params, pb.Served, pb.Model, pb.Params)
	}
}

// With excludeAnomalies, the windows an anomaly detector found in the same
// query are left out of training too; without it, they are not asked for.
func TestPredictorAnomalyWindows(t *testing.T) {
	now := time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC)
	found := forecast.Window{Start: now.Add(-26 * time.Hour), End: now.Add(-26*time.Hour + 45*time.Minute)}
	var asked []string
	windows := func(datasource, query string, _ time.Time) []forecast.Window {
		asked = append(asked, datasource+" "+query)
		return []forecast.Window{found}
	}
	for _, tc := range []struct {
		name     string
		exclude  string
		detector bool
		min, max int
	}{
		{"no detector", "true", false, 0, 44},
		{"detector", "true", true, 45, 10080},
		{"detector, excludeAnomalies off", "false", true, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked = nil
			opts := Options{QueryTimeout: time.Second}
			if tc.detector {
				opts.AnomalyWindows = windows
			}
			pr, _, _ := newVMPredictor(t, now, opts)
			p := testPolicy(t, map[string]string{"excludeAnomalies": tc.exclude})
			ctx := context.Background()
			var pred Prediction
			waitFor(t, "the first fit", func() bool {
				var err error
				pred, err = pr.Predict(ctx, ref, p)
				return err == nil && pred.Model != ""
			})
			if pred.Excluded < tc.min || pred.Excluded > tc.max {
				t.Errorf("%d points excluded, want %d to %d", pred.Excluded, tc.min, tc.max)
			}
			if tc.detector && tc.exclude == "true" && (len(asked) == 0 || asked[0] != "default "+p.Query) {
				t.Errorf("the detector was asked %q, want the policy's datasource and query", asked)
			}
			if tc.exclude == "false" && len(asked) > 0 {
				t.Errorf("the detector was asked %q without excludeAnomalies", asked)
			}
		})
	}
}

// forecastUntil keeps its last forecast, and makes a new one when the
// horizon, the quantile, the model's state or the model changes: each
// answer equals a fresh Model.Predict.
func TestForecastUntilKeepsTheLast(t *testing.T) {
	start := time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)
	fit := func(level float64) *forecast.Model {
		s := forecast.Series{Start: start, Step: time.Minute, Values: make([]float64, 2*24*60)}
		for i := range s.Values {
			s.Values[i] = level + 50*math.Sin(2*math.Pi*float64(i)/(24*60)) + float64(i%7)
		}
		m, _, err := forecast.FitAuto(s, forecast.AutoOptions{Horizon: 7})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	e := &entry{model: fit(100)}
	check := func(what string, until time.Time, q float64) forecast.Forecast {
		t.Helper()
		got, err := e.forecastUntil(until, q)
		if err != nil {
			t.Fatal(err)
		}
		steps := int((until.Sub(e.model.Next)+time.Minute-1)/time.Minute) + 1
		want, err := e.model.Predict(steps, q)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Start.Equal(want.Start) || !slices.Equal(got.Upper, want.Upper) || !slices.Equal(got.Lower, want.Lower) || !slices.Equal(got.Mean, want.Mean) {
			t.Errorf("%s: forecast from %s %v, want from %s %v", what, got.Start, got.Upper, want.Start, want.Upper)
		}
		return got
	}
	next := e.model.Next
	first := check("first", next.Add(5*time.Minute), 0.9)
	if again := check("same request", next.Add(4*time.Minute+30*time.Second), 0.9); &again.Upper[0] != &first.Upper[0] {
		t.Error("the same request made a new forecast")
	}
	check("longer horizon", next.Add(10*time.Minute), 0.9)
	check("another quantile", next.Add(10*time.Minute), 0.95)
	// The same number of steps from the state a step on, and from another
	// model's state at the same time.
	e.model.Observe(500)
	check("after an observation", next.Add(11*time.Minute), 0.95)
	e.model = fit(200)
	e.model.Observe(500)
	check("another model", next.Add(11*time.Minute), 0.95)
}

// With excludeAnomalies, a live collapse far below the forecast (an
// outage: the load at 1% of its plateau for half an hour) is not learnt:
// the forecast, and the replicas served, hold for the retry surge that
// ends the outage; the held values are published, and once the load is
// back they are learnt again.
func TestPredictorHoldsThroughACollapse(t *testing.T) {
	now := time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC) // rampLoad: 500
	metrics := NewMetrics(prometheus.NewRegistry())
	pr, vm, c := newVMPredictor(t, now, Options{QueryTimeout: time.Second, ReactiveEvery: time.Second, Observer: metrics})
	guarded := testPolicy(t, map[string]string{"excludeAnomalies": "true"})
	plain := testPolicy(t, nil)
	ctx := context.Background()
	predict := func(p Policy) Prediction {
		t.Helper()
		pred, err := pr.Predict(ctx, ref, p)
		if err != nil {
			t.Fatal(err)
		}
		return pred
	}
	waitFor(t, "the first fits", func() bool { return predict(guarded).Model != "" && predict(plain).Model != "" })
	before := predict(guarded).Decision.Predicted
	load := func(from, to time.Time, v func(time.Time) float64) {
		s := tsdbtest.Series{Metric: "requests_per_second", Labels: map[string]string{"job": "api"}}
		for t := from; t.Before(to); t = t.Add(time.Minute) {
			s.Samples = append(s.Samples, forecast.Sample{T: t, V: v(t)})
		}
		vm.Append(t, s)
	}
	load(now.Add(time.Minute), now.Add(31*time.Minute), func(time.Time) float64 { return 5 })
	c.Set(now.Add(30*time.Minute + 30*time.Second))
	var held, followed Prediction
	waitFor(t, "the collapse to be read", func() bool {
		held, followed = predict(guarded), predict(plain)
		return held.Reactive == 5 && held.Held >= 25 && followed.Reactive == 5
	})
	t.Logf("after half an hour at 5/s: prediction %.0f guarded (%.0f before), %.0f without", held.Decision.Predicted, before, followed.Decision.Predicted)
	if held.Decision.Predicted < 0.95*before || held.Replicas < 9 {
		t.Errorf("guarded prediction %.0f (%d replicas): it followed the collapse instead of holding near %.0f", held.Decision.Predicted, held.Replicas, before)
	}
	if followed.Decision.Predicted > 0.9*before {
		t.Errorf("without excludeAnomalies the prediction held too (%.0f): the test no longer shows what the guard prevents", followed.Decision.Predicted)
	}
	if followed.Held != 0 {
		t.Errorf("without excludeAnomalies %d values are reported held", followed.Held)
	}
	predict(guarded) // publishes its gauges last
	if got := testutil.ToFloat64(metrics.held.WithLabelValues(ref.Namespace, ref.Name)); got < 25 {
		t.Errorf("foresight_scaler_held_points is %g, want the %d values held", got, held.Held)
	}
	x, err := pr.Explain(ctx, ref, guarded)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(x.Notes, func(n string) bool { return strings.Contains(n, "are not being learnt (excludeAnomalies)") }) {
		t.Errorf("explain does not say values are held: notes %q", x.Notes)
	}

	load(now.Add(31*time.Minute), now.Add(41*time.Minute), rampLoad)
	c.Set(now.Add(40*time.Minute + 30*time.Second))
	waitFor(t, "the recovery to be read", func() bool {
		pred := predict(guarded)
		return pred.Reactive > 400 && pred.Held == 0
	})
	if got := testutil.ToFloat64(metrics.holdsEnd.WithLabelValues(HoldRecovered)); got != 1 {
		t.Errorf("foresight_scaler_holds_ended_total{outcome=%q} is %g, want 1", HoldRecovered, got)
	}
}
