package scaler

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/internal/demo"
)

// demoSources serves the embedded trace for every datasource name.
type demoSources struct{ src *demo.Source }

func (d demoSources) Source(string) (Source, error) { return d.src, nil }

// warmServer starts a server over the demo trace with n ScaledObjects
// whose models are fitted, and returns their refs and a client.
func warmServer(b *testing.B, n int) ([]*externalscaler.ScaledObjectRef, externalscaler.ExternalScalerClient, *Predictor) {
	b.Helper()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	src, err := demo.NewSource(now)
	if err != nil {
		b.Fatal(err)
	}
	// The metrics and the interceptor are part of every answer in
	// production (foresight serve), so they are part of the benchmark.
	metrics := NewMetrics(prometheus.NewRegistry())
	pr := NewPredictor(demoSources{src}, Options{Now: func() time.Time { return now }, Workers: 4, Observer: metrics})
	refs := make([]*externalscaler.ScaledObjectRef, n)
	ctx := context.Background()
	for i := range refs {
		refs[i] = &externalscaler.ScaledObjectRef{Namespace: "bench", Name: fmt.Sprintf("so-%d", i), ScalerMetadata: map[string]string{
			"scalerAddress": "foresight:9090", "targetPerReplica": "50", "history": "2d",
			"query": fmt.Sprintf(`sum(rate(http_requests_total{app="app-%d"}[2m]))`, i),
		}}
		p, err := ParsePolicy(refs[i].ScalerMetadata)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pr.Predict(ctx, Ref{"bench", refs[i].Name}, p); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for _, r := range refs {
		p, _ := ParsePolicy(r.ScalerMetadata)
		for {
			pred, err := pr.Predict(ctx, Ref{"bench", r.Name}, p)
			if err == nil && pred.Model != "" {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("models did not warm up")
			}
			time.Sleep(time.Millisecond)
		}
	}
	gs := grpc.NewServer(ServerOptions(metrics)...)
	externalscaler.RegisterExternalScalerServer(gs, NewServer(pr, nil))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	b.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return refs, externalscaler.NewExternalScalerClient(conn), pr
}

// poll makes KEDA's three calls of one poll.
func poll(ctx context.Context, c externalscaler.ExternalScalerClient, ref *externalscaler.ScaledObjectRef) error {
	if _, err := c.GetMetricSpec(ctx, ref); err != nil {
		return err
	}
	if _, err := c.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref, MetricName: MetricName}); err != nil {
		return err
	}
	_, err := c.IsActive(ctx, ref)
	return err
}

// BenchmarkPoll measures KEDA's three calls per poll over loopback gRPC,
// with 1,000 ScaledObjects whose models are warm, from 64 concurrent
// pollers. It reports polls/s and the 99th percentile of a poll.
func BenchmarkPoll(b *testing.B) {
	refs, client, _ := warmServer(b, 1000)
	ctx := context.Background()
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			ref := refs[int(next.Add(1))%len(refs)]
			t0 := time.Now()
			if err := poll(ctx, client, ref); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "polls/s")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkRefit measures the hourly refit of one model: a week of
// one-minute history with a daily season, the model kept from the last
// selection. 10,000 models refit within 100 s per core needs 10 ms.
func BenchmarkRefit(b *testing.B) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	src, err := demo.NewSource(now)
	if err != nil {
		b.Fatal(err)
	}
	samples, err := src.Range(context.Background(), "", now.Add(-7*24*time.Hour), now.Add(-time.Minute), time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	s := onGrid(samples, now.Add(-7*24*time.Hour), now, time.Minute)
	_, sel, err := forecast.FitAuto(s, forecast.AutoOptions{Horizon: 7})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := forecast.Refit(s, sel, forecast.AutoOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandlers measures the server's own work for one poll, without
// the network: decoding (cached), predicting, metrics.
func BenchmarkHandlers(b *testing.B) {
	refs, _, pr := warmServer(b, 100)
	srv := NewServer(pr, nil)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ref := refs[i%len(refs)]
		i++
		if _, err := srv.GetMetricSpec(ctx, ref); err != nil {
			b.Fatal(err)
		}
		if _, err := srv.GetMetrics(ctx, &externalscaler.GetMetricsRequest{ScaledObjectRef: ref}); err != nil {
			b.Fatal(err)
		}
		if _, err := srv.IsActive(ctx, ref); err != nil {
			b.Fatal(err)
		}
	}
}
