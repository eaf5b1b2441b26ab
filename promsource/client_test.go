package promsource

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/internal/tsdbtest"
)

// history is what the TSDB tests backfill: a week of one-minute samples of
// load{job="api"} whose value is the sample's index, ending a minute before
// now, and two series of one metric for the multi-series errors.
type history struct {
	week        []forecast.Sample
	first, last time.Time
	series      []tsdbtest.Series
}

func newHistory() history {
	last := time.Now().Truncate(time.Minute).Add(-time.Minute)
	first := last.Add(-(7*24*60 - 1) * time.Minute)
	week := make([]forecast.Sample, 7*24*60)
	for i := range week {
		week[i] = forecast.Sample{T: first.Add(time.Duration(i) * time.Minute), V: float64(i)}
	}
	pods := func(pod string, v float64) tsdbtest.Series {
		s := tsdbtest.Series{Metric: "pod_load", Labels: map[string]string{"pod": pod}}
		for i := range 60 {
			s.Samples = append(s.Samples, forecast.Sample{T: last.Add(-time.Duration(i) * time.Minute), V: v})
		}
		return s
	}
	withNaN := tsdbtest.Series{Metric: "with_nan"}
	for i := range 10 {
		v := float64(i)
		if i == 5 {
			v = math.NaN()
		}
		withNaN.Samples = append(withNaN.Samples, forecast.Sample{T: last.Add(time.Duration(i-9) * time.Minute), V: v})
	}
	return history{
		week:  week,
		first: first,
		last:  last,
		series: []tsdbtest.Series{
			{Metric: "load", Labels: map[string]string{"job": "api"}, Samples: week},
			pods("a", 1), pods("b", 2), withNaN,
		},
	}
}

// TestClient reads the same history back from a real Prometheus and a real
// VictoriaMetrics.
func TestClient(t *testing.T) {
	h := newHistory()
	tests := []struct {
		name  string
		start func(testing.TB, ...tsdbtest.Series) *tsdbtest.Server
		// keepsNaN: Prometheus stores and returns NaN samples;
		// VictoriaMetrics drops them on import and from query results.
		keepsNaN bool
	}{
		{"Prometheus", tsdbtest.StartPrometheus, true},
		{"VictoriaMetrics", tsdbtest.StartVictoriaMetrics, false},
		{"Thanos", tsdbtest.StartThanos, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			s := tt.start(t, h.series...)
			t.Logf("started with a week of history in %v", time.Since(began).Round(time.Millisecond))
			testClient(t, s, h, tt.keepsNaN)
		})
	}
}

