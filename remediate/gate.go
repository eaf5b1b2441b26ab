package remediate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// stabilityProbe reports whether the cluster is stable now; since is when
// the last disruptive action began (pods created after it count as new).
// why says what is unstable. An error counts as unstable.
type stabilityProbe func(ctx context.Context, since time.Time) (stable bool, why string, err error)

// gate is the stability gate of disruptive actions (Kind.Disruptive): at
// most one is in flight, and after one has run the next waits until the
// cluster has been stable, continuously, for cfg.Settle, as seen by probe
// every cfg.Poll. Waiters are served one at a time, first come first
// served; each gives up cfg.MaxWait after it arrived.
//
// The first disruptive action waits only if the cluster is unstable when
// it arrives (see enter). The gate's memory is this process's, plus what
// restore recovered at start from the approver's Events of the last hour
// (or assume, while those cannot be read); with several approver replicas
// each has its own queue (the chart runs one).
//
// Time comes from now and the timers of package time, so that tests run
// the gate in a testing/synctest bubble.
type gate struct {
	cfg      GateConfig
	probe    stabilityProbe
	now      func() time.Time
	waiting  func(delta int) // the number of waiters changed by delta
	inFlight func(bool)

	mu       sync.Mutex
	queue    []chan struct{} // FIFO; the channel of queue[0] is closed: it holds the turn
	last     time.Time       // when the last disruptive action began; zero: none yet
	lastWhat string
}

func newGate(cfg GateConfig, probe stabilityProbe, now func() time.Time) *gate {
	return &gate{cfg: cfg, probe: probe, now: now, waiting: func(int) {}, inFlight: func(bool) {}}
}

// restore remembers a disruptive action that began at t (recovered from
// the Events of an earlier run of the approver), if it is the latest.
func (g *gate) restore(t time.Time, what string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.last) {
		g.last, g.lastWhat = t, what
	}
}

// pass is a caller's turn at the gate: it calls began just before it acts
// (the cluster-wide in-flight period starts, and the next waiter's settle
// period will count from after it) and release when done, whether it
// acted or not.
type pass struct {
	g       *gate
	ch      chan struct{}
	what    string
	started bool
	once    sync.Once
}

func (p *pass) began() {
	p.g.mu.Lock()
	p.g.last = p.g.now()
	p.g.lastWhat = p.what
	p.g.mu.Unlock()
	p.started = true
	p.g.inFlight(true)
}

func (p *pass) release() {
	p.once.Do(func() {
		if p.started {
			p.g.inFlight(false)
		}
		p.g.leave(p.ch)
	})
}

// assume makes the gate act as if a disruptive action had begun at t,
// unless it knows of one: the history is unknown (see
// Executor.recallHistory).
func (g *gate) assume(t time.Time, what string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last.IsZero() {
		g.last, g.lastWhat = t, what
	}
}

