package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/foresight-aiops/foresight/kedaload"
	"github.com/foresight-aiops/foresight/scaler"
)

const loadtestHelp = `Usage: foresight loadtest [--addr HOST:PORT] [flags]

Polls an external scaler the way KEDA does, each poll being the three calls
GetMetricSpec, GetMetrics and IsActive, for many ScaledObjects at a fixed
rate, and prints the achieved rate, the latency percentiles of a poll
(measured from when it was due, so queueing counts) and the CPU the load
generator itself used. A warm-up round polls every object once and waits,
so that their models are fitted first.

The load generator runs on the same machine as the scaler, taking CPU from
it, whereas in a cluster KEDA's operator runs on other nodes. --client wire
(the default) is a lean gRPC client written for this; --client grpc is
grpc-go, KEDA's own client library, faithful but heavier. --floor first
measures a no-op scaler, served by a child process with the scaler's gRPC
server options, with the same client and rate: the latency that the
transport, the generator and this machine cost before the scaler does any
work.

Examples:
  foresight serve --demo --grpc-addr 127.0.0.1:9090 &
  foresight loadtest --addr 127.0.0.1:9090 --objects 1000 --rate 5000 --duration 30s
  foresight loadtest --addr 127.0.0.1:9090 --floor
  foresight loadtest --addr 127.0.0.1:9090 --client grpc --floor
`

// serveNoopArg, first after loadtest, makes the command serve a no-op
// scaler for --floor's measurement instead (not in the help: loadtest
// starts it itself).
const serveNoopArg = "--serve-noop"

