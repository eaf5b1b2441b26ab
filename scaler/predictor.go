package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/policy"
)

// Source reads load from a PromQL datasource; promsource.Client is one.
type Source interface {
	// Range returns the samples of query over [start, end] at step.
	Range(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]forecast.Sample, error)
	// Instant returns the value of query at a time; ok is false for an
	// empty result.
	Instant(ctx context.Context, query string, at time.Time) (v float64, ok bool, err error)
}

// Sources finds a datasource by the name a policy gives.
type Sources interface {
	Source(name string) (Source, error)
}

// fitRetry is how soon a failed fit is tried again.
const fitRetry = time.Minute

// Errors of Predict that the servers map to their status codes.
var (
	// ErrStale: the datasource has been unreachable for longer than the
	// policy's MaxStaleness; the scaler stops answering so that KEDA's and
	// the HPA's own safety nets act.
	ErrStale = errors.New("no fresh data")
	// ErrNoValue: neither a forecast nor the current load is known yet.
	ErrNoValue = errors.New("no value yet")
)

// Options configure a Predictor. Zero fields take the defaults named.
type Options struct {
	// Workers bounds the fits that run at once (0: 2).
	Workers int
	// RefitEvery is the time between refits of a model (0: 1h): its
	// parameters and state on the latest history, the model kept.
	RefitEvery time.Duration
	// ReselectEvery is the time between full selections (season detection
	// and every candidate model), ten times a refit's cost (0: 24h).
	ReselectEvery time.Duration
	// IdleAfter drops a model no request has asked for in this long (0:
	// 3 × RefitEvery).
	IdleAfter time.Duration
	// ReactiveEvery is how often the current load is re-read while
	// requests come (0: 15s; never less often than the policy's step), so
	// that the reactive floor lags the load by no more than this, and an
	// unreachable datasource is noticed this soon.
	ReactiveEvery time.Duration
	// QueryTimeout bounds the datasource reads of a background refresh
	// and of a fit's history (0: 10s).
	QueryTimeout time.Duration
	// FirstReadTimeout bounds the one read a request waits for: the first
	// request for a model (0: 1.5s, so that KEDA's three calls stay within
	// the 3 s the HPA gives them).
	FirstReadTimeout time.Duration
	// AnomalyWindows, if set, returns the anomalies an anomaly detector
	// found in a datasource's query; a policy with excludeAnomalies leaves
	// them out of training as well as the ones its own model finds, so
	// that one process has one idea of what was anomalous.
	AnomalyWindows func(datasource, query string, now time.Time) []forecast.Window
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Logger (nil: discard).
	Logger *slog.Logger
	// Observer, if set, is told of every prediction and fit, for metrics.
	Observer Observer
}

// Observer receives what the predictor does; metrics implement it.
type Observer interface {
	Predicted(ref Ref, p Prediction)
	Fitted(p Policy, m *forecast.Model, sel *forecast.Selection, took time.Duration, excluded int, err error)
}

// Ref names the object a request is for.
type Ref struct {
	Namespace, Name string
}

// Prediction is the answer to one request.
type Prediction struct {
	// Served is the load to report to the autoscaler; Replicas what it
	// implies.
	Served   float64
	Replicas int
	// Decision is the policy's decision on the prediction (in shadow
	// mode, what would have been served).
	Decision policy.Decision
	// Reactive is the current load, and ReactiveAt when it was read.
	Reactive   float64
	ReactiveAt time.Time
	// Model describes the model behind the forecast ("" if none), with
	// its parameters and seasonal periods (in steps).
	Model   string
	Params  forecast.Params
	Periods []int
	Step    time.Duration
	// Stale is set when the datasource is unreachable and a previous
	// value is being served.
	Stale      bool
	Datasource string
	Mode       Mode
	// Excluded counts the history points the latest fit left out
	// (outage windows, excludeQuery and detected anomalies).
	Excluded int
	// Held counts the live values, far below the forecast, that the model
	// is not learning (excludeAnomalies: an outage's collapse in
	// progress).
	Held int
}

// Predictor keeps one fitted model per model key, refreshes it from its
// datasource, and answers requests from memory: a request never waits for
// a fit, and waits for the datasource only the first time a model is
// asked for. It holds no gRPC types: the KEDA scaler and the metrics API
// share it.
type Predictor struct {
	sources Sources
	opts    Options
	log     *slog.Logger
	fits    chan struct{} // semaphore of running fits

	mu     sync.Mutex
	models map[string]*entry
}

