package anomaly

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// heldSource holds every query until release is closed, and records how
// many were in flight at once.
type heldSource struct {
	release chan struct{}

	mu                    sync.Mutex
	inFlight, peak, calls int
}

func (s *heldSource) Range(ctx context.Context, _ string, start, end time.Time, step time.Duration) ([]forecast.Sample, error) {
	s.mu.Lock()
	s.inFlight++
	s.calls++
	s.peak = max(s.peak, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var out []forecast.Sample
	for t, i := start, 0; !t.After(end); t, i = t.Add(step), i+1 {
		out = append(out, forecast.Sample{T: t, V: 100 + float64(i%7)})
	}
	return out, nil
}

// TestServiceBoundsWorkers checks schedule.workers: with eight (query,
// model) pairs due for a fit and two workers, exactly two queries are in
// flight while the datasource holds them (synctest.Wait returns once every
// goroutine is blocked, so a third worker would be blocked in the source
// too), and all eight run once the source answers.
func TestServiceBoundsWorkers(t *testing.T) {
	for _, workers := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var queries []string
				for i := range 8 {
					queries = append(queries, fmt.Sprintf("q%d: up", i))
				}
				src := &heldSource{release: make(chan struct{})}
				svc, _ := newTestService(t, "reader: {queries: {"+strings.Join(queries, ", ")+"}}\nmodels: {z: {class: zscore}}\n"+
					fmt.Sprintf("schedule: {fit_every: 1h, fit_window: 1d, infer_every: 1m, workers: %d}\n", workers), src)
				done := make(chan struct{})
				go func() {
					defer close(done)
					svc.RunOnce(t.Context(), time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC))
				}()
				synctest.Wait()
				src.mu.Lock()
				inFlight := src.inFlight
				src.mu.Unlock()
				if inFlight != workers {
					t.Errorf("%d queries in flight at once, want %d (schedule.workers)", inFlight, workers)
				}
				close(src.release)
				<-done
				if src.peak != workers || src.calls != len(queries) {
					t.Errorf("peak %d queries at once over %d queries, want %d over %d", src.peak, src.calls, workers, len(queries))
				}
			})
		})
	}
}
