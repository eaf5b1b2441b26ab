package enrich

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// paced runs n calls of f at rate per second from several goroutines, as
// Alertmanager's notifiers would, and returns each call's latency.
func paced(n int, rate float64, f func(i int)) []time.Duration {
	lat := make([]time.Duration, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		time.Sleep(time.Until(due))
		wg.Go(func() {
			t := time.Now()
			f(i)
			lat[i] = time.Since(t)
		})
	}
	wg.Wait()
	return lat
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func webhookBody(i int) []byte {
	a := testAlert(i, StatusFiring)
	b, _ := json.Marshal(WebhookMessage{Version: "4", Status: StatusFiring, Receiver: "foresight", Alerts: []Alert{a}})
	return b
}

// BenchmarkWebhookAck200PerSecond posts one-alert webhooks at 200 alerts/s
// to the intake over HTTP with the queue on disk (fsync per commit, commits
// batched) and reports the p50 and p99 time to the 2xx. Target: p99 <= 50 ms.
func BenchmarkWebhookAck200PerSecond(b *testing.B) {
	q, err := OpenQueue(filepath.Join(b.TempDir(), "q.db"), QueueOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	srv := httptest.NewServer(NewIntake(q, IntakeOptions{}, nil, nil))
	defer srv.Close()
	n := max(b.N, 1000)
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = webhookBody(i)
	}
	b.ResetTimer()
	lat := paced(n, 200, func(i int) {
		resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(bodies[i]))
		if err != nil {
			b.Error(err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("status %d", resp.StatusCode)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(quantile(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(quantile(lat, 0.99).Microseconds())/1000, "p99-ms")
}

// stalledAnalyzer never answers: the model is stuck.
type stalledAnalyzer struct{}

func (stalledAnalyzer) Analyze(ctx context.Context, _ Alert) Analysis {
	<-ctx.Done()
	return Analysis{Error: "stalled"}
}

// BenchmarkRawDeliveryLLMStalled sends alerts at 200/s through intake,
// queue and pipeline to a webhook sink while the model never answers, and
// reports the p99 from the POST to Alertmanager's intake to the sink
// receiving the raw alert. Target: p99 <= 1 s.
func BenchmarkRawDeliveryLLMStalled(b *testing.B) {
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	sink := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var n Notification
		if err := json.NewDecoder(r.Body).Decode(&n); err == nil {
			mu.Lock()
			arrived[n.Alert.Labels["pod"]] = time.Now()
			mu.Unlock()
		}
	}))
	defer sink.Close()
	q, err := OpenQueue(filepath.Join(b.TempDir(), "q.db"), QueueOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithCancel(context.Background())
	d := NewDispatcher(ctx, []Sink{NewWebhookSink(sink.URL, "k", nil)}, DispatchOptions{}, nil, nil)
	p := NewPipeline(q, d, stalledAnalyzer{}, NewRedactor(nil), PipelineOptions{}, nil, nil)
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	srv := httptest.NewServer(NewIntake(q, IntakeOptions{}, nil, nil))
	defer srv.Close()
	n := max(b.N, 1000)
	sent := make([]time.Time, n)
	b.ResetTimer()
	paced(n, 200, func(i int) {
		sent[i] = time.Now()
		resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(webhookBody(i)))
		if err == nil {
			resp.Body.Close()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := len(arrived)
		mu.Unlock()
		if got == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
	var lat []time.Duration
	mu.Lock()
	for i := range n {
		if t, ok := arrived[fmt.Sprintf("api-%d", i)]; ok {
			lat = append(lat, t.Sub(sent[i]))
		}
	}
	mu.Unlock()
	if len(lat) != n {
		b.Fatalf("%d of %d raw alerts delivered within 30 s of the last", len(lat), n)
	}
	b.ReportMetric(float64(quantile(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(quantile(lat, 0.99).Microseconds())/1000, "p99-ms")
}

// BenchmarkQueueMemory10k stores 10,000 alerts (nothing consumes them) and
// reports the Go heap in use afterwards, and the queue file's size: the
// records stay on disk, only their order is in memory.
func BenchmarkQueueMemory10k(b *testing.B) {
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "q.db")
		q, err := OpenQueue(path, QueueOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := 0; i < 10_000; i += 100 {
			var recs []Record
			for j := i; j < i+100; j++ {
				recs = append(recs, Record{Received: t0, Alert: testAlert(j, StatusFiring)})
			}
			if _, err := q.Enqueue(context.Background(), recs); err != nil {
				b.Fatal(err)
			}
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		waiting, _ := q.Len()
		if waiting[StageNew] != 10_000 {
			b.Fatalf("%d queued", waiting[StageNew])
		}
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "heap-MiB")
		q.Close()
	}
}
