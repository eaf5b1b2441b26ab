package controlplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/foresight-aiops/foresight/e2e/cluster"
	"github.com/foresight-aiops/foresight/internal/tsdbtest"
)

// serviceAccountKubeconfig writes a kubeconfig for the ServiceAccount,
// with a token from the TokenRequest API.
func serviceAccountKubeconfig(t *testing.T, ctx context.Context, e *env, ns, sa, path string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: e.c.Config.Host, CertificateAuthorityData: e.c.Config.CAData}
	cfg.AuthInfos["e2e"] = &clientcmdapi.AuthInfo{Token: serviceAccountToken(t, ctx, e, ns, sa)}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "e2e"}
	cfg.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMetricsAPI proves `foresight metrics-apiserver` (issue 5) on a
// control plane without KEDA, which leaves external.metrics.k8s.io free:
// two plain autoscaling/v2 HPAs, one on the custom metrics API (an Object
// metric described on the Deployment) and one on the external metrics
// API, scale their Deployments ahead of a predicted ramp, through the
// aggregation layer and the HPA controller, with no KEDA anywhere.
func TestMetricsAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("the control plane takes minutes: not in -short")
	}
	if os.Getenv(cluster.EnvKubeconfig) != "" {
		t.Skip("on an existing cluster the metrics API server would come from the chart: not wired yet")
	}
	ctx := t.Context()
	c, err := cluster.Start(ctx, cluster.Options{Logf: t.Logf, NoKEDA: true, Dir: filepath.Join(os.TempDir(), "foresight-e2e-metricsapi")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	vm := tsdbtest.StartVictoriaMetrics(t)
	e := &env{c: c, vm: vm, tsdb: httpImporter(vm.URL), t0: time.Now()}

	rampAt := e.t0.Add(2 * time.Minute)
	f := dailyRamp(rampAt, 100, 1000, 3*time.Minute)
	for _, s := range []string{"mapi-custom", "mapi-external"} {
		e.backfill(t, e.tsdb, s, f)
	}
	dir := t.TempDir()
	policy := func(scenario string) string {
		return fmt.Sprintf(`{query: %q, targetPerReplica: "100", leadTime: 3m, season: 1d}`, query("load", scenario))
	}
	targets := writeFile(t, filepath.Join(dir, "targets.yaml"), "targets:\n"+
		"  - {namespace: hpa, kind: Deployment, name: custom, policy: "+policy("mapi-custom")+"}\n"+
		"  - {namespace: hpa, kind: Deployment, name: external, policy: "+policy("mapi-external")+"}\n")
	port, err := cluster.FreeHostPort()
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := freeAddr(t)
	bin := buildForesight(t, dir)
	// The server runs as the chart's ServiceAccount, with exactly the RBAC
	// the chart grants it (and the HPA controller): if the chart forgot a
	// permission, the aggregator's requests or the HPAs would fail here.
	rbac := renderChart(t, ctx, []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"},
		"--values", "testdata/good/metricsapi.yaml", "--set", "metricsApi.externalMetrics=true")
	if err := c.Apply(ctx, "apiVersion: v1\nkind: Namespace\nmetadata: {name: foresight}\n---\n"+rbac); err != nil {
		t.Fatal(err)
	}
	kubeconfig := serviceAccountKubeconfig(t, ctx, e, "foresight", "foresight-metrics", filepath.Join(dir, "sa.kubeconfig"))
	p, err := c.StartProcess("foresight-metrics-apiserver", bin, []string{
		"metrics-apiserver", "--targets", targets, "--prometheus-url", vm.URL, "--enable-external-metrics",
		"--secure-port", strconv.Itoa(port), "--bind-address", cluster.HostIP, "--cert-dir", filepath.Join(dir, "certs"),
		"--lister-kubeconfig", kubeconfig, "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
		"--http-addr", httpAddr,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, api := range []struct{ group, version string }{
		{"custom.metrics.k8s.io", "v1beta2"}, {"custom.metrics.k8s.io", "v1beta1"}, {"external.metrics.k8s.io", "v1beta1"},
	} {
		if err := c.RegisterAPIService(ctx, "foresight", "foresight-metrics", api.group, api.version, port); err != nil {
			t.Fatalf("%v\n%s", err, p.LogTail())
		}
	}
	t.Logf("metrics APIs available at T+%s", e.since())

	hpa := func(name, metric string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: hpa, labels: {workload: %[1]s}}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      containers: [{name: app, image: registry.k8s.io/pause:3.10}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: %[1]s, namespace: hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %[1]s}
  minReplicas: 1
  maxReplicas: 30
  behavior:
    scaleUp: {stabilizationWindowSeconds: 0, policies: [{type: Percent, value: 1000, periodSeconds: 5}]}
    scaleDown: {stabilizationWindowSeconds: 0, policies: [{type: Percent, value: 100, periodSeconds: 5}]}
  metrics:
%[2]s`, name, metric)
	}
	object := `    - type: Object
      object:
        describedObject: {apiVersion: apps/v1, kind: Deployment, name: custom}
        metric: {name: foresight_predicted_load}
        target: {type: AverageValue, averageValue: "100"}
`
	external := `    - type: External
      external:
        metric:
          name: foresight_predicted_load
          selector: {matchLabels: {workload: external}}
        target: {type: AverageValue, averageValue: "100"}
`
	if err := c.Apply(ctx, "apiVersion: v1\nkind: Namespace\nmetadata: {name: hpa}\n---\n"+hpa("custom", object)+"---\n"+hpa("external", external)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"custom", "external"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			at := e.waitReplicas(t, ctx, "hpa", name, 6*time.Minute, "≥9 replicas", func(r int) bool { return r >= 9 })
			t.Logf("%s: 9 replicas at T+%s, %s before the ramp's start, with the live load at %.0f", name,
				at.Sub(e.t0).Round(time.Second), rampAt.Sub(at).Round(time.Second), f(at))
			if f(at) >= 600 {
				t.Errorf("the HPA reached 9 replicas only when the load was %.0f: not ahead of it", f(at))
			}
		})
	}
}
