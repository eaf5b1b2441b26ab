package remediate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ExecutorOptions configures an Executor. Every field may be left zero.
type ExecutorOptions struct {
	// Audit records refusals, waits and executions (nil: not recorded).
	Audit *Audit
	// Registerer receives the executor's metrics (nil: not exported).
	Registerer prometheus.Registerer
	// Logger (nil: discard).
	Logger *slog.Logger
	// Now is the clock of the budgets and the audit (nil: time.Now).
	Now func() time.Time
}

// Executor runs approved actions, with the guardrails in this order, each
// refusal audited and counted:
//
//  1. the allowlist (Config.Check): first without labels, before any
//     read (so an action outside it is refused as such, not as forbidden
//     by RBAC), then against the live object's labels (gone is a
//     refusal);
//  2. drift: the object's UID, a rollout-undo's current revision and
//     target ReplicaSet, a scale's current replicas, as proposed;
//  3. the hourly budget of the kind (sliding window; 0 forbids);
//  4. for disruptive kinds (cordon, evict), the stability gate, after
//     which 1 and 2 are checked again on a fresh read;
//  5. a server-side dry run of the exact request;
//  6. the request itself, as kubectl makes it.
//
// Two executions on the same object never interleave. Before its first
// action the executor recalls the last hour's executions from the
// approver's Events, so that a restart neither refills the budgets nor
// skips the gate (an execution that changed nothing counts too: the
// cautious side); see recallHistory for what happens while it cannot.
//
// A write whose answer is lost (a timeout, a lost connection, a 5xx) is
// reported as failed with ReasonUnknownResult: it may have been applied,
// so it spends the budget and counts for the gate. Writes carry the
// resourceVersion read (a conflict reads the object again and runs the
// checks again, up to writeAttempts times), and a write that has begun
// is never cut off by ctx.
type Executor struct {
	client  kubernetes.Interface
	cfg     *Config
	audit   *Audit
	logger  *slog.Logger
	now     func() time.Time
	metrics *executorMetrics
	budget  *budget
	gate    *gate
	locks   keyedLock
	started time.Time // executions after it are this process's

	recallMu sync.Mutex
	recalled bool
}

// NewExecutor returns an Executor acting through client (the approver's
// own ServiceAccount) under cfg, which must have been validated (Parse or
// Config.Validate).
func NewExecutor(client kubernetes.Interface, cfg *Config, o ExecutorOptions) *Executor {
	e := &Executor{client: client, cfg: cfg, audit: o.Audit, logger: o.Logger, now: o.Now}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.started = e.now()
	e.budget = newBudget(cfg.Budgets)
	e.metrics = newExecutorMetrics(o.Registerer, func(k Kind) int { return e.budget.remaining(k, e.now()) })
	e.gate = newGate(cfg.Gate, e.stable, e.now)
	e.gate.waiting = func(d int) { e.metrics.waiting.Add(float64(d)) }
	e.gate.inFlight = func(b bool) {
		if b {
			e.metrics.inFlight.Set(1)
		} else {
			e.metrics.inFlight.Set(0)
		}
	}
	return e
}

// Execute runs the approved action through the guardrails and returns what
// became of it, with a message for the human who approved it. A disruptive
// action blocks while it waits for the stability gate (up to
// cfg.Gate.MaxWait, or until ctx ends).
func (e *Executor) Execute(ctx context.Context, ap Approval) Result {
	e.recallHistory(ctx)
	a := ap.Action
	var r Result
	if ap.Approver == "" {
		r = e.refuse(ctx, ap, &Refusal{Reason: ReasonInvalid, Message: "the approval names no approver: every execution must record who approved it"})
	} else {
		unlock, err := e.locks.lock(ctx, a.Resource+"/"+a.Namespace+"/"+a.Name)
		if err != nil {
			r = e.refuse(ctx, ap, &Refusal{Reason: ReasonCanceled, Message: fmt.Sprintf(
				"%s was not run: another action on the same object was still running when the request ended (%v); approve it again later", a, err)})
		} else {
			r = e.execute(ctx, ap)
			unlock()
		}
	}
	kind := string(a.Kind)
	if _, ok := resourcesOf[a.Kind]; !ok {
		kind = "unknown" // never a label value from outside
	}
	reason := r.Reason
	if reason == "" {
		reason = "none"
	}
	e.metrics.actions.WithLabelValues(kind, r.Outcome, reason).Inc()
	level := slog.LevelInfo
	if r.Outcome != OutcomeExecuted {
		level = slog.LevelWarn
	}
	e.logger.Log(ctx, level, "remediation "+r.Outcome, "kind", kind, "object", objectRef(a), "approver", ap.Approver,
		"proposal", ap.ProposalID, "reason", r.Reason, "message", r.Message)
	return r
}

