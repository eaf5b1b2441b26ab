// Package controlplane proves Foresight end to end: a real kube-apiserver,
// kube-controller-manager (whose HPA controller acts) and KEDA v2.21 scale
// Deployments on what `foresight serve` answers, with history and live load
// in VictoriaMetrics. The scenarios are those of the predictive scaler's
// promise: scale before the load, never above the peak cap, never let an
// outage lower tomorrow's forecast, hold (never scale down) while the TSDB
// is down, pre-warm from zero, and all of it over mTLS as well.
//
// It needs root (see package cluster) and takes about 10 minutes the first
// time (the control plane's binaries are built and cached), then about 7.
package controlplane

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/foresight-aiops/foresight/e2e/cluster"
	"github.com/foresight-aiops/foresight/internal/testcerts"
	"github.com/foresight-aiops/foresight/internal/tsdbtest"
)

// localEnv starts, beside the local control plane, two VictoriaMetrics
// and two Foresight servers (plaintext, and mTLS-only).
func localEnv(t *testing.T, c *cluster.Cluster) *env {
	e := &env{c: c, vm: tsdbtest.StartVictoriaMetrics(t), vmDown: tsdbtest.StartVictoriaMetrics(t)}
	e.tsdb = httpImporter(e.vm.URL)
	dir := t.TempDir()
	bin := buildForesight(t, dir)
	config := writeFile(t, dir+"/datasources.yaml", "datasources:\n"+
		"  - {name: default, url: "+e.vm.URL+"}\n"+
		"  - {name: fallback, url: "+e.vmDown.URL+", timeout: 2s}\n")
	e.plain = startForesight(t, e, bin, "foresight", config)
	e.ca = testcerts.NewCA(t)
	server := e.ca.Issue(t, "127.0.0.1")
	e.client = e.ca.Issue(t, "keda")
	cert, key := server.WriteFiles(t, dir, "server")
	e.tls = startForesight(t, e, bin, "foresight-mtls", config,
		"--tls-cert-file", cert, "--tls-key-file", key, "--tls-client-ca-file", e.ca.WriteFile(t, dir))
	return e
}

// externalEnv uses what `make e2e-kind` installs in an existing cluster:
// the chart's release "foresight" and a VictoriaMetrics, both in
// namespace foresight (FORESIGHT_E2E_NAMESPACE), reached through the API
// server's service and pod proxies, so a kubeconfig is all the tests need.
func externalEnv(c *cluster.Cluster) *env {
	ns := os.Getenv("FORESIGHT_E2E_NAMESPACE")
	if ns == "" {
		ns = "foresight"
	}
	rest := c.Client.CoreV1().RESTClient()
	e := &env{c: c}
	e.tsdb = func(ctx context.Context, body []byte) error {
		base := "/api/v1/namespaces/" + ns + "/services/victoria-metrics:8428/proxy"
		if err := rest.Post().AbsPath(base + "/api/v1/import/prometheus").Body(body).Do(ctx).Error(); err != nil {
			return err
		}
		return rest.Post().AbsPath(base + "/internal/force_flush").Do(ctx).Error()
	}
	e.plain = &foresightServer{grpc: "foresight." + ns + ".svc:9090", scrape: func(ctx context.Context) ([][]byte, error) {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
			LabelSelector: "app.kubernetes.io/name=foresight,app.kubernetes.io/instance=foresight",
		})
		if err != nil {
			return nil, err
		}
		var out [][]byte
		for _, p := range pods.Items {
			b, err := rest.Get().AbsPath("/api/v1/namespaces/" + ns + "/pods/" + p.Name + ":8080/proxy/metrics").DoRaw(ctx)
			if err != nil {
				return nil, fmt.Errorf("pod %s: %w", p.Name, err)
			}
			out = append(out, b)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no pod of the foresight release in namespace %s", ns)
		}
		return out, nil
	}}
	return e
}

func TestControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("the control plane takes minutes: not in -short")
	}
	ctx := t.Context()
	c, err := cluster.Start(ctx, cluster.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	var e *env
	if c.External {
		e = externalEnv(c)
	} else {
		e = localEnv(t, c)
	}
	e.t0 = time.Now()

	for _, s := range []struct {
		name string
		run  func(*testing.T, context.Context, *env)
	}{
		{"PredictiveLead", predictiveLead},
		{"PeakCap", peakCap},
		{"OutageExclusion", outageExclusion},
		{"Fallback", fallback},
		{"ScaleToZeroAndPrewarm", prewarm},
		{"MTLS", mutualTLS},
		{"Chart", chartDryRun},
		{"Enrichment", enrichment},
	} {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			if c.External && (s.name == "Fallback" || s.name == "MTLS") {
				t.Skip("needs a TSDB of its own to kill, or a TLS-only Foresight: only on the local control plane")
			}
			s.run(t, ctx, e)
		})
	}
}
