package kedaload

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// counting answers every call and counts them; it fails IsActive for the
// object named "broken".
type counting struct {
	externalscaler.UnimplementedExternalScalerServer
	calls atomic.Int64
}

func (c *counting) GetMetricSpec(context.Context, *externalscaler.ScaledObjectRef) (*externalscaler.GetMetricSpecResponse, error) {
	c.calls.Add(1)
	return &externalscaler.GetMetricSpecResponse{}, nil
}

func (c *counting) GetMetrics(context.Context, *externalscaler.GetMetricsRequest) (*externalscaler.GetMetricsResponse, error) {
	c.calls.Add(1)
	return &externalscaler.GetMetricsResponse{}, nil
}

func (c *counting) IsActive(_ context.Context, ref *externalscaler.ScaledObjectRef) (*externalscaler.IsActiveResponse, error) {
	c.calls.Add(1)
	if ref.GetName() == "broken" {
		return nil, status.Error(codes.Unavailable, "broken")
	}
	return &externalscaler.IsActiveResponse{Result: true}, nil
}

func TestRun(t *testing.T) {
	srv := &counting{}
	conn, err := grpc.NewClient(serveGRPC(t, srv), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	objects := []*externalscaler.ScaledObjectRef{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "broken"}}
	res, err := Run(context.Background(), externalscaler.NewExternalScalerClient(conn), Options{Objects: objects, Rate: 400, Duration: 500 * time.Millisecond, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	if res.Polls != 200 || srv.calls.Load() != 600 || res.Errors != 50 {
		t.Errorf("%d polls, %d calls, %d errors; want 200, 600, 50", res.Polls, srv.calls.Load(), res.Errors)
	}
	if res.FirstError == nil || !strings.Contains(res.FirstError.Error(), "IsActive") {
		t.Errorf("first error %v", res.FirstError)
	}
	if res.P50 > res.P99 || res.P99 > res.Max || res.Max <= 0 || res.Elapsed < 450*time.Millisecond {
		t.Errorf("result %s", res)
	}
	if _, err := Run(context.Background(), nil, Options{}); err == nil {
		t.Error("no objects: no error")
	}
}

// processCPU counts the CPU this process burns, and a run reports it.
func TestProcessCPU(t *testing.T) {
	cpu := startCPU()
	if !cpu.ok {
		if runtime.GOOS == "linux" {
			t.Fatal("no CPU time from /proc/self/stat")
		}
		return // other systems do not say; Result.CPUKnown is false there
	}
	x := 1.0
	for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); {
		for range 1000 {
			x = x*1.0000001 + 1e-9
		}
	}
	used, ok := cpu.used()
	if !ok || used < 100*time.Millisecond || used > 10*time.Second {
		t.Errorf("200 ms of busy loop (%g) counted as %s of CPU (%v)", x, used, ok)
	}
	res := Result{Polls: 1, Elapsed: time.Second, CPU: 250 * time.Millisecond, CPUKnown: true}
	if !strings.HasSuffix(res.String(), "; load generator CPU 0.25 cores") {
		t.Errorf("result %q does not end with the generator's CPU", res)
	}
}
