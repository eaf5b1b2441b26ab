package main

import (
	"context"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestMain lets the test binary stand in for foresight when loadtest
// --floor starts it as the no-op scaler (os.Executable is the test
// binary).
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "loadtest" && os.Args[2] == serveNoopArg {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// loadtest measures serve --demo with either client, and with --floor a
// no-op scaler first, which it stops at the end.
func TestLoadtest(t *testing.T) {
	grpcAddr, httpAddr := freePort(t), freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan result, 1)
	go func() {
		served <- runWith(ctx, "", "serve", "--demo", "--grpc-addr", grpcAddr, "--http-addr", httpAddr)
	}()
	defer func() {
		cancel()
		if r := <-served; r.code != 0 {
			t.Errorf("serve: %s", r)
		}
	}()
	waitForScaler(t, ctx, grpcAddr)

	// --gomaxprocs 0 and --gc-percent 0 leave the test process's runtime alone.
	args := []string{"loadtest", "--addr", grpcAddr, "--objects", "10", "--rate", "200", "--duration", "500ms", "--warmup", "0", "--gomaxprocs", "0", "--gc-percent", "0"}
	measured := regexp.MustCompile(`100 polls in \S+ \(\d+/s\), 0 errors; latency of the three calls p50 .*; load generator CPU \d+\.\d\d cores`)

	r := runWith(ctx, "", append(args, "--floor")...)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "floor: no-op scaler at 127.0.0.1:") || !strings.HasPrefix(lines[1], "scaler at "+grpcAddr+", wire client: ") ||
		!measured.MatchString(lines[0]) || !measured.MatchString(lines[1]) {
		t.Fatalf("loadtest --floor: %s", r)
	}
	noop := strings.Fields(lines[0])[4]
	noop = strings.TrimSuffix(noop, ",")
	if conn, err := net.Dial("tcp", noop); err == nil {
		conn.Close()
		t.Errorf("the no-op scaler at %s still answers after loadtest ended", noop)
	}

	r = runWith(ctx, "", append(args, "--client", "grpc")...)
	if r.code != 0 || !measured.MatchString(r.stdout) || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("loadtest --client grpc: %s", r)
	}

	for _, bad := range [][]string{{"--client", "http"}, {"--rate", "0"}, {"--gomaxprocs", "-1"}} {
		if r := runWith(ctx, "", append([]string{"loadtest"}, bad...)...); r.code != 2 {
			t.Errorf("loadtest %v: %s", bad, r)
		}
	}
}

// waitForScaler waits until the scaler at addr answers a call.
func waitForScaler(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := externalscaler.NewExternalScalerClient(conn)
	ref := &externalscaler.ScaledObjectRef{Name: "up", ScalerMetadata: map[string]string{"query": "up", "targetPerReplica": "1"}}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := client.IsActive(ctx, ref); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("the scaler at %s does not answer: %v", addr, err)
		}
	}
}
