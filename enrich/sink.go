package enrich

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Kinds of notification.
const (
	KindAlert    = "alert"    // the raw alert, sent at once
	KindResolved = "resolved" // the alert resolved
	KindAnalysis = "analysis" // the analysis, a reply to the alert
)

// Notification is what the sinks deliver. Every text in it has been
// redacted. The analysis and the resolution carry the CorrelationID of
// the alert they answer.
type Notification struct {
	Kind          string    `json:"kind"`
	CorrelationID string    `json:"correlationId"`
	Receiver      string    `json:"receiver,omitempty"`
	GroupKey      string    `json:"groupKey,omitempty"`
	ExternalURL   string    `json:"externalURL,omitempty"`
	Received      time.Time `json:"received"`
	Alert         Alert     `json:"alert"`
	Analysis      *Analysis `json:"analysis,omitempty"`
}

// Analysis is the enrichment of one alert.
type Analysis struct {
	// RootCause is the model's concise root cause, or empty when the model
	// could not be asked (Error says why).
	RootCause string `json:"rootCause,omitempty"`
	// Commands are the model's suggested commands, each checked.
	Commands []CheckedCommand `json:"commands,omitempty"`
	// Context lists what was gathered, and Unavailable what could not be
	// and why ("logs: forbidden: ...").
	Context     []string `json:"context,omitempty"`
	Unavailable []string `json:"unavailable,omitempty"`
	// Model is the model that answered; Notes are the guardrails that
	// fired (truncated prompt, budget shrunk, fallback response format).
	Model string   `json:"model,omitempty"`
	Notes []string `json:"notes,omitempty"`
	Error string   `json:"error,omitempty"`
	// Proposals are the suggested commands foresight approver can execute
	// once a human approves (see Proposer); empty unless proposals are
	// configured.
	Proposals []ProposalView `json:"proposals,omitempty"`
}

// CheckedCommand is a suggested command and the verdict on it. Foresight
// never runs it.
type CheckedCommand struct {
	Command string `json:"command"`
	// Verdict is read_only, needs_human (mutating), rejected (shell
	// composition, not kubectl, unparsable) or unknown_object.
	Verdict string `json:"verdict"`
	// Problems name what is wrong: an object that does not exist and the
	// nearest that does, a pipe, a namespace that does not exist.
	Problems []string `json:"problems,omitempty"`
}

// Sink delivers notifications somewhere. Send returns an error wrapped by
// Permanent when retrying cannot help (a 4xx); other errors are retried.
type Sink interface {
	Name() string
	Send(ctx context.Context, n Notification) error
}

// permanentError marks a delivery error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool { return errors.As(err, new(permanentError)) }

// RetryAfterError asks the dispatcher to wait at least After before the
// next attempt (HTTP 429 with Retry-After).
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// DispatchOptions configure a Dispatcher. Zero values take defaults.
type DispatchOptions struct {
	// Backlog is each sink's delivery queue; when it is full a message is
	// dropped for that sink only (counted, logged). 0 means 10,000.
	Backlog int
	// Attempts per message; 0 means 8.
	Attempts int
	// Timeout of one attempt; 0 means 10 s.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// attempts (doubled each time, with ±50% jitter); 0 means 500 ms and
	// 30 s.
	MinBackoff, MaxBackoff time.Duration
}

// Dispatcher fans notifications out to sinks. Each sink has its own queue
// and goroutine, so a sink that retries or hangs delays only itself, and
// the messages of one sink keep their order (an analysis after its alert).
type Dispatcher struct {
	o       DispatchOptions
	logger  *slog.Logger
	metrics *Metrics
	queues  []chan delivery
	sinks   []Sink
	wg      sync.WaitGroup
}

