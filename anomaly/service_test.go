package anomaly

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/internal/tsdbtest"
	"github.com/foresight-aiops/foresight/promsource"
)

// requestSeries returns minutely values of a daily cycle with seeded
// noise over [from, to), tripled in [spikeFrom, to).
func requestSeries(from, to, spikeFrom time.Time) tsdbtest.Series {
	rng := rand.New(rand.NewPCG(3, 3))
	s := tsdbtest.Series{Metric: "requests", Labels: map[string]string{"job": "api"}}
	for t := from; t.Before(to); t = t.Add(time.Minute) {
		phase := 2 * math.Pi * float64(t.Unix()%86400) / 86400
		v := 200 + 80*math.Sin(phase) + rng.NormFloat64()*4
		if !t.Before(spikeFrom) {
			v *= 3
		}
		s.Samples = append(s.Samples, forecast.Sample{T: t, V: v})
	}
	return s
}

const serviceConfig = `
reader:
  datasource: vm
  step: 1m
  queries:
    api: sum(requests{job="api"})
models:
  hw: {class: holtwinters, season: none, min_dev_from_expected: 1}
  z: {class: zscore, window: 1h, detection_direction: above_expected}
  m: {class: mad, window: 2h, queries: [api]}
schedule:
  fit_every: 1h
  fit_window: 1d
  infer_every: 1m
  workers: 2
writer:
  url: %s
`

