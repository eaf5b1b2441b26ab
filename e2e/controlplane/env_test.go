package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/foresight-aiops/foresight/e2e/cluster"
	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/internal/testcerts"
	"github.com/foresight-aiops/foresight/internal/tsdbtest"
)

// env is what every scenario shares: the control plane with KEDA, two
// VictoriaMetrics (datasource "default", and "fallback" which the fallback
// scenario kills), and two Foresight servers: plaintext, and mTLS.
type env struct {
	c          *cluster.Cluster
	tsdb       importer         // into the datasource "default"
	vm, vmDown *tsdbtest.Server // local only
	plain, tls *foresightServer
	ca         *testcerts.CA
	client     testcerts.Pair // KEDA's client certificate for mTLS
	t0         time.Time      // when the scenarios began
}

// foresightServer is one `foresight serve`: a process started here, or
// the pods of a Helm release in an existing cluster.
type foresightServer struct {
	grpc, http string // addresses; grpc as KEDA reaches it
	proc       *cluster.Process
	// scrape returns the /metrics of every replica (nil: GET http).
	scrape func(ctx context.Context) ([][]byte, error)
}

// repoRoot is the main module's directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// buildForesight builds the binary under test from the main module.
func buildForesight(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "foresight")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/foresight")
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build foresight: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startForesight runs `foresight serve` with extra flags and waits until
// it is ready.
func startForesight(t *testing.T, e *env, bin, name, config string, extra ...string) *foresightServer {
	t.Helper()
	s := &foresightServer{grpc: freeAddr(t), http: freeAddr(t)}
	args := append([]string{"serve", "--config", config, "--grpc-addr", s.grpc, "--http-addr", s.http}, extra...)
	p, err := e.c.StartProcess(name, bin, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.proc = p
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.http + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) || !p.Running() {
			t.Fatalf("%s not ready: %v\n%s", name, err, p.LogTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metrics scrapes the /metrics of each of the server's replicas.
func (s *foresightServer) metrics(t *testing.T) []map[string]*dto.MetricFamily {
	t.Helper()
	var bodies [][]byte
	if s.scrape != nil {
		var err error
		if bodies, err = s.scrape(t.Context()); err != nil {
			t.Fatalf("scrape foresight: %v", err)
		}
	} else {
		resp, err := http.Get("http://" + s.http + "/metrics")
		if err != nil {
			t.Fatalf("scrape foresight: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("scrape foresight: %v", err)
		}
		bodies = append(bodies, body)
	}
	var out []map[string]*dto.MetricFamily
	for _, b := range bodies {
		p := expfmt.NewTextParser(model.UTF8Validation)
		mf, err := p.TextToMetricFamilies(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("parse foresight's metrics: %v", err)
		}
		out = append(out, mf)
	}
	return out
}

// value returns the value of the series of family name whose labels
// include want: counters summed over the matching series and replicas,
// gauges the largest; NaN if none matches.
func (s *foresightServer) value(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	sum, found := 0.0, false
	gauge := math.Inf(-1)
	for _, families := range s.metrics(t) {
		mf := families[name]
		if mf == nil {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			found = true
			switch {
			case m.Gauge != nil:
				gauge = math.Max(gauge, m.Gauge.GetValue())
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			}
		}
	}
	switch {
	case !found:
		return math.NaN()
	case !math.IsInf(gauge, -1):
		return gauge
	}
	return sum
}

// counter is value for a counter: a series not yet created counts 0.
func (s *foresightServer) counter(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	if v := s.value(t, name, want); !math.IsNaN(v) {
		return v
	}
	return 0
}

// shape is a load as a function of time.
type shape func(time.Time) float64

// history returns minutely samples of f over the week before end.
func history(f shape, end time.Time) []forecast.Sample {
	end = end.Truncate(time.Minute)
	n := 7 * 24 * 60
	out := make([]forecast.Sample, 0, n)
	for i := n; i >= 1; i-- {
		at := end.Add(-time.Duration(i) * time.Minute)
		out = append(out, forecast.Sample{T: at, V: f(at)})
	}
	return out
}

// jitter is a deterministic ±2% wobble, so that the traces are not
// perfectly regular (nothing real is).
func jitter(t time.Time) float64 {
	x := math.Sin(float64(t.Unix()/60)*12.9898) * 43758.5453
	return 1 + 0.04*(x-math.Floor(x)-0.5)
}

// importer writes samples, in Prometheus' text exposition format, into
// the TSDB behind a datasource: VictoriaMetrics' /api/v1/import/prometheus,
// reached directly or through the API server's service proxy.
type importer func(ctx context.Context, body []byte) error

// encode renders series in Prometheus' text format with timestamps.
func encode(series ...tsdbtest.Series) []byte {
	var b bytes.Buffer
	for _, s := range series {
		keys := make([]string, 0, len(s.Labels))
		for k, v := range s.Labels {
			keys = append(keys, k+"="+strconv.Quote(v))
		}
		labels := "{" + strings.Join(keys, ",") + "}"
		for _, x := range s.Samples {
			fmt.Fprintf(&b, "%s%s %s %d\n", s.Metric, labels, strconv.FormatFloat(x.V, 'g', -1, 64), x.T.UnixMilli())
		}
	}
	return b.Bytes()
}

// httpImporter imports into the VictoriaMetrics at url and flushes, so
// that the samples are queryable at once.
func httpImporter(url string) importer {
	return func(ctx context.Context, body []byte) error {
		for _, x := range []struct {
			path string
			body []byte
		}{{"/api/v1/import/prometheus", body}, {"/internal/force_flush", nil}} {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+x.path, bytes.NewReader(x.body))
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("%s: %s", x.path, resp.Status)
			}
		}
		return nil
	}
}

// live writes f's value at the current time into the server every 5
// seconds until the test ends, as the scraped load of a real service
// would arrive. Failures (the fallback scenario kills the server) are
// ignored: the next write retries.
func live(t *testing.T, imp importer, metric string, labels map[string]string, f shape) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	t.Cleanup(func() { cancel(); wg.Wait() })
	go func() {
		defer wg.Done()
		for {
			now := time.Now()
			wctx, wcancel := context.WithTimeout(ctx, 4*time.Second)
			_ = imp(wctx, encode(tsdbtest.Series{Metric: metric, Labels: labels, Samples: []forecast.Sample{{T: now, V: f(now)}}}))
			wcancel()
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
		}
	}()
}

// workload is a Deployment scaled by one ScaledObject.
type workload struct {
	namespace, name string
	triggerType     string // external (default) or external-push
	scaler          string // Foresight's gRPC address
	metadata        map[string]string
	authRef         string // TriggerAuthentication, if any
	minReplicas     int
	maxReplicas     int
}

// manifests renders the Deployment (its pods never run: there is no
// kubelet; the HPA acts on spec.replicas) and its ScaledObject. Scale-up
// and scale-down are made fast so that the scenarios fit in minutes.
func (w workload) manifests() string {
	typ := w.triggerType
	if typ == "" {
		typ = "external"
	}
	md := map[string]string{"scalerAddress": w.scaler}
	for k, v := range w.metadata {
		md[k] = v
	}
	var meta strings.Builder
	for k, v := range md {
		fmt.Fprintf(&meta, "        %s: %s\n", k, strconv.Quote(v))
	}
	auth := ""
	if w.authRef != "" {
		auth = "      authenticationRef: {name: " + w.authRef + "}\n"
	}
	maxR := w.maxReplicas
	if maxR == 0 {
		maxR = 50
	}
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      containers: [{name: app, image: registry.k8s.io/pause:3.10}]
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  scaleTargetRef: {name: %[1]s}
  pollingInterval: 5
  cooldownPeriod: 10
  minReplicaCount: %[3]d
  maxReplicaCount: %[4]d
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        scaleUp:
          stabilizationWindowSeconds: 0
          policies: [{type: Percent, value: 1000, periodSeconds: 5}]
        scaleDown:
          stabilizationWindowSeconds: 0
          policies: [{type: Percent, value: 100, periodSeconds: 5}]
  triggers:
    - type: %[5]s
%[6]s      metadata:
%[7]s`, w.name, w.namespace, w.minReplicas, maxR, typ, auth, meta.String())
}

// apply creates the namespace if needed and the workload.
func (e *env) apply(t *testing.T, ctx context.Context, ws ...workload) {
	t.Helper()
	docs := []string{}
	seen := map[string]bool{}
	for _, w := range ws {
		if !seen[w.namespace] {
			seen[w.namespace] = true
			docs = append(docs, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+w.namespace+"}\n")
		}
		docs = append(docs, w.manifests())
	}
	if err := e.c.Apply(ctx, strings.Join(docs, "---\n")); err != nil {
		t.Fatal(err)
	}
}

// replicas returns the Deployment's spec.replicas.
func (e *env) replicas(t *testing.T, ctx context.Context, namespace, name string) int {
	t.Helper()
	d, err := e.c.Client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s/%s: %v", namespace, name, err)
	}
	if d.Spec.Replicas == nil {
		return 1
	}
	return int(*d.Spec.Replicas)
}

// waitReplicas polls until cond holds for the Deployment's replicas, and
// returns when it first did; it fails the test after timeout.
func (e *env) waitReplicas(t *testing.T, ctx context.Context, namespace, name string, timeout time.Duration, what string, cond func(int) bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := -1
	for {
		r := e.replicas(t, ctx, namespace, name)
		if r != last {
			t.Logf("%s/%s: %d replicas at T+%s", namespace, name, r, e.since())
			last = r
		}
		if cond(r) {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s: %s not reached within %s (replicas %d)\n%s", namespace, name, what, timeout, r, e.describe(ctx, namespace, name))
		}
		time.Sleep(time.Second)
	}
}

// since is the time since the scenarios began, for logs.
func (e *env) since() time.Duration { return time.Since(e.t0).Round(time.Second) }

// describe gathers what explains a failure: the ScaledObject's and HPA's
// status.
func (e *env) describe(ctx context.Context, namespace, name string) string {
	out, _ := e.c.Kubectl(ctx, "", "-n", namespace, "get", "scaledobject,hpa,deployment", "-o", "wide")
	so, _ := e.c.Kubectl(ctx, "", "-n", namespace, "get", "scaledobject", name, "-o", "jsonpath={.status.conditions}")
	hpa, _ := e.c.Kubectl(ctx, "", "-n", namespace, "get", "hpa", "keda-hpa-"+name, "-o", "jsonpath={.status.conditions}")
	return string(out) + "\nScaledObject conditions: " + string(so) + "\nHPA conditions: " + string(hpa)
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
