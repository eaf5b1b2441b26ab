package promsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/foresight-aiops/foresight/forecast"
)

// These tests use small HTTP servers that misbehave in ways a real
// Prometheus cannot be made to on demand: error statuses, proxies' error
// pages, answers that never come.

// answer returns a handler that answers every request with code and body.
func answer(code int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func apiAnswer(code int, body string) http.HandlerFunc {
	return answer(code, "application/json", body)
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		kind    error
		says    []string
	}{
		{"503", answer(503, "text/plain", "overloaded, try later"), ErrUnavailable, []string{"server error: 503", "overloaded, try later", "health"}},
		{"a proxy's error page", answer(502, "text/html", "<html>\n<body>\n<h1>502 Bad Gateway</h1>\n</body>\n</html>"), ErrUnavailable, []string{"<h1>502 Bad Gateway</h1>"}},
		{"401", answer(401, "text/plain", "Unauthorized"), ErrUnavailable, []string{"refused the credentials", "bearer_token"}},
		{"403", answer(403, "text/plain", "Forbidden"), ErrUnavailable, []string{"refused the credentials"}},
		{"404", answer(404, "text/plain", "404 page not found"), ErrUnavailable, []string{"the part before /api/v1"}},
		{"429", answer(429, "text/plain", "slow down"), ErrUnavailable, []string{"overloaded"}},
		{"Prometheus's own query timeout", apiAnswer(503, `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`), ErrUnavailable, []string{"timeout: query timed out", "gave up"}},
		{"not the API", answer(200, "text/html", "<html>Grafana</html>"), ErrUnavailable, []string{"not a PromQL HTTP API response"}},
		{"bad_data", apiAnswer(400, `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}`), ErrBadQuery, []string{"unclosed left parenthesis", "fix the query"}},
		{"execution", apiAnswer(422, `{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}`), ErrBadQuery, []string{"many-to-many"}},
		{"VictoriaMetrics' 422", apiAnswer(422, `{"status":"error","errorType":"422","error":"cannot parse \"sum(\""}`), ErrBadQuery, []string{"cannot parse"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Datasource{Name: "ds", URL: serve(t, tt.handler)})
			_, _, err := c.Instant(t.Context(), "sum(x)", time.Unix(1_700_000_000, 0))
			wantQueryError(t, err, tt.kind, "sum(x)", tt.says)
		})
	}
}

// hang returns a handler that never answers. It reads the request first:
// the server notices that the client went away, and cancels the request's
// context, only once the body is read. released ends it in any case, at the
// end of the test.
func hang(t *testing.T, arrived chan<- struct{}) http.HandlerFunc {
	released := make(chan struct{})
	t.Cleanup(func() { close(released) })
	return func(_ http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if arrived != nil {
			arrived <- struct{}{}
		}
		select {
		case <-r.Context().Done():
		case <-released:
		}
	}
}

func TestTimeout(t *testing.T) {
	c := newClient(t, Datasource{Name: "slow", URL: serve(t, hang(t, nil)), Timeout: 50 * time.Millisecond})
	at := time.Unix(1_700_000_000, 0)

	t.Run("the datasource's timeout", func(t *testing.T) {
		began := time.Now()
		_, _, err := c.Instant(t.Context(), "up", at)
		wantUnavailable(t, err, "up", "timeout of 50ms", "raise timeout")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want one that matches context.DeadlineExceeded", err)
		}
		if took := time.Since(began); took > 5*time.Second {
			t.Errorf("took %v with a 50ms timeout", took)
		}
		_, err = c.Range(t.Context(), "up", at.Add(-time.Hour), at, time.Minute)
		wantUnavailable(t, err, "up", "timeout of 50ms")
	})

	t.Run("the caller's deadline", func(t *testing.T) {
		slow := newClient(t, Datasource{Name: "slow", URL: c.url, Timeout: time.Minute})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		_, _, err := slow.Instant(ctx, "up", at)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want the caller's context.DeadlineExceeded, not ErrUnavailable", err)
		}
	})

	t.Run("the caller cancels", func(t *testing.T) {
		arrived := make(chan struct{}, 1)
		c := newClient(t, Datasource{Name: "slow", URL: serve(t, hang(t, arrived)), Timeout: time.Minute})
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-arrived
			cancel()
		}()
		_, _, err := c.Instant(ctx, "up", at)
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want context.Canceled, not ErrUnavailable", err)
		}
	})
}

// rangeServer answers range queries like a server that aligns and widens
// the range: one step before start to one step after end, each value the
// time in seconds. metric gives the series' labels for the n-th query.
type rangeServer struct {
	queries  atomic.Int64
	timeouts chan string
	metric   func(n int64) string
	values   func(ts int64) string
}