// entry is the state of one model.
type entry struct {
	mu       sync.Mutex
	policy   Policy
	model    *forecast.Model
	spec     string // model.Spec.String(), formatted once per fit
	peak     float64
	fittedAt time.Time
	// sel is the last selection, made at selectedAt; refits reuse it.
	sel        *forecast.Selection
	selectedAt time.Time
	// excluded counts the history points the last fit left out.
	excluded int
	// guard, with excludeAnomalies, keeps the model from learning a live
	// collapse far below its forecast (see forecast.Guard).
	guard   *forecast.Guard
	fitting bool
	fitErr  error
	// reactive is the last value read, at reactiveAt; dataAt is the last
	// time the datasource answered.
	reactive   float64
	reactiveAt time.Time
	dataAt     time.Time
	refreshing bool
	refreshed  time.Time
	lastUsed   time.Time
	readErr    error
	// last is the last forecast made, kept because every request until
	// the model's next step asks for the same one.
	last lastForecast
}

// lastForecast is a forecast of model from its state at next, steps long
// at quantile q.
type lastForecast struct {
	model *forecast.Model
	next  time.Time
	steps int
	q     float64
	f     forecast.Forecast
}

// NewPredictor returns a Predictor reading from sources.
func NewPredictor(sources Sources, opts Options) *Predictor {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.RefitEvery <= 0 {
		opts.RefitEvery = time.Hour
	}
	if opts.IdleAfter <= 0 {
		opts.IdleAfter = 3 * opts.RefitEvery
	}
	if opts.ReselectEvery <= 0 {
		opts.ReselectEvery = 24 * time.Hour
	}
	if opts.ReactiveEvery <= 0 {
		opts.ReactiveEvery = 15 * time.Second
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 10 * time.Second
	}
	if opts.FirstReadTimeout <= 0 {
		opts.FirstReadTimeout = 1500 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Predictor{sources: sources, opts: opts, log: log, fits: make(chan struct{}, opts.Workers), models: map[string]*entry{}}
}

// Predict answers a request for ref under policy p. The first request for
// a model reads the current load and starts its fit in the background;
// later ones are answered from memory and start a refresh when the data
// are a step old.
func (pr *Predictor) Predict(ctx context.Context, ref Ref, p Policy) (Prediction, error) {
	now := pr.opts.Now()
	e := pr.entry(p, now)
	e.mu.Lock()
	first := e.refreshed.IsZero() && !e.refreshing
	e.mu.Unlock()
	if first {
		rctx, cancel := context.WithTimeout(ctx, pr.opts.FirstReadTimeout)
		pr.refresh(rctx, e)
		cancel()
	} else {
		pr.maybeRefresh(e, now)
	}
	pred, err := pr.answer(e, p, now)
	if pr.opts.Observer != nil && err == nil {
		pr.opts.Observer.Predicted(ref, pred)
	}
	return pred, err
}

// entry returns the model entry of p, creating it.
func (pr *Predictor) entry(p Policy, now time.Time) *entry {
	key := p.ModelKey()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	e, ok := pr.models[key]
	if !ok {
		e = &entry{policy: p, reactive: math.NaN(), peak: math.NaN()}
		pr.models[key] = e
	}
	e.mu.Lock()
	e.lastUsed = now
	if e.policy.Mode == ModeReactive && p.Mode != ModeReactive {
		e.policy = p // another trigger of the same model wants a forecast
	}
	e.mu.Unlock()
	return e
}

// answer computes the prediction from what e holds.
func (pr *Predictor) answer(e *entry, p Policy, now time.Time) (Prediction, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	pred := Prediction{Mode: p.Mode, Datasource: p.Datasource, Reactive: e.reactive, ReactiveAt: e.reactiveAt, Excluded: e.excluded, Held: heldPoints(e)}
	stale := e.readErr != nil && !e.dataAt.IsZero()
	if stale && now.Sub(e.dataAt) > p.MaxStaleness {
		return pred, fmt.Errorf("%w: datasource %q unreachable since %s, longer than maxStaleness %s: %w",
			ErrStale, p.Datasource, e.dataAt.UTC().Format(time.RFC3339), p.MaxStaleness, e.readErr)
	}
	pred.Stale = stale
	in := policy.Input{Now: now, Reactive: e.reactive, Peak: e.peak}
	if e.model != nil && p.Mode != ModeReactive {
		pred.Model, pred.Params, pred.Periods, pred.Step = e.spec, e.model.Params, e.model.Spec.Periods, e.model.Step
		if f, err := e.forecastUntil(now.Add(p.LeadTime), p.Quantile); err == nil {
			in.Forecast = &f
		}
	}
	params := policyParams(p)
	pred.Decision = policy.Decide(params, in)
	served := pred.Decision
	if p.Mode != ModePredictive {
		// Shadow and reactive modes serve the current load.
		served = policy.Decide(params, policy.Input{Now: now, Reactive: e.reactive})
	}
	if stale && in.Forecast != nil {
		// The datasource is down: the last current load is old, so hold
		// the larger of it and the forecast for now.
		pred.Decision.Note = "datasource unreachable, serving the last values"
	}
	if math.IsNaN(served.Load) {
		if e.readErr != nil {
			return pred, fmt.Errorf("%w for %s: %w", ErrNoValue, p.Query, e.readErr)
		}
		return pred, fmt.Errorf("%w for %s: the query returned no data", ErrNoValue, p.Query)
	}
	pred.Served, pred.Replicas = served.Load, served.Replicas
	return pred, nil
}

// forecastUntil forecasts from the model's last observation to until. The
// caller holds e.mu and must not modify the forecast's slices: the same
// forecast answers every request until the model moves on a step (its
// state is then at another Next) or is refitted (another Model).
func (e *entry) forecastUntil(until time.Time, q float64) (forecast.Forecast, error) {
	m := e.model
	// The last step must reach until: round up.
	steps := int((until.Sub(m.Next)+m.Step-1)/m.Step) + 1
	if steps < 1 {
		steps = 1
	}
	if steps > 100_000 {
		return forecast.Forecast{}, fmt.Errorf("the model is %d steps behind", steps)
	}
	if l := &e.last; l.model == m && l.next.Equal(m.Next) && l.steps == steps && l.q == q {
		return l.f, nil
	}
	f, err := m.Predict(steps, q)
	if err != nil {
		return f, err
	}
	e.last = lastForecast{model: m, next: m.Next, steps: steps, q: q, f: f}
	return f, nil
}

func policyParams(p Policy) policy.Params {
	return policy.Params{
		TargetPerReplica: p.TargetPerReplica, LeadTime: p.LeadTime, Quantile: p.Quantile,
		MinReplicas: p.MinReplicas, MaxReplicas: p.MaxReplicas, PeakCapFactor: p.PeakCapFactor,
	}
}

// maybeRefresh starts a background refresh of e when its data are
// ReactiveEvery (or a step, if shorter) old and none is running.
func (pr *Predictor) maybeRefresh(e *entry, now time.Time) {
	e.mu.Lock()
	due := !e.refreshing && now.Sub(e.refreshed) >= min(e.policy.Step, pr.opts.ReactiveEvery)
	if due {
		e.refreshing = true
	}
	e.mu.Unlock()
	if due {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*pr.opts.QueryTimeout)
			defer cancel()
			pr.refreshLocked(ctx, e)
		}()
	}
}

