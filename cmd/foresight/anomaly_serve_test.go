package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestServeAnomalyAlertFires runs the whole loop with a real Prometheus:
// Prometheus scrapes a load gauge (the test's) and Foresight's /metrics;
// foresight serve reads the load from Prometheus, scores it every second,
// and publishes anomaly_score; a Prometheus alerting rule
// `anomaly_score > 1 for 3s` stays quiet while the load is normal and
// fires once the load triples. It takes about half a minute of wall
// clock: Prometheus runs in real time.
func TestServeAnomalyAlertFires(t *testing.T) {
	if testing.Short() {
		t.Skip("half a minute of real time with Prometheus")
	}
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found: apt-get install prometheus (make test-deps installs it)")
	}
	// The load: 100 with a small wobble, or 300 once spiking is set.
	var spiking atomic.Bool
	load := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		v := 100 + math.Sin(float64(time.Now().UnixMilli())/3000)
		if spiking.Load() {
			v = 300
		}
		fmt.Fprintf(w, "# TYPE requests gauge\nrequests %g\n", v)
	})}
	ll, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = load.Serve(ll) }()
	t.Cleanup(func() { _ = load.Close() })

	dir := t.TempDir()
	grpcAddr, httpAddr, promAddr := freePort(t), freePort(t), freePort(t)
	writeTestFile(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: anomaly
    rules:
      - alert: LoadAnomaly
        expr: anomaly_score{query="load"} > 1
        for: 3s
`)
	writeTestFile(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
scrape_configs:
  - job_name: load
    static_configs: [{targets: ['%s']}]
  - job_name: foresight
    static_configs: [{targets: ['%s']}]
`, ll.Addr(), httpAddr))
	prom := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	var promLog bytes.Buffer
	prom.Stdout, prom.Stderr = &promLog, &promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = prom.Process.Kill()
		_ = prom.Wait()
		if t.Failed() {
			t.Logf("Prometheus log:\n%s", tail(promLog.String(), 30))
		}
	})
	promURL := "http://" + promAddr

	// The anomaly configuration: the load at a one-second step, a rolling
	// z-score over 20 s with a floor of 10 that the wobble never reaches.
	writeTestFile(t, filepath.Join(dir, "anomaly.yml"), `reader:
  step: 1s
  queries:
    load: requests
models:
  z: {class: zscore, window: 20s, min_dev_from_expected: 10}
schedule: {fit_every: 10s, fit_window: 5m, infer_every: 1s, workers: 1}
`)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{
			"serve", "--prometheus-url", promURL, "--anomaly-config", filepath.Join(dir, "anomaly.yml"),
			"--grpc-addr", grpcAddr, "--http-addr", httpAddr,
		}, strings.NewReader(""), io.Discard, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d:\n%s", code, stderr.String())
		}
	})

	// Quiet: once Foresight publishes scores and Prometheus has scraped
	// them for a while, no alert is pending or firing.
	waitFor(t, 40*time.Second, "Prometheus to scrape anomaly_score", func() bool {
		return queryCount(t, promURL, `count_over_time(anomaly_score{query="load",model="z"}[1m])`) >= 8
	})
	for range 5 {
		if a := alerts(t, promURL); len(a) > 0 {
			t.Fatalf("alerts during the quiet period: %v\n%s", a, stderr.String())
		}
		time.Sleep(time.Second)
	}

	// The load triples: the alert fires.
	spiking.Store(true)
	waitFor(t, 30*time.Second, "LoadAnomaly to fire", func() bool {
		for _, a := range alerts(t, promURL) {
			if a == "LoadAnomaly/firing" {
				return true
			}
		}
		return false
	})
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// waitFor polls cond every 200 ms until it holds or the time is up.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// alerts returns Prometheus's active alerts as name/state.
func alerts(t *testing.T, base string) []string {
	t.Helper()
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	getJSON(t, base+"/api/v1/alerts", &r)
	var out []string
	for _, a := range r.Data.Alerts {
		out = append(out, a.Labels["alertname"]+"/"+a.State)
	}
	return out
}

// queryCount evaluates an instant query and returns its single value, or
// 0 for an empty result or an error (Prometheus may still be starting).
func queryCount(t *testing.T, base, q string) float64 {
	t.Helper()
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if !tryGetJSON(base+"/api/v1/query?query="+url.QueryEscape(q), &r) || len(r.Data.Result) != 1 {
		return 0
	}
	var v float64
	_, _ = fmt.Sscan(fmt.Sprint(r.Data.Result[0].Value[1]), &v)
	return v
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	if !tryGetJSON(u, v) {
		t.Fatalf("GET %s failed", u)
	}
}

func tryGetJSON(u string, v any) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(v) == nil
}
