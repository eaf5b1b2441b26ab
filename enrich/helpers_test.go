package enrich

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

// collector is a receiver of the generic webhook sink: it checks the
// signature and passes each notification, or the failure, to channels.
type collector struct {
	*httptest.Server
	got  chan Notification
	errs chan error
}

func newCollector(t *testing.T, secret string, handle func(w http.ResponseWriter, n Notification) bool) *collector {
	t.Helper()
	c := &collector{got: make(chan Notification, 10_000), errs: make(chan error, 100)}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if secret != "" {
			if want := Sign([]byte(secret), r.Header.Get(HeaderTimestamp), body); r.Header.Get(HeaderSignature) != want {
				c.errs <- &signatureError{got: r.Header.Get(HeaderSignature)}
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		var n Notification
		if err := json.Unmarshal(body, &n); err != nil {
			c.errs <- err
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if r.Header.Get(HeaderCorrelationID) != n.CorrelationID {
			c.errs <- &signatureError{got: "correlation header " + r.Header.Get(HeaderCorrelationID)}
		}
		if handle != nil && !handle(w, n) {
			return
		}
		c.got <- n
	}))
	t.Cleanup(c.Close)
	return c
}

type signatureError struct{ got string }

func (e *signatureError) Error() string { return "bad signature " + e.got }

// next waits for the next notification, failing t on a handler error or
// after a minute (a bound for a broken run, not a performance check).
func (c *collector) next(t *testing.T) Notification {
	t.Helper()
	select {
	case n := <-c.got:
		return n
	case err := <-c.errs:
		t.Fatalf("receiver: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("no notification within a minute")
	}
	return Notification{}
}

// startPipeline runs queue, dispatcher and pipeline on a webhook sink until
// the test ends, and returns the intake handler.
func startPipeline(t *testing.T, sinks []Sink, an Analyzer, io IntakeOptions) (http.Handler, *Queue) {
	t.Helper()
	q := openTestQueue(t, filepath.Join(t.TempDir(), "queue.db"), QueueOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	d := NewDispatcher(ctx, sinks, DispatchOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, nil, nil)
	p := NewPipeline(q, d, an, nil, PipelineOptions{}, nil, nil)
	done := make(chan struct{})
	go func() { p.Run(ctx); d.Wait(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return NewIntake(q, io, nil, nil), q
}