// refresh reads e's datasource now (waiting for it), for a first request.
func (pr *Predictor) refresh(ctx context.Context, e *entry) {
	e.mu.Lock()
	if e.refreshing {
		e.mu.Unlock()
		return
	}
	e.refreshing = true
	e.mu.Unlock()
	pr.refreshLocked(ctx, e)
}

// refreshLocked reads the current load and the values since the model's
// last observation, moves the model on, and starts a fit when one is due.
// The caller has set e.refreshing.
func (pr *Predictor) refreshLocked(ctx context.Context, e *entry) {
	now := pr.opts.Now()
	e.mu.Lock()
	p := e.policy
	model := e.model
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.refreshing = false
		e.refreshed = now
		e.mu.Unlock()
	}()

	src, err := pr.sources.Source(p.Datasource)
	if err != nil {
		pr.readFailed(e, p, err)
		return
	}
	qctx, cancel := context.WithTimeout(ctx, pr.opts.QueryTimeout)
	defer cancel()
	v, ok, err := src.Instant(qctx, p.Query, now)
	if err != nil {
		pr.readFailed(e, p, err)
		return
	}
	var newer []forecast.Sample
	var outage []forecast.Window
	if model != nil && now.Sub(model.Next) >= p.Step {
		newer, err = src.Range(qctx, p.Query, model.Next, now.Add(-p.Step), p.Step)
		if err == nil && p.ExcludeQuery != "" {
			var marks []forecast.Sample
			marks, err = src.Range(qctx, p.ExcludeQuery, model.Next, now.Add(-p.Step), p.Step)
			outage = markedWindows(marks, p.Step)
		}
		if err != nil {
			pr.readFailed(e, p, err)
			return
		}
	}
	e.mu.Lock()
	if !ok {
		v = math.NaN()
	}
	e.reactive, e.reactiveAt, e.dataAt, e.readErr = v, now, now, nil
	if e.model == model && model != nil {
		before := heldPoints(e)
		ended := observe(e, newer, outage)
		if after := heldPoints(e); before == 0 && after > 0 {
			pr.log.WarnContext(ctx, "load far below the forecast: holding the forecast instead of learning the collapse (excludeAnomalies)",
				"query", p.Query, "current", v, "held_points", after, "held_at_most", e.guard.MaxRun())
		}
		for _, end := range ended {
			pr.holdEnded(ctx, p, end, v)
		}
	}
	retryAfter := pr.opts.RefitEvery
	if e.fitErr != nil {
		retryAfter = min(retryAfter, fitRetry)
	}
	due := p.Mode != ModeReactive && !e.fitting && (e.fittedAt.IsZero() || now.Sub(e.fittedAt) >= retryAfter)
	if due {
		e.fitting = true
	}
	e.mu.Unlock()
	if due {
		go pr.fit(e, p)
	}
}

