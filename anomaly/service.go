package anomaly

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foresight-aiops/foresight/forecast"
)

// Source reads a query's values: promsource.Client satisfies it.
type Source interface {
	Range(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]forecast.Sample, error)
}

// Service runs the configured models on their schedule: every fit_every
// it fits each (query, model) pair on the last fit_window of the query's
// values; every infer_every it scores the values that arrived since, and
// publishes the latest verdict as the gauges anomaly_score, y, yhat,
// yhat_lower and yhat_upper, labelled by query and model, and (with a
// writer) sends every scored value to VictoriaMetrics.
type Service struct {
	cfg     Config
	src     Source
	logger  *slog.Logger
	client  *http.Client
	jobs    []*job
	gauges  map[string]*prometheus.GaugeVec
	runs    *prometheus.CounterVec
	writes  *prometheus.CounterVec
	lastRun prometheus.Gauge
}

// job is one (query, model) pair.
type job struct {
	query, model, expr string
	cfg                ModelConfig

	mu      sync.Mutex
	det     Detector
	fitted  time.Time // when the detector was last fitted
	next    time.Time // time of the next value to score
	latest  Estimate
	hasData bool
	// windows are the closed runs of values scoring above 1, oldest
	// first, at most maxWindows; open is the start of the current run.
	windows []forecast.Window
	open    time.Time
	// retryAt is when a failed fit may be tried again.
	retryAt time.Time
}

// maxWindows bounds the anomaly windows kept per (query, model).
const maxWindows = 256

// ServiceOptions are a Service's collaborators.
type ServiceOptions struct {
	// Registerer gets the service's metrics; nil means none are registered.
	Registerer prometheus.Registerer
	// Logger; nil discards.
	Logger *slog.Logger
	// Client makes the writer's requests; nil means a default client.
	Client *http.Client
}

// Gauges published per (query, model).
var gaugeNames = []string{"anomaly_score", "y", "yhat", "yhat_lower", "yhat_upper"}

// NewService builds a service over a source of the configured reader's
// datasource. cfg must have been validated (ParseConfig does).
func NewService(cfg Config, src Source, o ServiceOptions) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	client := o.Client
	if client == nil {
		client = &http.Client{}
	}
	s := &Service{cfg: cfg, src: src, logger: logger, client: client, gauges: map[string]*prometheus.GaugeVec{}}
	help := map[string]string{
		"anomaly_score": "Anomaly score of the latest value: up to 1 inside the expected band, above 1 outside it (vmanomaly's contract).",
		"y":             "The latest value scored.",
		"yhat":          "The value the model expected.",
		"yhat_lower":    "Lower edge of the expected band (after scale and floors).",
		"yhat_upper":    "Upper edge of the expected band (after scale and floors).",
	}
	for _, n := range gaugeNames {
		s.gauges[n] = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n, Help: help[n]}, []string{"query", "model"})
	}
	s.runs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foresight_anomaly_runs_total",
		Help: "Fits and inferences of the anomaly models, by stage (fit, infer) and result (ok, or the reason it failed: query_error, no_data, fit_error).",
	}, []string{"stage", "result"})
	s.writes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foresight_anomaly_writes_total",
		Help: "Writes of the anomaly series to VictoriaMetrics, by result (ok, error).",
	}, []string{"result"})
	s.lastRun = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "foresight_anomaly_last_run_timestamp_seconds",
		Help: "When the anomaly models last ran (Unix time).",
	})
	if o.Registerer != nil {
		for _, g := range s.gauges {
			if err := o.Registerer.Register(g); err != nil {
				return nil, fmt.Errorf("register the anomaly metrics: %w", err)
			}
		}
		for _, c := range []prometheus.Collector{s.runs, s.writes, s.lastRun} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register the anomaly metrics: %w", err)
			}
		}
	}
	for _, p := range cfg.Jobs() {
		s.jobs = append(s.jobs, &job{query: p[0], model: p[1], expr: cfg.Reader.Queries[p[0]], cfg: cfg.Models[p[1]]})
	}
	return s, nil
}