// TestServiceAgainstVictoriaMetrics fits on a day of history read from a
// real VictoriaMetrics, scores the values that arrive after it, publishes
// the gauges, and writes the series back to VictoriaMetrics: quiet values
// score at most 1, a tripled load above 1 for every model.
func TestServiceAgainstVictoriaMetrics(t *testing.T) {
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	vm := tsdbtest.StartVictoriaMetrics(t, requestSeries(t0.Add(-26*time.Hour), t0.Add(30*time.Minute), t0.Add(20*time.Minute)))
	cfg, err := ParseConfig([]byte(strings.Replace(serviceConfig, "%s", vm.URL, 1)))
	if err != nil {
		t.Fatal(err)
	}
	src, err := promsource.New(promsource.Datasource{Name: "vm", URL: vm.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(cfg, src, ServiceOptions{Registerer: prometheus.NewPedanticRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	checkServiceScores(t, svc, t0)

	// The written series are in VictoriaMetrics.
	post(t, vm.URL+"/internal/force_flush")
	at := t0.Add(21 * time.Minute)
	if v := instant(t, vm.URL, `anomaly_score{query="api",model="z"}`, at); !(v > 1) {
		t.Errorf("anomaly_score written at t0+21m: %g, want > 1", v)
	}
	if v := instant(t, vm.URL, `anomaly_score{query="api",model="z"}`, t0.Add(12*time.Minute)); !(v <= 1) {
		t.Errorf("anomaly_score written at t0+12m: %g, want ≤ 1", v)
	}
	if n := testutil.ToFloat64(svc.writes.WithLabelValues("ok")); n != 3 {
		t.Errorf("%g successful writes, want 3", n)
	}
}

// TestServiceAgainstPrometheus is the same against a real Prometheus,
// whose history promtool backfills, without a writer.
func TestServiceAgainstPrometheus(t *testing.T) {
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	prom := tsdbtest.StartPrometheus(t, requestSeries(t0.Add(-26*time.Hour), t0.Add(30*time.Minute), t0.Add(20*time.Minute)))
	cfg, err := ParseConfig([]byte(strings.Replace(strings.Replace(serviceConfig, "writer:\n  url: %s\n", "", 1), "datasource: vm", "datasource: prom", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Writer != nil {
		t.Fatal("the writer was not removed from the configuration")
	}
	src, err := promsource.New(promsource.Datasource{Name: "prom", URL: prom.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(cfg, src, ServiceOptions{Registerer: prometheus.NewPedanticRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	checkServiceScores(t, svc, t0)
}

// checkServiceScores runs svc at t0+10m (the fit), t0+15m and t0+22m
// (the load triples at t0+20m) and checks its verdicts, gauges, counters
// and anomaly windows.
func checkServiceScores(t *testing.T, svc *Service, t0 time.Time) {
	t.Helper()
	ctx := t.Context()
	svc.RunOnce(ctx, t0.Add(10*time.Minute)) // fits on [t0−1d+10m, t0+10m]
	for _, m := range []string{"hw", "z", "m"} {
		e, ok := svc.Latest("api", m)
		if !ok || !(e.Score <= 1) || !finite(e.Yhat) {
			t.Errorf("%s after the fit: %+v (published %v), want a quiet value scoring ≤ 1", m, e, ok)
		}
	}
	svc.RunOnce(ctx, t0.Add(15*time.Minute)) // scores 5 new quiet values
	svc.RunOnce(ctx, t0.Add(22*time.Minute)) // the load triples at t0+20m
	for _, m := range []string{"hw", "z", "m"} {
		e, _ := svc.Latest("api", m)
		if !(e.Score > 1) || e.Y < 2*e.Yhat {
			t.Errorf("%s on the tripled load: %+v, want a score above 1", m, e)
		}
		if got := testutil.ToFloat64(svc.gauges["anomaly_score"].WithLabelValues("api", m)); got != e.Score {
			t.Errorf("%s: gauge anomaly_score = %g, latest %g", m, got, e.Score)
		}
	}
	if n := testutil.ToFloat64(svc.runs.WithLabelValues("fit", "ok")); n != 3 {
		t.Errorf("%g successful fits, want 3", n)
	}

	// The tripled load opened an anomaly window at t0+20m, still open.
	ws := svc.Windows("api", t0.Add(22*time.Minute))
	if len(ws) != 1 || !ws[0].Start.Equal(t0.Add(20*time.Minute)) || !ws[0].End.Equal(t0.Add(22*time.Minute)) {
		t.Errorf("anomaly windows %v, want [t0+20m, t0+22m)", ws)
	}
}

func post(t *testing.T, u string) {
	t.Helper()
	resp, err := http.Post(u, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// instant evaluates a query at a time, without lookback beyond a minute.
func instant(t *testing.T, base, q string, at time.Time) float64 {
	t.Helper()
	u := base + "/api/v1/query?" + url.Values{"query": {q}, "time": {strconv.FormatInt(at.Unix(), 10)}, "step": {"1m"}}.Encode()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if len(r.Data.Result) != 1 {
		t.Fatalf("%s at %s: %d series", q, at, len(r.Data.Result))
	}
	v, _ := strconv.ParseFloat(r.Data.Result[0].Value[1].(string), 64)
	return v
}

func TestServiceQueryErrorsAreCounted(t *testing.T) {
	cfg, err := ParseConfig([]byte("reader: {queries: {a: up}}\nmodels: {z: {class: zscore}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := promsource.New(promsource.Datasource{Name: "default", URL: "http://127.0.0.1:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(cfg, src, ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.RunOnce(context.Background(), time.Now())
	if n := testutil.ToFloat64(svc.runs.WithLabelValues("fit", "query_error")); n != 1 {
		t.Errorf("fit query errors: %g, want 1", n)
	}
	if _, ok := svc.Latest("a", "z"); ok {
		t.Error("a verdict was published without data")
	}
}

// The scaler finds the anomalies of a ScaledObject's query by its PromQL
// expression and datasource; white space does not matter, another
// datasource or expression finds nothing.
func TestWindowsOf(t *testing.T) {
	cfg, err := ParseConfig([]byte("reader: {datasource: prod, queries: {rps: 'sum(rate(http_requests_total[2m]))'}}\nmodels: {z: {class: zscore}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(cfg, nil, ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC)
	closed := forecast.Window{Start: now.Add(-3 * time.Hour), End: now.Add(-2 * time.Hour)}
	svc.jobs[0].windows = []forecast.Window{closed}
	svc.jobs[0].open = now.Add(-10 * time.Minute)
	svc.jobs[0].next = now.Add(time.Minute) // scored up to now
	for _, tc := range []struct {
		datasource, expr string
		want             int
	}{
		{"prod", "sum(rate(http_requests_total[2m]))", 2},
		{"prod", "sum(rate(http_requests_total[2m]))\n", 2},
		{"prod", "sum( rate(http_requests_total[2m]))", 0}, // another expression, as far as text goes
		{"default", "sum(rate(http_requests_total[2m]))", 0},
		{"prod", "up", 0},
	} {
		got := svc.WindowsOf(tc.datasource, tc.expr, now)
		if len(got) != tc.want {
			t.Errorf("WindowsOf(%q, %q) = %v, want %d windows", tc.datasource, tc.expr, got, tc.want)
			continue
		}
		if tc.want == 2 && (got[0] != closed || !got[1].End.Equal(now)) {
			t.Errorf("WindowsOf = %v, want the closed window and the open one ending now", got)
		}
	}
}
