package tsdbtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// TestServers starts each database with a day of backfilled history, reads
// it back, appends live samples, and stops and restarts it.
func TestServers(t *testing.T) {
	now := time.Now().Truncate(time.Minute)
	history := minutely("load", map[string]string{"job": "api"}, now.Add(-24*time.Hour), 24*60, func(i int) float64 { return float64(i % 60) })
	live := minutely("load", map[string]string{"job": "api"}, now, 3, func(int) float64 { return 1000 })

	tests := []struct {
		name  string
		start func(testing.TB, ...Series) *Server
	}{
		{"Prometheus", StartPrometheus},
		{"VictoriaMetrics", StartVictoriaMetrics},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			s := tt.start(t, history)
			t.Logf("started with a day of history in %v", time.Since(began).Round(time.Millisecond))

			// A window that ends before the live samples, so that the
			// lookback cannot reach them.
			at := now.Add(-time.Minute)
			if got := instant(t, s.URL, `count_over_time(load{job="api"}[1d])`, at); got != 24*60 {
				t.Errorf("count_over_time(load[1d]) = %v, want %d", got, 24*60)
			}
			if got := instant(t, s.URL, `load`, now.Add(-90*time.Minute)); got != 30 {
				t.Errorf("load 90 minutes ago = %v, want 30", got)
			}

			began = time.Now()
			s.Append(t, live)
			t.Logf("appended in %v", time.Since(began).Round(time.Millisecond))
			if got := instant(t, s.URL, `load`, now.Add(2*time.Minute)); got != 1000 {
				t.Errorf("load after Append = %v, want 1000", got)
			}

			s.Stop()
			s.Stop()
			_, err := http.Get(s.URL + "/api/v1/query?query=1")
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("query after Stop: err = %v, want connection refused", err)
			}

			began = time.Now()
			s.Restart(t)
			t.Logf("restarted in %v", time.Since(began).Round(time.Millisecond))
			if got := instant(t, s.URL, `count_over_time(load[2d])`, now.Add(3*time.Minute)); got != 24*60+3 {
				t.Errorf("count_over_time after Restart = %v, want %d", got, 24*60+3)
			}
		})
	}
}

func minutely(metric string, labels map[string]string, start time.Time, n int, f func(int) float64) Series {
	s := Series{Metric: metric, Labels: labels, Samples: make([]forecast.Sample, n)}
	for i := range s.Samples {
		s.Samples[i] = forecast.Sample{T: start.Add(time.Duration(i) * time.Minute), V: f(i)}
	}
	return s
}

// instant evaluates query at t through the plain HTTP API and returns the
// value of its single series.
func instant(t *testing.T, base, query string, at time.Time) float64 {
	t.Helper()
	resp, err := http.PostForm(base+"/api/v1/query", url.Values{
		"query": {query},
		"time":  {strconv.FormatInt(at.Unix(), 10)},
	})
	if err != nil {
		t.Fatalf("query %s: %v", query, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("query %s: %v", query, err)
	}
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" || len(r.Data.Result) != 1 {
		t.Fatalf("query %s: want one series, got %s (%v)", query, body, err)
	}
	var v string
	if err := json.Unmarshal(r.Data.Result[0].Value[1], &v); err != nil {
		t.Fatalf("query %s: value: %v", query, err)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("query %s: %v", query, fmt.Errorf("value %q: %w", v, err))
	}
	return f
}

// fatalRecorder records a Fatalf and ends the goroutine, as testing.T does,
// without failing the test that runs it.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	tests := []struct {
		name    string
		start   func(testing.TB, ...Series) *Server
		binary  string
		install string
	}{
		{"Prometheus", StartPrometheus, "prometheus", "apt-get install -y prometheus"},
		{"VictoriaMetrics", StartVictoriaMetrics, "victoria-metrics", "apt-get install -y victoria-metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fatalRecorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				tt.start(r)
				r.msg = "started"
			}()
			<-done
			want := tt.binary + " is not installed"
			if !strings.Contains(r.msg, want) || !strings.Contains(r.msg, tt.install) {
				t.Errorf("Fatalf(%q), want one that says %q and %q", r.msg, want, tt.install)
			}
		})
	}
}