// Run runs the schedule until ctx ends: once at once, then every
// infer_every.
func (s *Service) Run(ctx context.Context) error {
	every := time.Duration(s.cfg.Schedule.InferEvery)
	t := time.NewTicker(every)
	defer t.Stop()
	s.RunOnce(ctx, time.Now())
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			s.RunOnce(ctx, now)
		}
	}
}

// RunOnce fits the jobs that are due for a fit, scores the values up to
// now of all of them, publishes the latest verdicts and writes the scored
// values, with at most schedule.workers jobs at once.
func (s *Service) RunOnce(ctx context.Context, now time.Time) {
	step := time.Duration(s.cfg.Reader.Step)
	end := now.Truncate(step)
	sem := make(chan struct{}, s.cfg.Schedule.Workers)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out bytes.Buffer
	)
	for _, j := range s.jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			est, times := s.runJob(ctx, j, end)
			if s.cfg.Writer != nil && len(est) > 0 {
				mu.Lock()
				writeImport(&out, j, est, times)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.lastRun.Set(float64(now.Unix()))
	if s.cfg.Writer != nil && out.Len() > 0 {
		if err := s.write(ctx, &out); err != nil {
			s.writes.WithLabelValues("error").Inc()
			s.logger.WarnContext(ctx, "write to VictoriaMetrics", "url", s.cfg.Writer.URL, "err", err)
		} else {
			s.writes.WithLabelValues("ok").Inc()
		}
	}
}

// runJob fits j if due and scores its new values up to end; it returns
// the estimates and their times.
func (s *Service) runJob(ctx context.Context, j *job, end time.Time) ([]Estimate, []time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	step := time.Duration(s.cfg.Reader.Step)
	log := s.logger.With("query", j.query, "model", j.model)
	var (
		est   []Estimate
		times []time.Time
	)
	if (j.det == nil || end.Sub(j.fitted) >= time.Duration(s.cfg.Schedule.FitEvery)) && !end.Before(j.retryAt) {
		e, at, err := s.fit(ctx, j, end)
		if err != nil {
			// Do not read fit_window of history again at every inference:
			// a struggling datasource gets a rest, and a bad query a line a
			// retry rather than one a step.
			j.retryAt = end.Add(min(time.Duration(s.cfg.Schedule.FitEvery), 10*time.Duration(s.cfg.Schedule.InferEvery)))
		}
		switch {
		case err != nil && j.det == nil:
			log.WarnContext(ctx, "anomaly model fit", "err", err, "retry_at", j.retryAt)
			return nil, nil
		case err != nil:
			log.WarnContext(ctx, "anomaly model fit: scoring with the previous fit", "err", err, "retry_at", j.retryAt)
		default:
			est, times = append(est, e), append(times, at)
		}
	}
	if j.det == nil {
		return nil, nil // the first fit failed; it is retried at retryAt
	}
	if !j.next.Before(end.Add(step)) {
		return est, times
	}
	samples, err := s.src.Range(ctx, j.expr, j.next, end, step)
	if err != nil {
		s.runs.WithLabelValues("infer", "query_error").Inc()
		log.WarnContext(ctx, "anomaly inference query", "err", err)
		return est, times
	}
	fresh := len(est)
	for _, x := range samples {
		if x.T.Before(j.next) {
			continue
		}
		for ; j.next.Add(step / 2).Before(x.T); j.next = j.next.Add(step) {
			j.det.Next(math.NaN()) // a missing step: the state carries on
		}
		e := j.det.Next(x.V)
		est, times = append(est, e), append(times, x.T)
		j.track(e, x.T)
		j.next = j.next.Add(step)
	}
	if len(est) == fresh {
		s.runs.WithLabelValues("infer", "no_data").Inc()
		// A query that stopped answering must not leave its last verdict
		// on /metrics (an alert on anomaly_score > 1 would fire for ever)
		// nor an anomaly window open until now (the scaler would leave
		// ever more history out): after fit_every (at most an hour)
		// without data, both go.
		if j.hasData && end.Sub(j.next) > staleAfter(s.cfg.Schedule) {
			s.retire(j)
			s.runs.WithLabelValues("infer", "stale").Inc()
			log.WarnContext(ctx, "no data for longer than fit_every (at most an hour): the anomaly gauges of this query are withdrawn until it returns",
				"last_value_before", j.next)
		}
		return est, times
	}
	s.runs.WithLabelValues("infer", "ok").Inc()
	s.publish(j, est[len(est)-1])
	return est, times
}