// observe moves e's model on over samples (aligned to its step; gaps and
// excluded times, from the policy's windows or the live outage windows of
// its excludeQuery, are NaN), through its guard if it has one, and returns
// how the holds that ended did (HoldRecovered, HoldChanged). The caller
// holds e.mu.
func observe(e *entry, samples []forecast.Sample, outage []forecast.Window) []string {
	m := e.model
	var ended []string
	step := func(v float64) {
		if e.guard == nil {
			m.Observe(v)
			return
		}
		switch e.guard.Observe(v) {
		case forecast.Recovered:
			ended = append(ended, HoldRecovered)
		case forecast.Changed:
			ended = append(ended, HoldChanged)
		}
	}
	for _, s := range samples {
		for m.Next.Before(s.T.Add(-m.Step / 2)) {
			step(math.NaN()) // a gap
		}
		if s.T.Before(m.Next.Add(-m.Step / 2)) {
			continue // already seen
		}
		v := s.V
		if excluded(e.policy.ExcludeWindows, s.T) || excluded(outage, s.T) {
			v = math.NaN()
		}
		step(v)
		if !math.IsNaN(v) && !(v <= e.peak) {
			e.peak = v
		}
	}
	return ended
}

// How a hold of excludeAnomalies ended (the outcome label of
// foresight_scaler_holds_ended_total).
const (
	// HoldRecovered: the load came back near the forecast; the held
	// values stay unlearnt.
	HoldRecovered = "recovered"
	// HoldChanged: the load stayed low for longer than the guard holds
	// (an eighth of the season): a change, now learnt.
	HoldChanged = "learnt_as_change"
	// HoldRefit: a refit's model learnt the low values (it found no
	// collapse in progress at the end of its history).
	HoldRefit = "refit"
)

// holdObserver is told how each hold ended; Metrics is one.
type holdObserver interface {
	HoldEnded(p Policy, outcome string)
}

// holdEnded logs and counts the end of a hold.
func (pr *Predictor) holdEnded(ctx context.Context, p Policy, outcome string, current float64) {
	msg := "the load is back near the forecast: learning it again; the held values stay out of the model"
	switch outcome {
	case HoldChanged:
		msg = "the load stayed far below the forecast for longer than a hold lasts: learning it as a change"
	case HoldRefit:
		msg = "a refit learnt the low load: no collapse was in progress at the end of its history"
	}
	pr.log.InfoContext(ctx, msg, "query", p.Query, "current", current, "reason", outcome)
	if o, ok := pr.opts.Observer.(holdObserver); ok {
		o.HoldEnded(p, outcome)
	}
}

// heldPoints is the number of live values e's guard is keeping from its
// model: the collapse in progress. The caller holds e.mu.
func heldPoints(e *entry) int {
	if e.guard == nil {
		return 0
	}
	return e.guard.Held()
}