// NewDispatcher starts one delivery goroutine per sink; they stop when ctx
// is canceled, abandoning what is still queued (the alert queue re-sends
// records that were not done).
func NewDispatcher(ctx context.Context, sinks []Sink, o DispatchOptions, logger *slog.Logger, metrics *Metrics) *Dispatcher {
	if o.Backlog <= 0 {
		o.Backlog = 10_000
	}
	if o.Attempts <= 0 {
		o.Attempts = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	d := &Dispatcher{o: o, logger: logger, metrics: metrics, sinks: sinks}
	for _, s := range sinks {
		ch := make(chan delivery, o.Backlog)
		d.queues = append(d.queues, ch)
		d.wg.Add(1)
		go d.loop(ctx, s, ch)
	}
	return d
}

// Wait returns when every delivery goroutine has stopped.
func (d *Dispatcher) Wait() { d.wg.Wait() }

// delivery is a notification on its way to one sink; pending counts the
// sinks that have not finished with it.
type delivery struct {
	n       Notification
	pending *atomic.Int32
	done    func()
}

func (dl delivery) finish() {
	if dl.pending.Add(-1) == 0 && dl.done != nil {
		// The callback writes to the queue file: run it aside, so that the
		// sink goes on delivering and concurrent writes share one fsync.
		go dl.done()
	}
}

// Dispatch hands n to every sink's queue without waiting for delivery.
// done, if not nil, is called once every sink has finished with n
// (delivered it, given up, or dropped it for a full backlog); it is not
// called if ctx ends first, so that the caller's record stays queued for
// the next start.
func (d *Dispatcher) Dispatch(ctx context.Context, n Notification, done func()) {
	if len(d.queues) == 0 {
		if done != nil {
			done()
		}
		return
	}
	dl := delivery{n: n, pending: new(atomic.Int32), done: done}
	dl.pending.Store(int32(len(d.queues)))
	for i, ch := range d.queues {
		select {
		case ch <- dl:
		default:
			d.metrics.sinkDeliveries.WithLabelValues(d.sinks[i].Name(), n.Kind, "dropped_backlog").Inc()
			d.logger.ErrorContext(ctx, "sink backlog full: message dropped for this sink",
				"sink", d.sinks[i].Name(), "kind", n.Kind, "correlation_id", n.CorrelationID, "backlog", d.o.Backlog)
			dl.finish()
		}
	}
}

func (d *Dispatcher) loop(ctx context.Context, s Sink, ch chan delivery) {
	defer d.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case dl := <-ch:
			if d.deliver(ctx, s, dl.n) {
				dl.finish()
			}
		}
	}
}

// deliver sends n to s, retrying with exponential backoff. It returns
// false if ctx ended before it finished.
func (d *Dispatcher) deliver(ctx context.Context, s Sink, n Notification) bool {
	backoff := d.o.MinBackoff
	var err error
	for attempt := 1; attempt <= d.o.Attempts; attempt++ {
		actx, cancel := context.WithTimeout(ctx, d.o.Timeout)
		err = s.Send(actx, n)
		cancel()
		if err == nil {
			d.metrics.sinkDeliveries.WithLabelValues(s.Name(), n.Kind, "sent").Inc()
			return true
		}
		if IsPermanent(err) || ctx.Err() != nil || attempt == d.o.Attempts {
			break
		}
		wait := backoff/2 + rand.N(backoff) // ±50% jitter
		var ra *RetryAfterError
		if errors.As(err, &ra) && ra.After > wait {
			wait = ra.After
		}
		d.metrics.sinkRetries.WithLabelValues(s.Name()).Inc()
		d.logger.WarnContext(ctx, "sink delivery failed; retrying", "sink", s.Name(), "kind", n.Kind,
			"correlation_id", n.CorrelationID, "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		backoff = min(2*backoff, d.o.MaxBackoff)
	}
	if ctx.Err() != nil {
		return false
	}
	d.metrics.sinkDeliveries.WithLabelValues(s.Name(), n.Kind, "failed").Inc()
	d.logger.ErrorContext(ctx, "sink delivery given up", "sink", s.Name(), "kind", n.Kind,
		"correlation_id", n.CorrelationID, "permanent", IsPermanent(err), "err", err)
	return true
}

// httpStatusError classifies an HTTP answer: 5xx and 429 are retried,
// other 4xx are permanent.
func httpStatusError(what string, code int, body []byte, retryAfter string) error {
	if len(body) > 300 {
		body = body[:300]
	}
	err := fmt.Errorf("%s: HTTP %d: %s", what, code, body)
	switch {
	case code == 429:
		return &RetryAfterError{Err: err, After: parseRetryAfter(retryAfter)}
	case code >= 500:
		return err
	case code >= 400:
		return Permanent(err)
	}
	return err
}

func parseRetryAfter(s string) time.Duration {
	var secs int
	if _, err := fmt.Sscanf(s, "%d", &secs); err == nil && secs > 0 && secs < 3600 {
		return time.Duration(secs) * time.Second
	}
	return 0
}
