package remediate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
// Two executions on the same object never interleave. On its first
// Execute the executor recalls the last hour's executions from the
// approver's Events, so that a restart neither refills the budgets nor
// skips the gate (an execution that changed nothing counts too: the
// cautious side).
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
	restore sync.Once
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
	e.restore.Do(func() { e.recall(ctx) })
	a := ap.Action
	var r Result
	if ap.Approver == "" {
		r = e.refuse(ctx, ap, &Refusal{Reason: ReasonInvalid, Message: "the approval names no approver: every execution must record who approved it"})
	} else {
		unlock, err := e.locks.lock(ctx, a.Resource+"/"+a.Namespace+"/"+a.Name)
		if err != nil {
			r = e.refuse(ctx, ap, &Refusal{Reason: ReasonCanceled, Message: fmt.Sprintf(
				"%s was not run: another action on the same object was still running when the request ended (%v); approve again", a, err)})
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
	committed := false
	defer func() {
		if !committed {
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
				err = &Refusal{Reason: ReasonCanceled, Message: fmt.Sprintf("%s was not run: %v", a, err)}
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
	if _, err := p.apply(ctx, true); err != nil {
		if r := refusalFromAPI(a, p.write, err); r != nil {
			return e.refuse(ctx, ap, r)
		}
		if a.Kind == RolloutUndo {
			if r := e.undoDrift(ctx, a); r != nil {
				return e.refuse(ctx, ap, r)
			}
		}
		return e.refuse(ctx, ap, &Refusal{Reason: ReasonDryRun, Message: fmt.Sprintf(
			"the API server rejected the dry run of %s, so nothing was done: %s", a, apiMessage(err))})
	}
	if turn != nil {
		turn.began()
	}
	msg, err := p.apply(ctx, false)
	if err != nil {
		if r := refusalFromAPI(a, p.write, err); r != nil {
			return e.refuse(ctx, ap, r)
		}
		m := fmt.Sprintf("the API server rejected %s after its dry run passed: %s", a, apiMessage(err))
		e.record(ctx, ap, EventFailed, ReasonAPIError, m)
		return Result{Outcome: OutcomeFailed, Reason: ReasonAPIError, Message: m}
	}
	e.budget.commit(a.Kind, e.now())
	committed = true
	e.record(ctx, ap, EventExecuted, "", msg)
	return Result{Outcome: OutcomeExecuted, Message: msg}
}

// recall recovers what an earlier run of the approver executed in the
// last hour from its Events (reason RemediationExecuted), so that a
// restart neither refills the hourly budgets nor lets a disruptive action
// skip the stability gate. Events are best effort (and the API server
// keeps them for an hour by default, the budget's window): what cannot be
// read is logged, and the executor starts from what it has.
func (e *Executor) recall(ctx context.Context) {
	if e.client == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	evs, err := e.client.EventsV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "reportingController=" + ReportingController})
	if err != nil {
		e.logger.WarnContext(ctx, "the executions of the last hour could not be read back from the approver's Events: the hourly budgets and the stability gate start empty; grant list on events.events.k8s.io cluster-wide",
			"err", err)
		return
	}
	now := e.now()
	n := 0
	for _, ev := range evs.Items {
		k := Kind(ev.Action)
		t := ev.EventTime.Time
		if ev.Reason != eventReason(EventExecuted) || resourcesOf[k] == nil || t.IsZero() || t.After(now) || now.Sub(t) >= budgetWindow {
			continue
		}
		e.budget.restore(k, t)
		if k.Disruptive() {
			e.gate.restore(t, fmt.Sprintf("%s of %s %s (before a restart)", k, strings.ToLower(ev.Regarding.Kind), ev.Regarding.Name))
		}
		n++
	}
	e.logger.InfoContext(ctx, "executions of the last hour recalled from the approver's Events", "count", n)
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
	m := fmt.Sprintf("%s was not run: %v; check that the API server is reachable and approve again", ap.Action, err)
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