// enter waits for the caller's turn and then for the cluster to settle.
// what names the action (for messages). waiting is called once, before
// the caller first has to wait, with a message for the human. It returns a
// *Refusal with ReasonGate after cfg.MaxWait, or the context's error.
//
// The cluster is always probed at least once. After a disruptive action
// began (last), the next passes only once the probe has said stable,
// continuously, for cfg.Settle, pods counting as new from last on. Before
// any (the first since the process started, with nothing recalled), it
// passes at once if the first probe says stable, and otherwise waits as
// the next would, pods counting as new from cfg.Settle before it arrived.
func (g *gate) enter(ctx context.Context, what string, waiting func(msg string)) (*pass, error) {
	arrived := g.now()
	deadline := arrived.Add(g.cfg.MaxWait)
	ch := make(chan struct{})
	g.mu.Lock()
	g.queue = append(g.queue, ch)
	if len(g.queue) == 1 {
		close(ch)
	}
	ahead, last, lastWhat := len(g.queue)-1, g.last, g.lastWhat
	g.mu.Unlock()

	waited := false
	wait := func(why string) {
		if waited {
			return
		}
		waited = true
		g.waiting(1)
		msg := fmt.Sprintf("waiting for the stability gate: at most one disruptive action runs at a time, and the next only once the cluster (every node Ready, no new Pending or terminating pod, every PodDisruptionBudget healthy) has been stable for %s", g.cfg.Settle)
		if !last.IsZero() {
			msg += fmt.Sprintf("; the last one, %s, began at %s UTC", lastWhat, last.UTC().Format(time.TimeOnly))
		}
		if ahead > 0 {
			msg += fmt.Sprintf("; %d disruptive action(s) ahead of it (in flight or waiting)", ahead)
		}
		if why != "" {
			msg += "; the cluster is not stable now: " + why
		}
		msg += fmt.Sprintf("; it gives up at %s UTC (gate.maxWait %s)", deadline.UTC().Format(time.TimeOnly), g.cfg.MaxWait)
		waiting(msg)
	}
	defer func() {
		if waited {
			g.waiting(-1)
		}
	}()
	if ahead > 0 || !last.IsZero() {
		wait("")
	}

	// Our turn.
	if err := g.sleepUntil(ctx, ch, deadline); err != nil {
		g.leave(ch)
		if errors.Is(err, errDeadline) {
			return nil, &Refusal{Reason: ReasonGate, Message: fmt.Sprintf(
				"%s waited %s (gate.maxWait) behind other disruptive actions and was not run; approve it again later", what, g.cfg.MaxWait)}
		}
		return nil, err
	}
	p := &pass{g: g, ch: ch, what: what}
	g.mu.Lock()
	last, lastWhat = g.last, g.lastWhat
	g.mu.Unlock()
	first := last.IsZero()
	since := last
	if first {
		since = arrived.Add(-g.cfg.Settle)
	}

	// The cluster must have been stable for Settle, seen by polls (the
	// first action: stable at the first poll, or else as the others).
	var stableSince time.Time
	why := "not checked yet"
	for polls := 0; ; polls++ {
		ok, w, err := g.probe(ctx, since)
		if err != nil {
			ok, w = false, "the stability check failed: "+err.Error()
		}
		t := g.now()
		if ok {
			if first && polls == 0 {
				return p, nil
			}
			if stableSince.IsZero() {
				stableSince = t
			}
			if t.Sub(stableSince) >= g.cfg.Settle {
				return p, nil
			}
		} else {
			stableSince, why = time.Time{}, w
			wait(w)
		}
		if !t.Before(deadline) {
			p.release()
			after := ""
			if !first {
				after = fmt.Sprintf(" after %s began at %s UTC", lastWhat, last.UTC().Format(time.TimeOnly))
			}
			return nil, &Refusal{Reason: ReasonGate, Message: fmt.Sprintf(
				"the cluster was not stable for %s (gate.settle) within %s (gate.maxWait)%s: %s; nothing was done: approve it again once the cluster has settled",
				g.cfg.Settle, g.cfg.MaxWait, after, why)}
		}
		next := t.Add(g.cfg.Poll)
		if ok {
			next = minTime(next, stableSince.Add(g.cfg.Settle))
		}
		next = minTime(next, deadline)
		if err := g.sleepUntil(ctx, nil, next); err != nil && !errors.Is(err, errDeadline) {
			p.release()
			return nil, err
		}
	}
}

// errDeadline is sleepUntil's "the time came".
var errDeadline = errors.New("deadline")

// sleepUntil waits for ch to be closed (nil: never), for t (errDeadline)
// or for ctx.
func (g *gate) sleepUntil(ctx context.Context, ch <-chan struct{}, t time.Time) error {
	if ch != nil {
		select {
		case <-ch:
			return nil
		default:
		}
	}
	timer := time.NewTimer(t.Sub(g.now()))
	defer timer.Stop()
	select {
	case <-ch:
		return nil
	case <-timer.C:
		return errDeadline
	case <-ctx.Done():
		return fmt.Errorf("the wait for the stability gate ended: %w", ctx.Err())
	}
}

// leave takes ch out of the queue and, if it held the turn, hands the turn
// to the next waiter.
func (g *gate) leave(ch chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.Index(g.queue, ch)
	if i < 0 {
		return
	}
	g.queue = slices.Delete(g.queue, i, i+1)
	if i == 0 && len(g.queue) > 0 {
		close(g.queue[0])
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