// fit reads fit_window of history up to end and fits a new detector on it
// but its last value, which it then scores, so that the gauges show a
// verdict at once.
func (s *Service) fit(ctx context.Context, j *job, end time.Time) (Estimate, time.Time, error) {
	step := time.Duration(s.cfg.Reader.Step)
	start := end.Add(-time.Duration(s.cfg.Schedule.FitWindow))
	samples, err := s.src.Range(ctx, j.expr, start, end, step)
	if err != nil {
		s.runs.WithLabelValues("fit", "query_error").Inc()
		return Estimate{}, time.Time{}, fmt.Errorf("read %s of history: %w", time.Duration(s.cfg.Schedule.FitWindow), err)
	}
	if len(samples) < 3 {
		s.runs.WithLabelValues("fit", "no_data").Inc()
		return Estimate{}, time.Time{}, fmt.Errorf("the query returned %d values over the fit window: check the query (it must return one series) and the datasource", len(samples))
	}
	series, _, err := forecast.Align(samples, step)
	if err != nil {
		s.runs.WithLabelValues("fit", "no_data").Inc()
		return Estimate{}, time.Time{}, fmt.Errorf("align the history: %w", err)
	}
	// Refit the job's detector rather than a new one: Holt-Winters then
	// refits its selected model from its last parameters (a full selection
	// only every reselect_every fits), and keeps its state if the fit fails.
	det := j.det
	if det == nil {
		if det, err = j.cfg.New(step); err != nil { // validated with the configuration: not reached
			return Estimate{}, time.Time{}, err
		}
	}
	n := series.Len()
	if err := det.Fit(series.Slice(0, n-1)); err != nil {
		s.runs.WithLabelValues("fit", "fit_error").Inc()
		return Estimate{}, time.Time{}, err
	}
	s.runs.WithLabelValues("fit", "ok").Inc()
	e := det.Next(series.Values[n-1])
	j.det, j.fitted, j.next = det, end, series.Time(n-1).Add(step)
	s.publish(j, e)
	return e, series.Time(n - 1), nil
}

// track opens an anomaly window at a value scoring above 1 and closes it
// at the first value that does not.
func (j *job) track(e Estimate, at time.Time) {
	switch {
	case e.Anomalous() && j.open.IsZero():
		j.open = at
	case !e.Anomalous() && !j.open.IsZero():
		j.windows = append(j.windows, forecast.Window{Start: j.open, End: at})
		if len(j.windows) > maxWindows {
			j.windows = j.windows[len(j.windows)-maxWindows:]
		}
		j.open = time.Time{}
	}
}

// Windows returns the time ranges in which any model of the query scored
// above 1, merged and sorted, an open one ending at now: what a forecaster
// should leave out of its training (the scaler's excludeAnomalies).
func (s *Service) Windows(query string, now time.Time) []forecast.Window {
	var all []forecast.Window
	for _, j := range s.jobs {
		if j.query != query {
			continue
		}
		j.mu.Lock()
		all = append(all, j.windows...)
		if !j.open.IsZero() {
			// Open until the latest value scored (now, while data flow).
			end := now
			if !j.next.IsZero() && j.next.Before(now) {
				end = j.next
			}
			all = append(all, forecast.Window{Start: j.open, End: end})
		}
		j.mu.Unlock()
	}
	slices.SortFunc(all, func(a, b forecast.Window) int { return a.Start.Compare(b.Start) })
	var out []forecast.Window
	for _, w := range all {
		if k := len(out) - 1; k >= 0 && !w.Start.After(out[k].End) {
			if w.End.After(out[k].End) {
				out[k].End = w.End
			}
			continue
		}
		out = append(out, w)
	}
	return out
}