func (e *Executor) execute(ctx context.Context, ap Approval) Result {
	a := ap.Action
	if err := e.cfg.mayAllow(a); err != nil {
		return e.fail(ctx, ap, err)
	}
	p, res, done := e.check(ctx, ap)
	if done {
		return res
	}
	if err := e.budget.reserve(a.Kind, e.now()); err != nil {
		return e.fail(ctx, ap, err)
	}
	spent := false
	defer func() {
		if !spent {
			e.budget.cancel(a.Kind, e.now())
		}
	}()
	var turn *pass
	if a.Kind.Disruptive() {
		t, err := e.gate.enter(ctx, a.String(), func(msg string) {
			e.record(ctx, ap, EventWaiting, "", msg)
		})
		if err != nil {
			if _, ok := IsRefusal(err); !ok {
				err = &Refusal{Reason: ReasonCanceled, Message: fmt.Sprintf("%s was not run: %v; approve it again later", a, err)}
			}
			return e.fail(ctx, ap, err)
		}
		turn = t
		defer turn.release()
		// The wait may have been long: look at the object again.
		if p, res, done = e.check(ctx, ap); done {
			return res
		}
	}
	for attempt := 1; ; attempt++ {
		retry := attempt < writeAttempts
		if err := e.apply(ctx, p, true); err != nil {
			if retry && apierrors.IsConflict(err) {
				if p, res, done = e.check(ctx, ap); done {
					return res
				}
				continue
			}
			if r := refusalFromAPI(a, p.write, err); r != nil {
				return e.refuse(ctx, ap, r)
			}
			if a.Kind == RolloutUndo {
				if r := e.undoDrift(ctx, a); r != nil {
					return e.refuse(ctx, ap, r)
				}
			}
			return e.refuse(ctx, ap, &Refusal{Reason: ReasonDryRun, Message: fmt.Sprintf(
				"the API server rejected the dry run of %s, so nothing was done: %s; approve it again once that is fixed", a, apiMessage(err))})
		}
		if turn != nil && !turn.started {
			turn.began()
		}
		msg, err := e.write(ctx, p)
		switch {
		case err == nil:
			e.budget.commit(a.Kind, e.now())
			spent = true
			e.record(ctx, ap, EventExecuted, "", msg)
			return Result{Outcome: OutcomeExecuted, Message: msg}
		case !definiteRejection(err):
			// The request went out and its answer was lost: it may have
			// been applied. Count it as executed (the budget, the gate),
			// never as refused.
			e.budget.commit(a.Kind, e.now())
			spent = true
			m := fmt.Sprintf("%s may have been applied: the API server's answer was lost (%v); check with %s before anything else, and get a fresh proposal from a new analysis if it is still needed",
				a, err, checkCommand(a))
			e.record(ctx, ap, EventFailed, ReasonUnknownResult, m)
			return Result{Outcome: OutcomeFailed, Reason: ReasonUnknownResult, Message: m}
		case retry && apierrors.IsConflict(err):
			// The object changed between the read and the write (the
			// write carried its resourceVersion): read it again, and run
			// the checks on what it is now.
			if p, res, done = e.check(ctx, ap); done {
				return res
			}
			continue
		}
		if r := refusalFromAPI(a, p.write, err); r != nil {
			return e.refuse(ctx, ap, r)
		}
		m := fmt.Sprintf("the API server rejected %s after its dry run passed, so nothing was done: %s; approve it again once that is fixed", a, apiMessage(err))
		e.record(ctx, ap, EventFailed, ReasonAPIError, m)
		return Result{Outcome: OutcomeFailed, Reason: ReasonAPIError, Message: m}
	}
}

