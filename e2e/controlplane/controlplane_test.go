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
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/e2e/cluster"
	"github.com/foresight-aiops/foresight/internal/testcerts"
	"github.com/foresight-aiops/foresight/internal/tsdbtest"
)

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
	if c.External {
		t.Skip("scenarios against an existing cluster (" + cluster.EnvKubeconfig + ") need Foresight and VictoriaMetrics reachable from it: not implemented yet")
	}
	e := &env{c: c, vm: tsdbtest.StartVictoriaMetrics(t), vmDown: tsdbtest.StartVictoriaMetrics(t)}
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
	} {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			s.run(t, ctx, e)
		})
	}
}
