package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serve --demo answers KEDA's calls and publishes its metrics, and stops
// cleanly when its context ends.
func TestServeDemo(t *testing.T) {
	grpcAddr, httpAddr := freePort(t), freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", "--grpc-addr", grpcAddr, "--http-addr", httpAddr}, strings.NewReader(""), io.Discard, &stderr)
	}()

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := externalscaler.NewExternalScalerClient(conn)
	so := &externalscaler.ScaledObjectRef{Name: "api", Namespace: "demo", ScalerMetadata: map[string]string{
		"scalerAddress": grpcAddr, "query": "anything", "targetPerReplica": "50",
	}}
	deadline := time.Now().Add(20 * time.Second)
	var value float64
	for {
		resp, err := client.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: so, MetricName: "foresight"})
		if err == nil {
			value = resp.GetMetricValues()[0].GetMetricValueFloat()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer from serve --demo: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !(value > 0) {
		t.Errorf("served %g, want the demo trace's load", value)
	}
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health: %v, %v", h, err)
	}
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`foresight_scaler_load{kind="served",namespace="demo",scaledobject="api"}`,
		`foresight_scaler_requests_total{code="OK",method="GetMetrics"}`,
		`foresight_scaler_request_duration_seconds_bucket{method="GetMetrics"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}

	var out bytes.Buffer
	if code := run(ctx, []string{"explain", "--addr", grpcAddr, "--namespace", "demo", "--name", "api", "query=anything", "targetPerReplica=50"}, strings.NewReader(""), &out, &stderr); code != 0 {
		t.Errorf("explain: exit %d:\n%s", code, stderr.String())
	}
	if !strings.Contains(out.String(), "demo/api (mode predictive): serving") || !strings.Contains(out.String(), "current load") {
		t.Errorf("explain printed:\n%s", out.String())
	}
	out.Reset()
	if code := run(ctx, []string{"explain", "--addr", grpcAddr, "--format", "json", "--name", "api", "query=anything", "targetPerReplica=50"}, strings.NewReader(""), &out, &stderr); code != 0 || !strings.Contains(out.String(), `"served"`) {
		t.Errorf("explain --format json: exit %d:\n%s", code, out.String())
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after shutdown:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestServeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"serve"},
		{"serve", "--demo", "--prometheus-url", "http://x"},
		{"serve", "--demo", "--tls-cert-file", "a.crt"},
		{"explain", "query=x"},
		{"explain", "--name", "api"},
		{"explain", "--name", "api", "novalue"},
		{"loadtest", "--rate", "0"},
		{"loadtest", "--gomaxprocs", "-1"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), io.Discard, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2:\n%s", args, code, stderr.String())
		}
	}
}

// --gc-percent applies unless the operator set GOGC, which wins.
func TestGCTarget(t *testing.T) {
	for _, tc := range []struct {
		flag   int
		gogc   string
		want   int
		wantOK bool
	}{
		{defaultGCPercent, "", 400, true},
		{200, "", 200, true},
		{0, "", 0, false},
		{400, "100", 0, false},
		{400, "off", 0, false},
	} {
		got, ok := gcTarget(tc.flag, func(k string) string {
			if k == "GOGC" {
				return tc.gogc
			}
			return ""
		})
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("gcTarget(%d, GOGC=%q) = %d, %v; want %d, %v", tc.flag, tc.gogc, got, ok, tc.want, tc.wantOK)
		}
	}
}

// The soft memory limit is 85% of the container's: cgroup v2 first, then
// v1; none without a limit, and GOMEMLIMIT wins.
func TestMemoryLimit(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if v, ok := m[p]; ok {
				return []byte(v), nil
			}
			return nil, os.ErrNotExist
		}
	}
	const v2, v1 = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	for _, tc := range []struct {
		name   string
		env    string
		files  map[string]string
		want   int64
		wantOK bool
	}{
		{"cgroup v2 512Mi", "", map[string]string{v2: "536870912\n"}, 536870912 / 100 * 85, true},
		{"cgroup v2 unlimited", "", map[string]string{v2: "max\n"}, 0, false},
		{"cgroup v1", "", map[string]string{v1: "1073741824\n"}, 1073741824 / 100 * 85, true},
		{"cgroup v1 unlimited", "", map[string]string{v1: "9223372036854771712\n"}, 0, false},
		{"no cgroup", "", nil, 0, false},
		{"GOMEMLIMIT set", "400MiB", map[string]string{v2: "536870912\n"}, 0, false},
		{"garbage", "", map[string]string{v2: "lots\n"}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := memoryLimit(func(k string) string {
				if k == "GOMEMLIMIT" {
					return tc.env
				}
				return ""
			}, files(tc.files))
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("memoryLimit = %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