func (s *rangeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.queries.Add(1)
	select {
	case s.timeouts <- r.FormValue("timeout"):
	default:
	}
	// Times and the step are in seconds; the test's are whole ones.
	start, err1 := strconv.ParseFloat(r.FormValue("start"), 64)
	end, err2 := strconv.ParseFloat(r.FormValue("end"), 64)
	step, err3 := strconv.ParseFloat(r.FormValue("step"), 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		apiAnswer(400, fmt.Sprintf(`{"status":"error","errorType":"bad_data","error":%q}`, err.Error()))(w, r)
		return
	}
	var values []string
	sec := int64(step)
	for ts := int64(start) - sec; ts <= int64(end)+sec; ts += sec {
		v := strconv.FormatInt(ts, 10)
		if s.values != nil {
			v = s.values(ts)
		}
		values = append(values, fmt.Sprintf(`[%d,"%s"]`, ts, v))
	}
	apiAnswer(200, fmt.Sprintf(`{"status":"success","warnings":["partial response: store 2 is down"],"data":{"resultType":"matrix","result":[{"metric":%s,"values":[%s]}]}}`,
		s.metric(n), strings.Join(values, ",")))(w, r)
}

func TestRangeChunkBoundaries(t *testing.T) {
	srv := &rangeServer{timeouts: make(chan string, 1), metric: func(int64) string { return `{"job":"api"}` }}
	var logs bytes.Buffer
	c, err := New(Datasource{Name: "wide", URL: serve(t, srv), MaxPointsPerQuery: 4, Timeout: 7 * time.Second},
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	got, err := c.Range(t.Context(), "load", start, start.Add(9*time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var want []forecast.Sample
	for i := range 10 {
		ts := start.Add(time.Duration(i) * time.Minute)
		want = append(want, forecast.Sample{T: ts, V: float64(ts.Unix())})
	}
	equalSamples(t, got, want)
	if n := srv.queries.Load(); n != 3 {
		t.Errorf("%d queries, want 3 of at most 4 points for 10 points", n)
	}
	if got := <-srv.timeouts; got != "7s" {
		t.Errorf("the server was given timeout %q, want the datasource's 7s", got)
	}
	if !strings.Contains(logs.String(), "partial response: store 2 is down") || !strings.Contains(logs.String(), "datasource=wide") {
		t.Errorf("the warning was not logged with the datasource; log:\n%s", &logs)
	}
}

func TestRangeSeriesChangesBetweenChunks(t *testing.T) {
	srv := &rangeServer{metric: func(n int64) string {
		if n == 1 {
			return `{"pod":"a"}`
		}
		return `{"pod":"b"}`
	}}
	c := newClient(t, Datasource{Name: "churn", URL: serve(t, srv), MaxPointsPerQuery: 4})
	start := time.Unix(1_700_000_000, 0)
	_, err := c.Range(t.Context(), "load", start, start.Add(9*time.Minute), time.Minute)
	wantBadQuery(t, err, "load", `{pod="a"} in one part of the range and {pod="b"} in another`, "sum(load)")
}

func TestRangeNaN(t *testing.T) {
	srv := &rangeServer{
		metric: func(int64) string { return `{}` },
		values: func(ts int64) string {
			if ts%120 == 0 {
				return "NaN"
			}
			return "1"
		},
	}
	c := newClient(t, Datasource{Name: "nan", URL: serve(t, srv)})
	start := time.Unix(1_700_000_040, 0) // a multiple of 120 s
	got, err := c.Range(t.Context(), "load", start, start.Add(3*time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []forecast.Sample{
		{T: start, V: math.NaN()},
		{T: start.Add(time.Minute), V: 1},
		{T: start.Add(2 * time.Minute), V: math.NaN()},
		{T: start.Add(3 * time.Minute), V: 1},
	}
	equalSamples(t, got, want)
}

func TestValueStaleMarker(t *testing.T) {
	// Prometheus's stale marker: a NaN with this bit pattern
	// (model/value.StaleNaN in the prometheus/prometheus module).
	const staleNaN = 0x7ff0000000000002
	v := value(model.SampleValue(math.Float64frombits(staleNaN)))
	if math.Float64bits(v) != math.Float64bits(math.NaN()) {
		t.Errorf("value(stale marker) has bits %#x, want the ordinary NaN's %#x", math.Float64bits(v), math.Float64bits(math.NaN()))
	}
	if v := value(2.5); v != 2.5 {
		t.Errorf("value(2.5) = %v", v)
	}
}

func TestRangeArguments(t *testing.T) {
	c := newClient(t, Datasource{Name: "ds", URL: "http://127.0.0.1:1"})
	at := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name       string
		start, end time.Time
		step       time.Duration
		want       string
	}{
		{"zero step", at, at.Add(time.Hour), 0, "step 0s is not positive"},
		{"negative step", at, at.Add(time.Hour), -time.Minute, "step -1m0s is not positive"},
		{"end before start", at, at.Add(-time.Second), time.Minute, "is before start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Range(t.Context(), "up", tt.start, tt.end, tt.step)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one that says %q", err, tt.want)
			}
		})
	}
}
