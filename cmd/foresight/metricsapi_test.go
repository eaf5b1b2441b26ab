package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMetricsAPIServerHelp(t *testing.T) {
	var out, stderr bytes.Buffer
	if code := run(context.Background(), []string{"metrics-apiserver", "--help"}, strings.NewReader(""), &out, &stderr); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	for _, want := range []string{
		"type: Object", "describedObject: {apiVersion: apps/v1, kind: Deployment, name: api}", "type: External",
		"target: {type: AverageValue, averageValue: \"50\"}", "targetPerReplica",
		"--targets", "--secure-port", "--tls-cert-file", "--cert-dir", "--lister-kubeconfig",
		"--authentication-kubeconfig", "--authorization-kubeconfig", "--enable-external-metrics", "--prometheus-url", "--demo",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestMetricsAPIServerErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "targets:\n- {namespace: shop, kind: Deployment, name: api, policy: {query: up, targetPerReplica: '5'}}\n")
	otherDS := write("other.yaml", "targets:\n- {namespace: shop, kind: Deployment, name: api, policy: {query: up, targetPerReplica: '5', datasource: thanos}}\n")
	bad := write("bad.yaml", "targets:\n- {namespace: shop, kind: deployment, name: api, policy: {query: up, leadTime: x, targetPerReplica: '5'}}\n")
	for _, tc := range []struct {
		args []string
		code int
		says []string
	}{
		{[]string{"--demo"}, 2, []string{"give --targets FILE"}},
		{[]string{"--targets", good}, 2, []string{"give a datasource"}},
		{[]string{"--targets", good, "--demo", "--no-such-flag"}, 2, []string{"unknown flag: --no-such-flag"}},
		{[]string{"--targets", good, "--demo", "stray"}, 2, []string{`unexpected argument "stray"`}},
		{[]string{"--targets", filepath.Join(dir, "missing.yaml"), "--demo"}, 1, []string{"reading the targets file"}},
		{[]string{"--targets", bad, "--demo"}, 1, []string{`targets[0] (shop/deployment/api): kind "deployment": write Deployment`, `targets[0] (shop/deployment/api): policy.leadTime "x"`}},
		{[]string{"--targets", otherDS, "--demo"}, 1, []string{"shop/Deployment/api foresight_predicted_load: policy.datasource", `"thanos"`}},
		// Outside a cluster, the lister needs a kubeconfig.
		{[]string{"--targets", good, "--demo"}, 1, []string{"give --lister-kubeconfig"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Setenv("KUBERNETES_SERVICE_HOST", "")
			var stderr bytes.Buffer
			code := run(context.Background(), append([]string{"metrics-apiserver"}, tc.args...), strings.NewReader(""), io.Discard, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", code, tc.code, stderr.String())
			}
			for _, s := range tc.says {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr does not say %q:\n%s", s, stderr.String())
				}
			}
		})
	}
}

// TestMetricsAPIServerRuns starts the whole server with the flags of a
// real deployment, against a cluster that cannot be reached: it serves TLS
// (a certificate made in memory), /healthz without credentials, and
// refuses the metrics API until the cluster authorizes the request, which
// shows that authorization is delegated, not skipped. The real cluster's
// half is in e2e/.
func TestMetricsAPIServerRuns(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	securePort, httpAddr := freePort(t), freePort(t)
	_, port, _ := strings.Cut(securePort, ":")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{
			"metrics-apiserver", "--targets", "../../metricsapi/testdata/targets.yaml", "--demo", "--enable-external-metrics",
			"--bind-address", "127.0.0.1", "--secure-port", port, "--http-addr", httpAddr,
			"--lister-kubeconfig", kubeconfig, "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
			"--authentication-skip-lookup",
		}, strings.NewReader(""), io.Discard, stderr)
	}()

	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the certificate is self-signed on purpose
	base := "https://" + securePort
	deadline := time.Now().Add(30 * time.Second)
	for {
		// /healthz answers 500 until the post-start hooks have run.
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz on %s not ok: %v, %v\n%s", base, resp, err, stderr.String())
		}
		select {
		case code := <-done:
			t.Fatalf("exited with %d:\n%s", code, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	resp, err := client.Get(base + "/apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/deployments.apps/api/foresight_predicted_load")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 400 || !strings.Contains(string(body), "subjectaccessreviews") {
		t.Errorf("an unauthorized metrics request: %s %s, want the authorization webhook's failure", resp.Status, body)
	}

	resp, err = http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `foresight_metricsapi_targets{kind="Deployment"} 3`) {
		t.Errorf("/metrics lacks the targets gauge:\n%s", body)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after shutdown:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("metrics-apiserver did not stop")
	}
}