func runLoadtest(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	if len(args) > 0 && args[0] == serveNoopArg {
		return serveNoop(ctx, args[1:], stdout)
	}
	var (
		addr, query, target, history string
		client, cpuProfile           string
		objects, concurrency         int
		procs, gcPercent             int
		rate                         float64
		duration, warmup             time.Duration
		floor                        bool
	)
	fs := newFlagSet("loadtest", loadtestHelp, stdout)
	fs.StringVar(&addr, "addr", "127.0.0.1:9090", "`address` of the scaler (plaintext gRPC)")
	fs.IntVar(&objects, "objects", 1000, "ScaledObjects to poll, each with its own query and model")
	fs.Float64Var(&rate, "rate", 5000, "polls per second")
	duration, warmup = 30*time.Second, 15*time.Second
	fs.Var((*durationFlag)(&duration), "duration", "how long to poll at the rate")
	fs.Var((*durationFlag)(&warmup), "warmup", "wait after the warm-up round, for the models to fit")
	fs.IntVar(&concurrency, "concurrency", 256, "polls in flight at most")
	fs.StringVar(&client, "client", "wire", "gRPC client of the load generator: wire (lean: one HTTP/2 connection, no goroutine per call) or grpc (grpc-go, KEDA's own client library: faithful, heavier). Both were measured at 5,000 polls/s on 2 cores against a no-op scaler and serve --demo: wire used 0.45 core and its floor's p99 was 2.0-2.7 ms; grpc used 0.60 core and its floor's p99 was 5.0-11.6 ms. See also --floor")
	fs.BoolVar(&floor, "floor", false, "first measure a no-op scaler (a child process serving constant answers with the scaler's gRPC server options) with the same client, rate and objects: the floor under the scaler's latencies on this machine")
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
	if client != "wire" && client != "grpc" {
		return usagef("--client is wire or grpc, not %q", client)
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
	refs := make([]*externalscaler.ScaledObjectRef, objects)
	for i := range refs {
		refs[i] = &externalscaler.ScaledObjectRef{Namespace: "loadtest", Name: fmt.Sprintf("so-%d", i), ScalerMetadata: map[string]string{
			"scalerAddress": addr, "query": fmt.Sprintf(query, i), "targetPerReplica": target, "history": history,
		}}
	}
	opts := kedaload.Options{Objects: refs, Rate: rate, Duration: duration, Concurrency: concurrency, MetricName: "s0-foresight"}
	// The warm-up round polls every object once, in two seconds.
	warm := kedaload.Options{Objects: refs, Rate: float64(objects) / 2, Duration: 2 * time.Second}

	if floor {
		noopAddr, stop, err := startNoop(ctx)
		if err != nil {
			return err
		}
		defer stop()
		poll, closeClient, err := newPoller(client, noopAddr)
		if err != nil {
			return err
		}
		logger.InfoContext(ctx, "measuring the floor: a no-op scaler in a child process", "addr", noopAddr, "client", client)
		_, err = poll(ctx, warm)
		if err == nil {
			err = measure(ctx, poll, opts, stdout, fmt.Sprintf("floor: no-op scaler at %s, %s client:", noopAddr, client))
		}
		closeClient()
		stop()
		if err != nil {
			return err
		}
	}

	poll, closeClient, err := newPoller(client, addr)
	if err != nil {
		return err
	}
	defer closeClient()
	logger.InfoContext(ctx, "warm-up: one poll of every object", "objects", objects, "client", client)
	if _, err := poll(ctx, warm); err != nil {
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
	label := "scaler at " + addr + ", " + client + " client:"
	if !floor {
		label = ""
	}
	return measure(ctx, poll, opts, stdout, label)
}

// poller runs one measurement.
type poller func(context.Context, kedaload.Options) (kedaload.Result, error)

// newPoller returns the client's poller of the scaler at addr, and what
// closes it.
func newPoller(client, addr string) (poller, func(), error) {
	if client == "wire" {
		return func(ctx context.Context, o kedaload.Options) (kedaload.Result, error) {
			return kedaload.RunWire(ctx, addr, o)
		}, func() {}, nil
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	c := externalscaler.NewExternalScalerClient(conn)
	return func(ctx context.Context, o kedaload.Options) (kedaload.Result, error) {
		return kedaload.Run(ctx, c, o)
	}, func() { conn.Close() }, nil
}

// measure runs poll and prints its result after label.
func measure(ctx context.Context, poll poller, opts kedaload.Options, stdout io.Writer, label string) error {
	res, err := poll(ctx, opts)
	if err != nil {
		return err
	}
	if label != "" {
		fmt.Fprint(stdout, label, " ")
	}
	fmt.Fprintln(stdout, res)
	if res.FirstError != nil {
		fmt.Fprintln(stdout, "first error:", res.FirstError)
	}
	return nil
}

// startNoop starts this binary as a no-op scaler on a loopback port and
// returns its address, and stop, which kills it (stop may be called more
// than once). The child also exits when its standard input closes, so it
// does not outlive this process.
func startNoop(ctx context.Context) (addr string, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("finding this binary to start the no-op scaler: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "loadtest", serveNoopArg, "127.0.0.1:0")
	// The child runs as serve does: on every core, with serve's GC target,
	// whatever the generator's settings.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") && !strings.HasPrefix(kv, "GOGC=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, fmt.Errorf("starting the no-op scaler: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, fmt.Errorf("starting the no-op scaler: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting the no-op scaler: %w", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			stdin.Close()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("starting the no-op scaler: it printed no address (%w)", err)
	}
	return strings.TrimSpace(line), stop, nil
}

// serveNoop serves kedaload.Noop with the scaler's gRPC server options at
// the address in args, prints the address it listens on, and serves until
// ctx ends or its standard input closes.
func serveNoop(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usagef("%s takes one address", serveNoopArg)
	}
	if pct, ok := gcTarget(defaultGCPercent, os.Getenv); ok {
		debug.SetGCPercent(pct)
	}
	lis, err := net.Listen("tcp", args[0])
	if err != nil {
		return fmt.Errorf("listening for the no-op scaler: %w", err)
	}
	gs := grpc.NewServer(scaler.ServerOptions(nil)...)
	externalscaler.RegisterExternalScalerServer(gs, kedaload.Noop{})
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	fmt.Fprintln(stdout, lis.Addr())
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-ctx.Done():
	case <-eof:
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