// writeAttempts bounds the attempts of an action whose write meets a
// conflict (the object changed since it was read; each attempt reads it
// again and runs the checks again).
const writeAttempts = 3

// apply runs p's dry run, bounded by callTimeout.
func (e *Executor) apply(ctx context.Context, p *plan, dryRun bool) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := p.apply(ctx, dryRun)
	return err
}

// write runs p for real, bounded by callTimeout but not by ctx: a write
// that has begun is never cut off by the approver's shutdown or the end
// of the request (its result would be unknown).
func (e *Executor) write(ctx context.Context, p *plan) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	return p.apply(ctx, false)
}

// definiteRejection reports whether err is the API server's answer that
// it did not apply the request: a 4xx status (except 408). Anything else
// (a timeout, a lost connection, a 5xx, a canceled context) leaves the
// request's fate unknown.
func definiteRejection(err error) bool {
	var s apierrors.APIStatus
	if !errors.As(err, &s) {
		return false
	}
	c := s.Status().Code
	return c >= 400 && c < 500 && c != http.StatusRequestTimeout
}

// checkCommand is the kubectl command that shows whether a took effect.
func checkCommand(a Action) string {
	switch a.Kind {
	case RolloutUndo, RolloutRestart:
		return fmt.Sprintf("kubectl rollout history %s/%s -n %s", strings.TrimSuffix(a.Resource, "s"), a.Name, a.Namespace)
	}
	if a.Namespace == "" {
		return fmt.Sprintf("kubectl get %s %s", strings.TrimSuffix(a.Resource, "s"), a.Name)
	}
	return fmt.Sprintf("kubectl get %s %s -n %s", strings.TrimSuffix(a.Resource, "s"), a.Name, a.Namespace)
}

// recallHistory makes sure the executor knows what an earlier run of the
// approver executed in the last hour before it acts. Until recall has
// succeeded once it is tried again on every Execute, and meanwhile a
// disruptive action is treated as if one had just begun: it waits for the
// cluster to be stable for the settle period (the budgets count only
// this process's executions). Both states are exported.
func (e *Executor) recallHistory(ctx context.Context) {
	e.recallMu.Lock()
	defer e.recallMu.Unlock()
	if e.recalled {
		return
	}
	if err := e.recall(ctx); err != nil {
		e.metrics.recallFailures.Inc()
		e.gate.assume(e.now(), "an unknown one (the approver's Events of the last hour could not be read)")
		e.logger.WarnContext(ctx, "the executions of the last hour could not be read back from the approver's Events: the hourly budgets count only this process's executions, and disruptive actions wait for the settle period as if one had just run; retried on the next approval; grant list on events.events.k8s.io cluster-wide",
			"err", err)
		return
	}
	e.recalled = true
	e.metrics.recalled.Set(1)
}

// recall recovers what an earlier run of the approver executed in the
// last hour from its Events (reasons RemediationExecuted and
// RemediationUnknownResult), so that a restart neither refills the hourly
// budgets nor lets a disruptive action skip the stability gate. Events
// newer than this executor are its own (already counted). The API server
// keeps Events for an hour by default, the budget's window.
func (e *Executor) recall(ctx context.Context) error {
	if e.client == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	evs, err := e.client.EventsV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "reportingController=" + ReportingController})
	if err != nil {
		return fmt.Errorf("list the approver's Events: %w", err)
	}
	now := e.now()
	n := 0
	for _, ev := range evs.Items {
		k := Kind(ev.Action)
		t := ev.EventTime.Time
		if (ev.Reason != eventReason(EventExecuted) && ev.Reason != unknownResultReason) || resourcesOf[k] == nil ||
			t.IsZero() || !t.Before(e.started) || t.After(now) || now.Sub(t) >= budgetWindow {
			continue
		}
		e.budget.restore(k, t)
		if k.Disruptive() {
			e.gate.restore(t, fmt.Sprintf("%s of %s %s (before a restart)", k, strings.ToLower(ev.Regarding.Kind), ev.Regarding.Name))
		}
		n++
	}
	e.logger.InfoContext(ctx, "executions of the last hour recalled from the approver's Events", "count", n)
	return nil
}

