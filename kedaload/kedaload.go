// Package kedaload drives a KEDA external scaler the way KEDA does: each
// poll of a ScaledObject is the three unary calls GetMetricSpec,
// GetMetrics and IsActive. It measures throughput and latency at a fixed
// rate, so that the latency includes any queueing the scaler causes.
package kedaload

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

// Options of a run.
type Options struct {
	// Objects are the ScaledObjects to poll, in turn.
	Objects []*externalscaler.ScaledObjectRef
	// Rate is the polls started per second; Duration how long to run.
	Rate     float64
	Duration time.Duration
	// Concurrency bounds the polls in flight (0: 256). A poll that finds
	// none free waits, and its wait counts in its latency.
	Concurrency int
	// MetricName sent in GetMetrics (the scaler ignores it; KEDA strips
	// its prefix).
	MetricName string
}

// Result of a run.
type Result struct {
	Polls, Errors int
	Elapsed       time.Duration
	// Latency percentiles of a whole poll, from the time it was due.
	P50, P90, P99, P999, Max time.Duration
	FirstError               error
	// CPU is the CPU time this process (the load generator) used during
	// the run, if CPUKnown (Linux: from /proc/self/stat, in 10 ms ticks).
	CPU      time.Duration
	CPUKnown bool
}

// PollsPerSecond is the achieved rate.
func (r Result) PollsPerSecond() float64 { return float64(r.Polls) / r.Elapsed.Seconds() }

func (r Result) String() string {
	s := fmt.Sprintf("%d polls in %s (%.0f/s), %d errors; latency of the three calls p50 %s, p90 %s, p99 %s, p99.9 %s, max %s",
		r.Polls, r.Elapsed.Round(time.Millisecond), r.PollsPerSecond(), r.Errors,
		r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond), r.P99.Round(time.Microsecond),
		r.P999.Round(time.Microsecond), r.Max.Round(time.Microsecond))
	if r.CPUKnown {
		s += fmt.Sprintf("; load generator CPU %.2f cores", r.CPU.Seconds()/r.Elapsed.Seconds())
	}
	return s
}

// Run polls the scaler at opts.Rate for opts.Duration.
func Run(ctx context.Context, client externalscaler.ExternalScalerClient, opts Options) (Result, error) {
	interval, total, err := opts.schedule()
	if err != nil {
		return Result{}, err
	}
	cpu := startCPU()
	lat := make([]time.Duration, total)
	var errs atomic.Int64
	var firstErr atomic.Value
	// A fixed pool of pollers takes polls as they fall due; the dispatcher
	// wakes at most once a millisecond and hands out every poll due by
	// then, so its own timer jitter does not pile onto the latencies.
	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job, opts.Concurrency)
	var wg sync.WaitGroup
	for range opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				ref := opts.Objects[j.i%len(opts.Objects)]
				if err := poll(ctx, client, ref, opts.MetricName); err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(err)
					}
				}
				lat[j.i] = time.Since(j.due)
			}
		}()
	}
	start := time.Now()
	for i := 0; i < total; {
		now := time.Now()
		for ; i < total; i++ {
			due := start.Add(time.Duration(i) * interval)
			if due.After(now) {
				break
			}
			jobs <- job{i, due}
		}
		if i < total {
			select {
			case <-ctx.Done():
				close(jobs)
				wg.Wait()
				return Result{}, ctx.Err()
			case <-time.After(time.Until(start.Add(time.Duration(i) * interval))):
			}
		}
	}
	close(jobs)
	wg.Wait()
	first, _ := firstErr.Load().(error)
	return summarize(lat, int(errs.Load()), first, time.Since(start), cpu), nil
}

// schedule checks opts and returns the time between polls and their
// number; it defaults opts.Concurrency.
func (opts *Options) schedule() (interval time.Duration, total int, err error) {
	if len(opts.Objects) == 0 || !(opts.Rate > 0) || opts.Duration <= 0 {
		return 0, 0, fmt.Errorf("load: need objects, a positive rate and a duration (got %d, %g, %s)", len(opts.Objects), opts.Rate, opts.Duration)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 256
	}
	interval = time.Duration(float64(time.Second) / opts.Rate)
	if interval <= 0 {
		return 0, 0, fmt.Errorf("load: a rate of %g/s leaves less than a nanosecond between polls", opts.Rate)
	}
	total = int(opts.Duration / interval)
	if total == 0 {
		return 0, 0, fmt.Errorf("load: %s at %g/s is not one poll", opts.Duration, opts.Rate)
	}
	return interval, total, nil
}

// summarize sorts lat, the latencies of all polls, into a Result, with
// the CPU used since cpu started.
func summarize(lat []time.Duration, errs int, first error, elapsed time.Duration, cpu cpuMeter) Result {
	res := Result{Polls: len(lat), Errors: errs, Elapsed: elapsed, FirstError: first}
	res.CPU, res.CPUKnown = cpu.used()
	slices.Sort(lat)
	at := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	res.P50, res.P90, res.P99, res.P999, res.Max = at(0.5), at(0.9), at(0.99), at(0.999), lat[len(lat)-1]
	return res
}

func poll(ctx context.Context, c externalscaler.ExternalScalerClient, ref *externalscaler.ScaledObjectRef, metric string) error {
	if _, err := c.GetMetricSpec(ctx, ref); err != nil {
		return fmt.Errorf("GetMetricSpec: %w", err)
	}
	if _, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref, MetricName: metric}); err != nil {
		return fmt.Errorf("GetMetrics: %w", err)
	}
	if _, err := c.IsActive(ctx, ref); err != nil {
		return fmt.Errorf("IsActive: %w", err)
	}
	return nil
}
