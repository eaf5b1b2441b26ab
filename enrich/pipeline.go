package enrich

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Analyzer enriches one alert: context, the model's answer, checked
// commands. It is given the alert as received (unredacted: it needs the
// real names to look objects up) and must redact what it returns and what
// it sends to a model. It reports failures inside the Analysis, so that
// an analysis is always delivered.
type Analyzer interface {
	Analyze(ctx context.Context, a Alert) Analysis
}

// Redactor removes secrets from text before it reaches a sink.
type Redactor interface {
	Redact(s string) string
}

// PipelineOptions configure a Pipeline. Zero values take defaults.
type PipelineOptions struct {
	// RawWorkers hand raw alerts to the sinks; 0 means 4. They never wait
	// for the model.
	RawWorkers int
	// AnalysisWorkers run analyses at once; 0 means 2 (a local GPU serves
	// one or two requests at a time; more only queue inside the server).
	AnalysisWorkers int
	// HoldRaw, when positive, holds a firing alert's raw message back for
	// up to this long after it was received, so that alert and analysis go
	// out as one message; if the analysis is not done by then, the raw
	// alert goes out and the analysis follows as a reply. 0 sends the raw
	// alert at once.
	HoldRaw time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// holdState tracks a held raw alert.
type holdState struct {
	rec      Record
	timer    *time.Timer
	rawSent  bool
	combined bool
}

// Pipeline moves queued alerts through the stages: the raw alert to the
// sinks at once, then its analysis as a reply. A record moves on (to the
// analysis, or out of the queue) only once every sink has finished with its
// message, so a crash at any point loses nothing: what was not finished is
// sent again after the restart (at least once). A resolved alert is
// delivered as a reply too, and cancels the analysis of its alert if one is
// running or waiting.
type Pipeline struct {
	q        *Queue
	d        *Dispatcher
	analyzer Analyzer
	redactor Redactor
	o        PipelineOptions
	logger   *slog.Logger
	metrics  *Metrics

	mu       sync.Mutex
	inflight map[string]context.CancelCauseFunc // correlation id -> cancel of its analysis
	resolved map[string]time.Time               // correlation ids seen resolved -> when
	held     map[string]*holdState              // correlation id -> held raw alert
}

// errResolved cancels an analysis whose alert resolved.
var errResolved = errors.New("alert resolved")

// NewPipeline returns a pipeline over q delivering through d. analyzer nil
// delivers raw alerts only; redactor nil delivers text unchanged (only for
// tests: cmd always sets one).
func NewPipeline(q *Queue, d *Dispatcher, analyzer Analyzer, redactor Redactor, o PipelineOptions, logger *slog.Logger, metrics *Metrics) *Pipeline {
	if o.RawWorkers <= 0 {
		o.RawWorkers = 4
	}
	if o.AnalysisWorkers <= 0 {
		o.AnalysisWorkers = 2
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Pipeline{
		q: q, d: d, analyzer: analyzer, redactor: redactor, o: o, logger: logger, metrics: metrics,
		inflight: map[string]context.CancelCauseFunc{}, resolved: map[string]time.Time{}, held: map[string]*holdState{},
	}
}

// Run works until ctx is canceled.
func (p *Pipeline) Run(ctx context.Context) {
	if p.o.HoldRaw > 0 && p.analyzer != nil {
		// Held alerts from before a restart: their timers were lost.
		recs, err := p.q.Waiting(StageRaw)
		if err != nil {
			p.logger.ErrorContext(ctx, "alert queue read; held alerts go out with their analysis", "err", err)
		}
		for _, r := range recs {
			if r.Held {
				p.hold(ctx, r)
			}
		}
	}
	var wg sync.WaitGroup
	for range p.o.RawWorkers {
		wg.Go(func() { p.rawLoop(ctx) })
	}
	if p.analyzer != nil {
		for range p.o.AnalysisWorkers {
			wg.Go(func() { p.analysisLoop(ctx) })
		}
	}
	wg.Go(func() { p.gaugeLoop(ctx) })
	wg.Wait()
}

func (p *Pipeline) gaugeLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		waiting, taken := p.q.Len()
		p.metrics.queueWaiting.WithLabelValues(StageNew.String()).Set(float64(waiting[StageNew]))
		p.metrics.queueWaiting.WithLabelValues(StageRaw.String()).Set(float64(waiting[StageRaw] + taken))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Pipeline) notification(kind string, r Record) Notification {
	return Notification{
		Kind: kind, CorrelationID: r.Alert.CorrelationID(), Receiver: r.Receiver, GroupKey: r.GroupKey,
		ExternalURL: r.ExternalURL, Received: r.Received, Alert: p.redactAlert(r.Alert),
	}
}

func (p *Pipeline) redactAlert(a Alert) Alert {
	if p.redactor == nil {
		return a
	}
	out := a
	out.Labels = make(map[string]string, len(a.Labels))
	for k, v := range a.Labels {
		out.Labels[k] = p.redactor.Redact(v)
	}
	out.Annotations = make(map[string]string, len(a.Annotations))
	for k, v := range a.Annotations {
		out.Annotations[k] = p.redactor.Redact(v)
	}
	out.GeneratorURL = p.redactor.Redact(a.GeneratorURL)
	return out
}

// take waits for the next record at stage, retrying a failed read every
// second (logged); ok is false once ctx ends.
func (p *Pipeline) take(ctx context.Context, stage Stage) (r Record, ok bool) {
	for {
		r, err := p.q.Take(ctx, stage)
		if err == nil {
			return r, true
		}
		if ctx.Err() != nil {
			return r, false
		}
		p.logger.ErrorContext(ctx, "alert queue read", "err", err)
		sleep(ctx, time.Second)
	}
}

func (p *Pipeline) rawLoop(ctx context.Context) {
	for {
		r, ok := p.take(ctx, StageNew)
		if !ok {
			return
		}
		id := r.Alert.CorrelationID()
		if r.Alert.Status == StatusResolved {
			p.releaseRaw(ctx, id) // a held alert goes out before its resolution
			p.markResolved(id)
			p.d.Dispatch(ctx, p.notification(KindResolved, r), func() { p.finish(ctx, r) })
			continue
		}
		if p.analyzer != nil && p.o.HoldRaw > 0 {
			r.Held = true
			if err := p.q.Advance(r, StageRaw); err != nil {
				p.logger.ErrorContext(ctx, "alert queue write", "err", err)
			}
			p.hold(ctx, r)
			continue
		}
		p.d.Dispatch(ctx, p.notification(KindAlert, r), func() {
			if p.analyzer == nil {
				p.finish(ctx, r)
				return
			}
			if err := p.q.Advance(r, StageRaw); err != nil {
				p.logger.ErrorContext(ctx, "alert queue write; the raw alert may be sent again after a restart", "err", err)
			}
		})
		p.metrics.rawLatency.Observe(p.o.Now().Sub(r.Received).Seconds())
	}
}

// hold arms the timer that sends a held raw alert at its deadline.
func (p *Pipeline) hold(ctx context.Context, r Record) {
	id := r.Alert.CorrelationID()
	st := &holdState{rec: r}
	p.mu.Lock()
	p.held[id] = st
	st.timer = time.AfterFunc(max(r.Received.Add(p.o.HoldRaw).Sub(p.o.Now()), 0), func() { p.releaseRaw(ctx, id) })
	p.mu.Unlock()
}

// releaseRaw sends a held raw alert unless it went out already, alone or
// with its analysis.
func (p *Pipeline) releaseRaw(ctx context.Context, id string) {
	p.mu.Lock()
	st := p.held[id]
	if st == nil || st.rawSent || st.combined || ctx.Err() != nil {
		p.mu.Unlock()
		return
	}
	st.rawSent = true
	st.timer.Stop()
	p.mu.Unlock()
	p.d.Dispatch(ctx, p.notification(KindAlert, st.rec), nil)
	p.metrics.rawLatency.Observe(p.o.Now().Sub(st.rec.Received).Seconds())
}

// combine reports whether the analysis of a held alert can go out with
// it, as one message; otherwise the raw alert was sent and the analysis is
// a reply.
func (p *Pipeline) combine(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.held[id]
	delete(p.held, id)
	if st == nil || st.rawSent {
		return false
	}
	st.combined = true
	st.timer.Stop()
	return true
}

func (p *Pipeline) finish(ctx context.Context, r Record) {
	if err := p.q.Done(r); err != nil {
		p.logger.ErrorContext(ctx, "alert queue write; the alert may be sent again after a restart", "err", err)
	}
}

// markResolved records a resolution and cancels the running analysis.
func (p *Pipeline) markResolved(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.o.Now()
	p.resolved[id] = now
	if cancel := p.inflight[id]; cancel != nil {
		cancel(errResolved)
	}
	if len(p.resolved) > 10_000 {
		for k, t := range p.resolved {
			if now.Sub(t) > time.Hour {
				delete(p.resolved, k)
			}
		}
	}
}

func (p *Pipeline) analysisLoop(ctx context.Context) {
	for {
		r, ok := p.take(ctx, StageRaw)
		if !ok {
			return
		}
		p.analyze(ctx, r)
	}
}

func (p *Pipeline) analyze(ctx context.Context, r Record) {
	id := r.Alert.CorrelationID()
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.mu.Lock()
	_, resolved := p.resolved[id]
	if !resolved {
		p.inflight[id] = cancel
	}
	p.mu.Unlock()
	if resolved {
		p.combine(id)
		p.metrics.analyses.WithLabelValues("skipped_resolved").Inc()
		p.logger.InfoContext(ctx, "alert resolved before its analysis started: skipped", "correlation_id", id)
		p.finish(ctx, r)
		return
	}
	start := p.o.Now()
	an := p.analyzer.Analyze(actx, r.Alert)
	p.mu.Lock()
	delete(p.inflight, id)
	p.mu.Unlock()
	p.metrics.analysisDuration.Observe(p.o.Now().Sub(start).Seconds())
	switch {
	case ctx.Err() != nil:
		return // shutting down: the record stays and is analysed after restart
	case errors.Is(context.Cause(actx), errResolved):
		p.combine(id) // forget the hold; the raw alert went out on resolution
		p.metrics.analyses.WithLabelValues("canceled_resolved").Inc()
		p.logger.InfoContext(ctx, "alert resolved during its analysis: canceled", "correlation_id", id)
		p.finish(ctx, r)
		return
	case an.Error != "":
		p.metrics.analyses.WithLabelValues("llm_error").Inc()
	default:
		p.metrics.analyses.WithLabelValues("ok").Inc()
	}
	n := p.notification(KindAnalysis, r)
	if r.Held && p.combine(id) {
		n.Kind = KindAlert // one message: the alert with its analysis
		p.metrics.rawLatency.Observe(p.o.Now().Sub(r.Received).Seconds())
	}
	n.Analysis = &an
	p.d.Dispatch(ctx, n, func() { p.finish(ctx, r) })
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
