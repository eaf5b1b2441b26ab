package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/foresight-aiops/foresight/kedaload"
)

const loadtestHelp = `Usage: foresight loadtest [--addr HOST:PORT] [flags]

Polls an external scaler the way KEDA does, each poll being the three calls
GetMetricSpec, GetMetrics and IsActive, for many ScaledObjects at a fixed
rate, and prints the achieved rate and the latency percentiles of a poll
(measured from when it was due, so queueing counts). A warm-up round polls
every object once and waits, so that their models are fitted first.

Examples:
  foresight serve --demo --grpc-addr 127.0.0.1:9090 &
  foresight loadtest --addr 127.0.0.1:9090 --objects 1000 --rate 5000 --duration 30s
`

func runLoadtest(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	var (
		addr, query, target, history string
		cpuProfile                   string
		objects, concurrency         int
		procs, gcPercent             int
		rate                         float64
		duration, warmup             time.Duration
	)
	fs := newFlagSet("loadtest", loadtestHelp, stdout)
	fs.StringVar(&addr, "addr", "127.0.0.1:9090", "`address` of the scaler (plaintext gRPC)")
	fs.IntVar(&objects, "objects", 1000, "ScaledObjects to poll, each with its own query and model")
	fs.Float64Var(&rate, "rate", 5000, "polls per second")
	duration, warmup = 30*time.Second, 15*time.Second
	fs.Var((*durationFlag)(&duration), "duration", "how long to poll at the rate")
	fs.Var((*durationFlag)(&warmup), "warmup", "wait after the warm-up round, for the models to fit")
	fs.IntVar(&concurrency, "concurrency", 256, "polls in flight at most")
	fs.StringVar(&query, "query", `sum(rate(http_requests_total{app="app-%d"}[2m]))`, "query of object i (%d is i)")
	fs.StringVar(&target, "target", "50", "targetPerReplica of every object")
	fs.StringVar(&history, "history", "2d", "history of every object (short histories fit fast)")
	fs.IntVar(&procs, "gomaxprocs", 1, "threads running the load generator's Go code at once (GOMAXPROCS; the environment variable wins if set; 0: one per core). It shares the cores with the scaler under test: with one, a response wakes no other thread (futex calls per poll fell from 1.4-2.4 to 0.2-0.4)")
	fs.IntVar(&gcPercent, "gc-percent", defaultGCPercent, "the load generator's garbage collector target (GOGC; the environment variable wins if set; 0: the runtime's default), as serve --gc-percent")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write the load generator's CPU profile of the measured run to `file` (go tool pprof reads it); see also serve --pprof for the scaler's")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if objects <= 0 || !(rate > 0) || duration <= 0 {
		return usagef("--objects, --rate and --duration must be positive")
	}
	if procs < 0 {
		return usagef("--gomaxprocs must not be negative")
	}
	// The generator stands in for KEDA's operator, which runs elsewhere in
	// a cluster: here it shares the cores with the scaler it measures, so
	// it spends as little of them as it can on its own runtime. The calls
	// it makes are KEDA's.
	if os.Getenv("GOMAXPROCS") == "" && procs > 0 {
		runtime.GOMAXPROCS(procs)
	}
	if pct, ok := gcTarget(gcPercent, os.Getenv); ok {
		debug.SetGCPercent(pct)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", addr, err)
	}
	defer conn.Close()
	client := externalscaler.NewExternalScalerClient(conn)
	refs := make([]*externalscaler.ScaledObjectRef, objects)
	for i := range refs {
		refs[i] = &externalscaler.ScaledObjectRef{Namespace: "loadtest", Name: fmt.Sprintf("so-%d", i), ScalerMetadata: map[string]string{
			"scalerAddress": addr, "query": fmt.Sprintf(query, i), "targetPerReplica": target, "history": history,
		}}
	}
	logger.InfoContext(ctx, "warm-up: one poll of every object", "objects", objects)
	if _, err := kedaload.Run(ctx, client, kedaload.Options{Objects: refs, Rate: float64(objects) / 2, Duration: 2 * time.Second}); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(warmup):
	}
	if cpuProfile != "" {
		stop, err := startCPUProfile(cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	res, err := kedaload.Run(ctx, client, kedaload.Options{Objects: refs, Rate: rate, Duration: duration, Concurrency: concurrency, MetricName: "s0-foresight"})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res)
	if res.FirstError != nil {
		fmt.Fprintln(stdout, "first error:", res.FirstError)
	}
	return nil
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating the CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting the CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