func testClient(t *testing.T, s *tsdbtest.Server, h history, keepsNaN bool) {
	ctx := t.Context()
	c := newClient(t, Datasource{Name: "tsdb", URL: s.URL})

	t.Run("a week in one query", func(t *testing.T) {
		got, err := c.Range(ctx, `load{job="api"}`, h.first, h.last, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		equalSamples(t, got, h.week)
	})

	t.Run("a week in chunks", func(t *testing.T) {
		// A proxy that counts the range queries shows the chunking.
		for _, tc := range []struct{ maxPoints, queries int }{
			{10080, 1}, {10079, 2}, {5040, 2}, {4999, 3}, {1000, 11},
		} {
			var queries atomic.Int64
			proxy := counting(t, s.URL, "/api/v1/query_range", &queries)
			c := newClient(t, Datasource{Name: "tsdb", URL: proxy, MaxPointsPerQuery: tc.maxPoints})
			got, err := c.Range(ctx, `load{job="api"}`, h.first, h.last, time.Minute)
			if err != nil {
				t.Fatalf("max %d points: %v", tc.maxPoints, err)
			}
			equalSamples(t, got, h.week)
			if n := queries.Load(); n != int64(tc.queries) {
				t.Errorf("max %d points: %d range queries, want %d", tc.maxPoints, n, tc.queries)
			}
		}
	})

	t.Run("part of the range, coarser step", func(t *testing.T) {
		start := h.first.Add(24 * time.Hour)
		got, err := c.Range(ctx, `load{job="api"}`, start, start.Add(10*time.Hour), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var want []forecast.Sample
		for i := 24 * 60; i <= 34*60; i += 60 {
			want = append(want, h.week[i])
		}
		equalSamples(t, got, want)
	})

	t.Run("aggregated range", func(t *testing.T) {
		got, err := c.Range(ctx, `sum(pod_load)`, h.last.Add(-59*time.Minute), h.last, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 60 || got[0].V != 3 || got[59].V != 3 {
			t.Errorf("sum(pod_load): %d samples, first %v, want 60 samples of 3", len(got), got[:min(1, len(got))])
		}
	})

	t.Run("instant", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			at    time.Time
			want  float64
		}{
			{`load{job="api"}`, h.first.Add(100 * time.Minute), 100},
			{`load{job="api"}`, h.first.Add(100*time.Minute + 30*time.Second), 100},
			{`sum(pod_load)`, h.last, 3},
			{`max(pod_load)`, h.last, 2},
			{`scalar(load{job="api"}) * 2`, h.first.Add(time.Minute), 2},
			{`2 + 3`, h.last, 5},
		} {
			v, ok, err := c.Instant(ctx, tc.query, tc.at)
			if err != nil || !ok || v != tc.want {
				t.Errorf("Instant(%s) = %v, %v, %v, want %v, true, nil", tc.query, v, ok, err, tc.want)
			}
		}
	})

	t.Run("NaN", func(t *testing.T) {
		got, err := c.Range(ctx, `with_nan`, h.last.Add(-9*time.Minute), h.last, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var want []forecast.Sample
		for i := range 10 {
			p := forecast.Sample{T: h.last.Add(time.Duration(i-9) * time.Minute), V: float64(i)}
			switch {
			case i == 5 && keepsNaN:
				p.V = math.NaN()
			case i == 5:
				// The NaN was dropped on import: the gap is filled with
				// the sample before it.
				p.V = 4
			}
			want = append(want, p)
		}
		equalSamples(t, got, want)

		v, ok, err := c.Instant(ctx, `sum(pod_load) * (0/0)`, h.last)
		if err != nil || ok != keepsNaN || (ok && !math.IsNaN(v)) {
			t.Errorf("Instant(NaN) = %v, %v, %v, want NaN: %v", v, ok, err, keepsNaN)
		}
	})

	t.Run("empty result", func(t *testing.T) {
		v, ok, err := c.Instant(ctx, `no_such_metric`, h.last)
		if err != nil || ok {
			t.Errorf("Instant = %v, %v, %v, want ok=false and no error", v, ok, err)
		}
		got, err := c.Range(ctx, `no_such_metric`, h.first, h.last, time.Minute)
		if err != nil || len(got) != 0 {
			t.Errorf("Range = %d samples, %v, want none and no error", len(got), err)
		}
		// Before the history begins.
		got, err = c.Range(ctx, `load{job="api"}`, h.first.Add(-48*time.Hour), h.first.Add(-24*time.Hour), time.Minute)
		if err != nil || len(got) != 0 {
			t.Errorf("Range before the history = %d samples, %v, want none and no error", len(got), err)
		}
	})

	t.Run("several series", func(t *testing.T) {
		_, _, err := c.Instant(ctx, `pod_load`, h.last)
		wantBadQuery(t, err, "pod_load", "2 series", "sum(pod_load)")
		_, err = c.Range(ctx, `pod_load`, h.last.Add(-time.Hour), h.last, time.Minute)
		wantBadQuery(t, err, "pod_load", "2 series", "sum(pod_load)")
	})

	t.Run("syntax error", func(t *testing.T) {
		_, _, err := c.Instant(ctx, `sum(load`, h.last)
		wantBadQuery(t, err, "sum(load", "fix the query")
		_, err = c.Range(ctx, `rate(load[5m]`, h.first, h.last, time.Minute)
		wantBadQuery(t, err, "rate(load[5m]", "fix the query")
	})

	t.Run("range vector in an instant query", func(t *testing.T) {
		_, _, err := c.Instant(ctx, `load{job="api"}[5m]`, h.last)
		wantBadQuery(t, err, `load{job="api"}[5m]`)
	})

	t.Run("stopped", func(t *testing.T) {
		s.Stop()
		_, _, err := c.Instant(ctx, `sum(pod_load)`, h.last)
		wantUnavailable(t, err, "sum(pod_load)", "check that the datasource is up")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("err = %v, want one that matches ECONNREFUSED", err)
		}
		_, err = c.Range(ctx, `load{job="api"}`, h.first, h.last, time.Minute)
		wantUnavailable(t, err, `load{job="api"}`)
	})
}

func newClient(t *testing.T, ds Datasource) *Client {
	t.Helper()
	c, err := New(ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// counting returns the URL of a proxy to target that counts the requests
// for path.
func counting(t *testing.T, target, path string, n *atomic.Int64) string {
	t.Helper()
	srv := httptest.NewServer(forwarder(target, func(r *http.Request) int {
		if r.URL.Path == path {
			n.Add(1)
		}
		return 0
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// forwarder returns a thin proxy to target. check sees each request first
// and returns 0 to forward it or an HTTP status to answer with instead.
//
// It reads each answer whole before passing it on: httputil.ReverseProxy
// sometimes lost the end of VictoriaMetrics 1.79's gzip-compressed chunked
// answers ("use of closed network connection") in the first seconds after
// an import.
func forwarder(target string, check func(*http.Request) int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := check(r); code != 0 {
			http.Error(w, http.StatusText(code), code)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(out)
	})
}

func equalSamples(t *testing.T, got, want []forecast.Sample) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d samples, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if !g.T.Equal(w.T) || (g.V != w.V && !(math.IsNaN(g.V) && math.IsNaN(w.V))) {
			t.Fatalf("sample %d = %v %v, want %v %v", i, g.T, g.V, w.T, w.V)
		}
	}
}

func wantBadQuery(t *testing.T, err error, query string, says ...string) {
	t.Helper()
	wantQueryError(t, err, ErrBadQuery, query, says)
}

func wantUnavailable(t *testing.T, err error, query string, says ...string) {
	t.Helper()
	wantQueryError(t, err, ErrUnavailable, query, says)
}

func wantQueryError(t *testing.T, err, kind error, query string, says []string) {
	t.Helper()
	other := ErrUnavailable
	if errors.Is(kind, ErrUnavailable) {
		other = ErrBadQuery
	}
	if !errors.Is(err, kind) || errors.Is(err, other) {
		t.Errorf("err = %v, want %v", err, kind)
		return
	}
	var qe *QueryError
	if !errors.As(err, &qe) || qe.Query != query || qe.Datasource == "" {
		t.Errorf("err = %#v, want a *QueryError for query %q that names the datasource", err, query)
		return
	}
	msg := err.Error()
	for _, s := range append(says, strconv.Quote(query), strconv.Quote(qe.Datasource)) {
		if !strings.Contains(msg, s) {
			t.Errorf("error does not say %q: %v", s, msg)
		}
	}
}