func excluded(windows []forecast.Window, t time.Time) bool {
	return slices.ContainsFunc(windows, func(w forecast.Window) bool { return w.Contains(t) })
}

func (pr *Predictor) readFailed(e *entry, p Policy, err error) {
	e.mu.Lock()
	first := e.readErr == nil
	e.readErr = err
	e.mu.Unlock()
	if first {
		pr.log.Warn("datasource read failed: serving the last values until maxStaleness",
			"datasource", p.Datasource, "query", p.Query, "max_staleness", p.MaxStaleness, "err", err)
	}
}

// fit fits e's model in the background, within the worker bound.
func (pr *Predictor) fit(e *entry, p Policy) {
	pr.fits <- struct{}{}
	defer func() { <-pr.fits }()
	ctx, cancel := context.WithTimeout(context.Background(), 4*pr.opts.QueryTimeout)
	defer cancel()
	e.mu.Lock()
	var prev *forecast.Selection
	if e.sel != nil && pr.opts.Now().Sub(e.selectedAt) < pr.opts.ReselectEvery {
		prev = e.sel
	}
	e.mu.Unlock()
	start := time.Now()
	m, sel, peak, excludedN, history, err := pr.fitModel(ctx, p, prev)
	var guard *forecast.Guard
	if err == nil && p.ExcludeAnomalies {
		guard = forecast.NewGuard(m, history, 0)
	}
	took := time.Since(start)
	// The observer hears of the fit once the model serves, so that whoever
	// waits on it (a metric, a test) finds it in place.
	if pr.opts.Observer != nil {
		defer pr.opts.Observer.Fitted(p, m, sel, took, excludedN, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fitting = false
	e.fittedAt = pr.opts.Now()
	e.fitErr = err
	if err != nil {
		pr.log.Warn("fit failed: serving the current load until the next refit",
			"query", p.Query, "refit_every", pr.opts.RefitEvery, "err", err)
		return
	}
	if heldPoints(e) > 0 && (guard == nil || guard.Held() == 0) {
		defer pr.holdEnded(ctx, p, HoldRefit, e.reactive)
	}
	e.model, e.spec, e.peak, e.excluded, e.guard = m, m.Spec.String(), peak, excludedN, guard
	if prev == nil {
		e.sel, e.selectedAt = sel, e.fittedAt
	}
	pr.log.Info("model fitted", "reselected", prev == nil, "query", p.Query, "model", e.spec, "params", m.Params.String(),
		"excluded_points", excludedN, "took", took)
}

// fitModel reads the history of p, removes what must not be learnt from,
// and fits: the model of prev again if given, else a new selection.
//
// It returns the model, the selection, the history's peak, the count of
// points left out, and the history the model ran over.
func (pr *Predictor) fitModel(ctx context.Context, p Policy, prev *forecast.Selection) (*forecast.Model, *forecast.Selection, float64, int, []float64, error) {
	src, err := pr.sources.Source(p.Datasource)
	if err != nil {
		return nil, nil, math.NaN(), 0, nil, err
	}
	end := pr.opts.Now().Truncate(p.Step)
	start := end.Add(-p.History)
	samples, err := src.Range(ctx, p.Query, start, end.Add(-p.Step), p.Step)
	if err != nil {
		return nil, nil, math.NaN(), 0, nil, fmt.Errorf("reading the history: %w", err)
	}
	s := onGrid(samples, start, end, p.Step)
	windows := slices.Clone(p.ExcludeWindows)
	if p.ExcludeQuery != "" {
		marks, err := src.Range(ctx, p.ExcludeQuery, start, end.Add(-p.Step), p.Step)
		if err != nil {
			return nil, nil, math.NaN(), 0, nil, fmt.Errorf("reading excludeQuery: %w", err)
		}
		windows = append(windows, markedWindows(marks, p.Step)...)
	}
	if p.ExcludeAnomalies && pr.opts.AnomalyWindows != nil {
		windows = append(windows, pr.opts.AnomalyWindows(p.Datasource, p.Query, end)...)
	}
	s, removed := s.Exclude(windows)
	peak := math.NaN()
	for _, v := range s.Values {
		if !math.IsNaN(v) && !math.IsInf(v, 0) && !(v <= peak) {
			peak = v
		}
	}
	opts := forecast.AutoOptions{Horizon: int(p.LeadTime/p.Step) + 2, ExcludeAnomalies: p.ExcludeAnomalies}
	switch {
	case p.Season.None:
		opts.NoSeason = true
	case !p.Season.Auto:
		if opts.Periods, err = p.Season.Steps(p.Step); err != nil {
			return nil, nil, peak, removed, nil, err
		}
	}
	if prev != nil {
		m, err := forecast.Refit(s, prev, opts)
		return m, prev, peak, removed, s.Values, err
	}
	m, sel, err := forecast.FitAuto(s, opts)
	if sel != nil {
		removed += sel.Anomalies
	}
	return m, sel, peak, removed, s.Values, err
}

// onGrid places samples on the grid [start, end) of step (NaN where none).
func onGrid(samples []forecast.Sample, start, end time.Time, step time.Duration) forecast.Series {
	n := int(end.Sub(start) / step)
	v := make([]float64, n)
	for i := range v {
		v[i] = math.NaN()
	}
	for _, s := range samples {
		i := int((s.T.Sub(start) + step/2) / step)
		if i >= 0 && i < n {
			v[i] = s.V
		}
	}
	return forecast.Series{Start: start, Step: step, Values: v}
}

// markedWindows returns the windows where marks are above 0, each step a
// sample stands for.
func markedWindows(marks []forecast.Sample, step time.Duration) []forecast.Window {
	var out []forecast.Window
	for _, m := range marks {
		if !(m.V > 0) {
			continue
		}
		w := forecast.Window{Start: m.T, End: m.T.Add(step)}
		if k := len(out); k > 0 && !out[k-1].End.Before(w.Start) {
			out[k-1].End = w.End
			continue
		}
		out = append(out, w)
	}
	return out
}

// Sweep drops the models no request has asked for within IdleAfter.
func (pr *Predictor) Sweep() int {
	now := pr.opts.Now()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	dropped := 0
	for k, e := range pr.models {
		e.mu.Lock()
		idle := now.Sub(e.lastUsed) > pr.opts.IdleAfter
		e.mu.Unlock()
		if idle {
			delete(pr.models, k)
			dropped++
		}
	}
	return dropped
}

// Models returns the number of models held.
func (pr *Predictor) Models() int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return len(pr.models)
}

// Explanation is everything behind one answer (see Predictor.Explain).
type Explanation struct {
	Prediction Prediction
	Policy     Policy
	// The history of the last fit: [HistoryStart, HistoryEnd) at the
	// policy's step, of which Excluded points were left out; fitted at
	// FittedAt (zero if no fit has succeeded yet).
	HistoryStart, HistoryEnd, FittedAt time.Time
	Excluded                           int
	// The model: spec, parameters, seasonal periods, how it was chosen and
	// the notes of its fit.
	Model, Params string
	Periods       []int
	Criterion     string
	Notes         []string
	// Forecast over the lead time, nil without a model.
	Forecast *forecast.Forecast
	// Peak of the history and the cap it implies on the prediction.
	Peak, PeakCap float64
}

// Explain answers a request as Predict does, and tells what lies behind the
// answer.
func (pr *Predictor) Explain(ctx context.Context, ref Ref, p Policy) (Explanation, error) {
	pred, err := pr.Predict(ctx, ref, p)
	x := Explanation{Prediction: pred, Policy: p}
	if err != nil {
		return x, err
	}
	e := pr.entry(p, pr.opts.Now())
	e.mu.Lock()
	defer e.mu.Unlock()
	x.Peak, x.PeakCap = e.peak, p.PeakCapFactor*e.peak
	x.Excluded = e.excluded
	if e.model == nil {
		return x, nil
	}
	m := e.model
	x.FittedAt = e.fittedAt
	x.HistoryEnd = e.fittedAt.Truncate(p.Step)
	x.HistoryStart = x.HistoryEnd.Add(-p.History)
	x.Model, x.Params = m.Spec.String(), m.Params.String()
	x.Periods = m.Spec.Periods
	for _, n := range m.Notes {
		x.Notes = append(x.Notes, n.String())
	}
	if held := heldPoints(e); held > 0 {
		x.Notes = append(x.Notes, fmt.Sprintf("the last %d values, far below the forecast, are not being learnt (excludeAnomalies): the forecast holds through the collapse for at most %d steps", held, e.guard.MaxRun()))
	}
	if e.sel != nil {
		x.Criterion = e.sel.Criterion
	}
	if f, err := e.forecastUntil(pr.opts.Now().Add(p.LeadTime), p.Quantile); err == nil {
		x.Forecast = &f
	}
	return x, nil
}
