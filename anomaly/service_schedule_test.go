package anomaly

import (
	"cmp"
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foresight-aiops/foresight/forecast"
)

// fakeSource answers range queries from a function of time, up to an end
// after which it has no data, or fails; it counts the queries.
type fakeSource struct {
	mu    sync.Mutex
	f     func(time.Time) float64
	until time.Time // no samples at or after (zero: none missing)
	fail  error
	calls int
}

func (s *fakeSource) Range(_ context.Context, _ string, start, end time.Time, step time.Duration) ([]forecast.Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		return nil, s.fail
	}
	var out []forecast.Sample
	for t := start; !t.After(end); t = t.Add(step) {
		if !s.until.IsZero() && !t.Before(s.until) {
			break
		}
		out = append(out, forecast.Sample{T: t, V: s.f(t)})
	}
	return out, nil
}

func newTestService(t *testing.T, yaml string, src Source) (*Service, *prometheus.Registry) {
	t.Helper()
	cfg, err := ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	svc, err := NewService(cfg, src, ServiceOptions{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return svc, reg
}

// A scheduled fit refits the job's detector instead of building a new
// one: a Holt-Winters detector keeps its selection (and refits from it).
func TestServiceRefitsTheSameDetector(t *testing.T) {
	now := time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC)
	src := &fakeSource{f: func(t time.Time) float64 {
		return 100 + 30*math.Sin(2*math.Pi*float64(t.Unix()%86400)/86400) + float64(t.Unix()/60%7)
	}}
	svc, _ := newTestService(t, "reader: {queries: {a: up}}\nmodels: {hw: {class: holtwinters, season: 1d}}\n"+
		"schedule: {fit_every: 1h, fit_window: 3d, infer_every: 1m}\n", src)
	svc.RunOnce(context.Background(), now)
	first := svc.jobs[0].det
	hw, ok := first.(*HoltWinters)
	if !ok || hw.sel == nil {
		t.Fatalf("after the first fit: detector %T, want a fitted *HoltWinters", first)
	}
	svc.RunOnce(context.Background(), now.Add(61*time.Minute))
	if svc.jobs[0].det != first {
		t.Fatal("the second fit built a new detector: its selection and state were thrown away")
	}
	if hw.fits != 2 {
		t.Errorf("Holt-Winters fits counted since its selection = %d, want 2 (the selection, then a refit)", hw.fits)
	}
}

// A failed fit is retried after a rest, not at every inference.
func TestServiceFailedFitBacksOff(t *testing.T) {
	now := time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC)
	src := &fakeSource{fail: errors.New("connection refused")}
	svc, _ := newTestService(t, "reader: {queries: {a: up}}\nmodels: {z: {class: zscore}}\nschedule: {fit_every: 1h, infer_every: 1m}\n", src)
	for i := range 30 {
		svc.RunOnce(context.Background(), now.Add(time.Duration(i)*time.Minute))
	}
	// Retries every 10 inferences (min(fit_every, 10 × infer_every)).
	if src.calls < 2 || src.calls > 4 {
		t.Errorf("%d fit queries in 30 inferences of a failing datasource, want 3", src.calls)
	}
}

// A query that stops returning data withdraws its gauges after fit_every,
// at most an hour (a daily fit must not keep a dead query's verdict for a
// day), and closes its anomaly window at its last value.
func TestServiceWithdrawsStaleQueries(t *testing.T) {
	for _, fitEvery := range []string{"1h", "1d", ""} {
		t.Run("fit_every="+fitEvery, func(t *testing.T) { withdrawsStale(t, fitEvery) })
	}
}

func withdrawsStale(t *testing.T, fitEvery string) {
	now := time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC)
	stop := now.Add(5 * time.Minute)
	src := &fakeSource{until: stop, f: func(t time.Time) float64 {
		if !t.Before(now.Add(3 * time.Minute)) {
			return 1000 // an anomaly, still open when the data stop
		}
		return 100 + float64(t.Unix()/60%5)
	}}
	svc, reg := newTestService(t, "reader: {queries: {a: up}}\nmodels: {z: {class: zscore, window: 30m}}\n"+
		"schedule: {fit_every: "+cmp.Or(fitEvery, "null")+", fit_window: 1d, infer_every: 1m}\n", src)
	for m := 0; m <= 10; m++ {
		svc.RunOnce(context.Background(), now.Add(time.Duration(m)*time.Minute))
	}
	if n, _ := testutil.GatherAndCount(reg, "anomaly_score"); n != 1 {
		t.Fatalf("%d anomaly_score series while data are fresh, want 1", n)
	}
	if w := svc.Windows("a", now.Add(10*time.Minute)); len(w) != 1 || !w[0].End.Equal(stop) {
		t.Errorf("windows %v, want one ending at the last value %s, not now", w, stop)
	}
	svc.RunOnce(context.Background(), now.Add(2*time.Hour))
	if n, _ := testutil.GatherAndCount(reg, "anomaly_score"); n != 0 {
		t.Errorf("%d anomaly_score series two hours after the data stopped, want 0", n)
	}
	if n := testutil.ToFloat64(svc.runs.WithLabelValues("infer", "stale")); n != 1 {
		t.Errorf("runs{infer,stale} = %g, want 1", n)
	}
	if w := svc.Windows("a", now.Add(2*time.Hour)); len(w) != 1 || !w[0].End.Equal(stop) {
		t.Errorf("windows %v after withdrawal, want the closed one ending at %s", w, stop)
	}
}

// A z-score fitted on a quantised history at rest still flags a jump, and
// a refit does not let a past anomaly back into its baseline.
func TestZScoreFit(t *testing.T) {
	quantised := make([]float64, 200)
	for i := range quantised {
		quantised[i] = 1000
		if i%50 == 0 {
			quantised[i] = 1001 // the resolution: steps of 1
		}
	}
	withSpike := make([]float64, 200)
	for i := range withSpike {
		withSpike[i] = 100 + float64(i%3)
		if i >= 180 && i < 185 {
			withSpike[i] = 5000
		}
	}
	for _, tc := range []struct {
		name    string
		history []float64
		rest    float64 // a value at rest, scored first
		next    float64
	}{
		{"quantised at rest, then doubled", quantised, 1000, 2000},
		{"a past spike stays out of the baseline", withSpike, 101, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z, err := NewZScore(RollingConfig{Window: 60})
			if err != nil {
				t.Fatal(err)
			}
			if err := z.Fit(forecast.Series{Start: time.Unix(0, 0), Step: time.Minute, Values: tc.history}); err != nil {
				t.Fatal(err)
			}
			if e := z.Next(tc.rest); e.Score > 1 {
				t.Errorf("score of %g at rest: %g, want at most 1", tc.rest, e.Score)
			}
			if e := z.Next(tc.next); !(e.Score > 1) {
				t.Errorf("score of %g after the fit: %g, want above 1 (band %g..%g)", tc.next, e.Score, e.Lower, e.Upper)
			}
		})
	}
}
