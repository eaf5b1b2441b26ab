package kedaload

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// noopEnv makes the test binary serve a Noop instead of running tests:
// the benchmarks' server runs in a child process, so that their CPU time
// and allocations are the load generator's alone.
const noopEnv = "KEDALOAD_TEST_SERVE_NOOP"

func TestMain(m *testing.M) {
	if os.Getenv(noopEnv) != "" {
		serveNoop()
		return
	}
	os.Exit(m.Run())
}

// serveNoop serves a Noop on a loopback port, prints the address, and
// exits when its stdin closes (its parent ended).
func serveNoop() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gs := grpc.NewServer()
	externalscaler.RegisterExternalScalerServer(gs, Noop{})
	go func() { _ = gs.Serve(lis) }()
	fmt.Println(lis.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	gs.Stop()
}

// startNoop runs serveNoop in a child process and returns its address.
func startNoop(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), noopEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("the no-op server did not start: %v", err)
	}
	return strings.TrimSpace(line)
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWirePoll is RunWire's cost against a no-op server in a child
// process: ns/op and allocs/op are per poll (three calls), cpu-ns/poll
// the generator's CPU time per poll, p99-ms the latency at a fixed rate.
// "saturated" makes all polls due at once, 256 in flight; "5000/s" is
// issue 3's rate, where cpu-ns/poll times 5,000 is the share of a core
// the generator takes.
func BenchmarkWirePoll(b *testing.B) {
	benchPoll(b, RunWire)
}

// BenchmarkGRPCPoll is BenchmarkWirePoll for Run, on grpc-go.
func BenchmarkGRPCPoll(b *testing.B) {
	benchPoll(b, func(ctx context.Context, addr string, opts Options) (Result, error) {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return Result{}, err
		}
		defer conn.Close()
		return Run(ctx, externalscaler.NewExternalScalerClient(conn), opts)
	})
}

func benchPoll(b *testing.B, run func(context.Context, string, Options) (Result, error)) {
	addr := startNoop(b)
	// Objects as foresight loadtest makes them.
	objects := make([]*externalscaler.ScaledObjectRef, 1000)
	for i := range objects {
		objects[i] = &externalscaler.ScaledObjectRef{Namespace: "loadtest", Name: fmt.Sprintf("so-%d", i), ScalerMetadata: map[string]string{
			"scalerAddress": addr, "query": fmt.Sprintf(`sum(rate(http_requests_total{app="app-%d"}[2m]))`, i), "targetPerReplica": "50", "history": "2d",
		}}
	}
	for _, bc := range []struct {
		name string
		rate float64
	}{{"saturated", 1e9}, {"5000/s", 5000}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			interval := time.Duration(float64(time.Second) / bc.rate)
			opts := Options{Objects: objects, Rate: bc.rate, Duration: time.Duration(b.N) * interval, MetricName: "s0-foresight"}
			cpu := cpuTime(b)
			b.ResetTimer()
			res, err := run(b.Context(), addr, opts)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if res.Errors > 0 || res.Polls != b.N {
				b.Fatalf("%d polls of %d, %d errors; first %v", res.Polls, b.N, res.Errors, res.FirstError)
			}
			b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/poll")
			if bc.rate < 1e9 { // saturated, all polls are due at once: p99 is queueing
				b.ReportMetric(float64(res.P99)/1e6, "p99-ms")
			}
		})
	}
}