// WindowsOf is Windows for the jobs whose PromQL expression is expr (up
// to white space) read from the named datasource: how the scaler finds
// the anomalies of the query of a ScaledObject with excludeAnomalies.
func (s *Service) WindowsOf(datasource, expr string, now time.Time) []forecast.Window {
	ds := s.cfg.Reader.Datasource
	if ds == "" {
		ds = DefaultDatasource
	}
	if datasource != ds {
		return nil
	}
	want := strings.Join(strings.Fields(expr), " ")
	for _, j := range s.jobs {
		if strings.Join(strings.Fields(j.expr), " ") == want {
			return s.Windows(j.query, now)
		}
	}
	return nil
}

// retire closes j's open anomaly window at its last value and withdraws
// its gauges. The caller holds j.mu.
func (s *Service) retire(j *job) {
	if !j.open.IsZero() {
		j.windows = append(j.windows, forecast.Window{Start: j.open, End: j.next})
		j.open = time.Time{}
	}
	for _, g := range s.gauges {
		g.DeleteLabelValues(j.query, j.model)
	}
	j.hasData = false
}

func (s *Service) publish(j *job, e Estimate) {
	j.latest, j.hasData = e, true
	for n, v := range map[string]float64{"anomaly_score": e.Score, "y": e.Y, "yhat": e.Yhat, "yhat_lower": e.Lower, "yhat_upper": e.Upper} {
		s.gauges[n].WithLabelValues(j.query, j.model).Set(v)
	}
}

// Latest returns the latest verdict of a (query, model) pair.
func (s *Service) Latest(query, model string) (Estimate, bool) {
	for _, j := range s.jobs {
		if j.query == query && j.model == model {
			j.mu.Lock()
			defer j.mu.Unlock()
			return j.latest, j.hasData
		}
	}
	return Estimate{}, false
}

// writeImport appends the estimates in the Prometheus text format that
// VictoriaMetrics' /api/v1/import/prometheus reads, with millisecond
// timestamps. Non-finite values are left out.
func writeImport(w *bytes.Buffer, j *job, est []Estimate, times []time.Time) {
	labels := `{query="` + escapeLabel(j.query) + `",model="` + escapeLabel(j.model) + `"}`
	for i, e := range est {
		ts := strconv.FormatInt(times[i].UnixMilli(), 10)
		for n, v := range map[string]float64{"anomaly_score": e.Score, "y": e.Y, "yhat": e.Yhat, "yhat_lower": e.Lower, "yhat_upper": e.Upper} {
			if !finite(v) {
				continue
			}
			w.WriteString(n + labels + " " + strconv.FormatFloat(v, 'g', -1, 64) + " " + ts + "\n")
		}
	}
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// write posts the body to VictoriaMetrics within the writer's timeout.
func (s *Service) write(ctx context.Context, body io.Reader) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.Writer.Timeout))
	defer cancel()
	u := strings.TrimRight(s.cfg.Writer.URL, "/") + "/api/v1/import/prometheus"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return fmt.Errorf("build the request to %s: %w", u, err)
	}
	req.Header.Set("Content-Type", "text/plain")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", u, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post to %s: %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// staleAfter is how long a query may return no data before its gauges are
// withdrawn: fit_every, but never more than an hour, so that a daily fit
// does not leave a dead query's last score (and an alert on it) for a day.
func staleAfter(sch Schedule) time.Duration {
	return min(time.Duration(sch.FitEvery), time.Hour)
}
