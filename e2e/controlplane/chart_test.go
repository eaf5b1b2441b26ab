package controlplane

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// chartDryRun renders charts/foresight with Helm's Go SDK (charts/cmd/
// render) for each values file the repository ships, and has the real API
// server validate every object with a server-side dry run: schemas,
// defaults and admission, as `helm install` would meet them. The examples
// (ScaledObjects, TriggerAuthentication) are validated against KEDA's
// CRDs the same way.
func chartDryRun(t *testing.T, ctx context.Context, e *env) {
	chartsDir := filepath.Join(repoRoot(), "charts")
	render := buildRender(t, ctx)
	// The approver's Roles live in the namespaces its allow list names.
	for _, ns := range []string{"foresight", "shop", "payments"} {
		if err := e.c.Apply(ctx, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"demo", []string{"--values", "testdata/good/demo.yaml"}},
		{"prometheus-url", []string{"--values", "testdata/good/prometheus-url.yaml"}},
		// The ServiceMonitor's CRD (Prometheus Operator's) is not installed here.
		{"full", []string{"--values", "testdata/good/full.yaml", "--set", "serviceMonitor.enabled=false"}},
		{"kind", []string{"--values", "foresight/ci/kind-values.yaml"}},
		// The metrics API server (issue 5): custom metrics only, since
		// KEDA owns external.metrics.k8s.io in this cluster.
		{"metricsapi", []string{"--values", "testdata/good/metricsapi.yaml"}},
		// The approver (issue 8): Deployment, ServiceAccount, the RBAC its
		// allow list implies (Roles in shop and payments, node rules).
		{"approver", []string{"--values", "testdata/good/approver.yaml", "--set", "serviceMonitor.enabled=false"}},
		{"approver-example", []string{"--values", "foresight/examples/values-approver.yaml", "--set", "demo=true"}},
		// The enrichment (issue 6) with its read-only ServiceAccount, alone
		// and proposing fixes to the approver (issue 8).
		{"enrich", []string{"--values", "testdata/good/enrich.yaml", "--set", "serviceMonitor.enabled=false"}},
		{"enrich-remediation", []string{"--values", "testdata/good/approver.yaml", "--values", "testdata/enrich/remediation.yaml", "--set", "serviceMonitor.enabled=false"}},
		{"enrich-example", []string{"--values", "foresight/examples/values-enrich.yaml", "--set", "demo=true"}},
		{"enrich-approver-examples", []string{"--values", "foresight/examples/values-approver.yaml", "--values", "foresight/examples/values-enrich.yaml", "--set", "demo=true,enrich.remediation.enabled=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(ctx, render, tc.args...)
			cmd.Dir = chartsDir
			var stderr strings.Builder
			cmd.Stderr = &stderr
			manifests, err := cmd.Output()
			if err != nil {
				t.Fatalf("render %v: %v\n%s", tc.args, err, stderr.String())
			}
			kinds := strings.Count(string(manifests), "\nkind: ")
			out, err := e.c.Kubectl(ctx, string(manifests), "apply", "--server-side", "--dry-run=server", "-f", "-")
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(out), "(server dry run)"); n < kinds || n < 4 {
				t.Errorf("%d objects accepted, %d rendered:\n%s", n, kinds, out)
			}
			t.Logf("%s: %s", tc.name, strings.Join(strings.Fields(strings.ReplaceAll(string(out), "(server dry run)", ";")), " "))
		})
	}
	t.Run("examples", func(t *testing.T) {
		if err := e.c.Apply(ctx, "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"); err != nil {
			t.Fatal(err)
		}
		examples, err := filepath.Glob(filepath.Join(chartsDir, "foresight", "examples", "scaledobject*.yaml"))
		if err != nil || len(examples) == 0 {
			t.Fatalf("no examples in charts/foresight/examples (%v)", err)
		}
		// And the VictoriaMetrics that make e2e-kind installs beside the chart.
		if out, err := e.c.Kubectl(ctx, "", "apply", "-n", "foresight", "--server-side", "--dry-run=server",
			"-f", filepath.Join(chartsDir, "kind", "victoriametrics.yaml")); err != nil {
			t.Errorf("kind/victoriametrics.yaml: %v", err)
		} else {
			t.Logf("kind/victoriametrics.yaml: %s", strings.TrimSpace(string(out)))
		}
		for _, f := range examples {
			if out, err := e.c.Kubectl(ctx, "", "apply", "-n", "shop", "--server-side", "--dry-run=server", "-f", f); err != nil {
				t.Errorf("%s: %v", filepath.Base(f), err)
			} else {
				t.Logf("%s: %s", filepath.Base(f), strings.TrimSpace(string(out)))
			}
		}
	})
}

// buildRender builds charts/cmd/render (Helm's Go SDK; its own module).
func buildRender(t *testing.T, ctx context.Context) string {
	t.Helper()
	render := filepath.Join(t.TempDir(), "render")
	build := exec.CommandContext(ctx, "go", "build", "-o", render, "./cmd/render")
	build.Dir = filepath.Join(repoRoot(), "charts")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build charts/cmd/render: %v\n%s", err, out)
	}
	return render
}

// renderChart renders charts/foresight with args (values files relative to
// charts/) and returns the documents whose kind is one of kinds.
func renderChart(t *testing.T, ctx context.Context, kinds []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, buildRender(t, ctx), args...)
	cmd.Dir = filepath.Join(repoRoot(), "charts")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("render %v: %v\n%s", args, err, stderr.String())
	}
	var keep []string
	for _, doc := range strings.Split(string(out), "\n---") {
		for _, k := range kinds {
			if strings.Contains(doc, "\nkind: "+k+"\n") {
				keep = append(keep, strings.TrimPrefix(doc, "\n"))
				break
			}
		}
	}
	return strings.Join(keep, "\n---\n")
}