// check reads the live object and runs the allowlist and drift checks. It
// returns done with the Result when the action must not go on (refused,
// or nothing to do).
func (e *Executor) check(ctx context.Context, ap Approval) (*plan, Result, bool) {
	a := ap.Action
	p, err := e.planFor(ctx, a)
	if err != nil {
		return nil, e.fail(ctx, ap, err), true
	}
	if err := e.cfg.Check(a, labelsOrEmpty(p.labels)); err != nil {
		return nil, e.fail(ctx, ap, err), true
	}
	if p.refusal != nil {
		return nil, e.refuse(ctx, ap, p.refusal), true
	}
	if p.noop != "" {
		e.record(ctx, ap, EventExecuted, "", p.noop)
		return nil, Result{Outcome: OutcomeExecuted, Message: p.noop}, true
	}
	return p, Result{}, false
}

// undoDrift re-reads a Deployment after its undo's dry run failed: a
// failed test operation of the patch means it changed since the check.
func (e *Executor) undoDrift(ctx context.Context, a Action) *Refusal {
	p, err := e.planFor(ctx, a)
	if err != nil || p.refusal == nil || p.refusal.Reason != ReasonDrifted {
		return nil
	}
	return p.refusal
}

// labelsOrEmpty makes the live object's labels non-nil: the object was
// read, so a selector is checked against them (nil would mean unknown).
func labelsOrEmpty(l map[string]string) map[string]string {
	if l == nil {
		return map[string]string{}
	}
	return l
}

// fail turns err into a Result: a Refusal as itself, an API error as the
// refusal it implies (forbidden, gone, ...), anything else as a failure
// (nothing was done, the API server could not be asked).
func (e *Executor) fail(ctx context.Context, ap Approval, err error) Result {
	if r, ok := IsRefusal(err); ok {
		return e.refuse(ctx, ap, r)
	}
	var ae *apiError
	if errors.As(err, &ae) {
		if r := refusalFromAPI(ap.Action, ae.rule, ae.err); r != nil {
			return e.refuse(ctx, ap, r)
		}
	}
	m := fmt.Sprintf("%s was not run: %v; check that the API server is reachable and approve it again", ap.Action, err)
	e.record(ctx, ap, EventFailed, ReasonAPIError, m)
	return Result{Outcome: OutcomeFailed, Reason: ReasonAPIError, Message: m}
}

func (e *Executor) refuse(ctx context.Context, ap Approval, r *Refusal) Result {
	e.record(ctx, ap, EventRefused, r.Reason, r.Message)
	return Result{Outcome: OutcomeRefused, Reason: r.Reason, Message: r.Message}
}

func (e *Executor) record(ctx context.Context, ap Approval, event, reason, msg string) {
	e.audit.Record(ctx, Entry{
		Time: e.now(), Event: event, ProposalID: ap.ProposalID, CorrelationID: ap.CorrelationID,
		Action: ap.Action, Command: ap.Action.String(), Actor: ap.Approver, Via: ap.Via,
		Reason: reason, Message: msg,
	})
}

// keyedLock is a mutex per key whose Lock gives up with the context.
type keyedLock struct {
	mu sync.Mutex
	m  map[string]*keyed
}

type keyed struct {
	ch   chan struct{} // holds a token while locked
	refs int
}

func (l *keyedLock) lock(ctx context.Context, key string) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*keyed{}
	}
	k := l.m[key]
	if k == nil {
		k = &keyed{ch: make(chan struct{}, 1)}
		l.m[key] = k
	}
	k.refs++
	l.mu.Unlock()
	put := func() {
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
	select {
	case k.ch <- struct{}{}:
		return func() { <-k.ch; put() }, nil
	case <-ctx.Done():
		put()
		return nil, ctx.Err()
	}
}
