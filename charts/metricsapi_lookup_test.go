package charts

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/getter"
	"k8s.io/client-go/rest"
)

// fakeAPIServer answers the two requests Helm's lookup makes for an
// APIService, as the Kubernetes API server does (discovery of
// apiregistration.k8s.io/v1, then a GET of the object, or a NotFound
// Status), and records every path it was asked for. No API server runs in
// this module's tests; e2e/ applies the chart to a real one.
type fakeAPIServer struct {
	external map[string]any // the v1beta1.external.metrics.k8s.io APIService; nil: none

	mu    sync.Mutex
	paths []string
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.paths = append(f.paths, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/apis/apiregistration.k8s.io/v1":
		_ = json.NewEncoder(w).Encode(map[string]any{
			"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apiregistration.k8s.io/v1",
			"resources": []any{map[string]any{
				"name": "apiservices", "singularName": "apiservice", "namespaced": false, "kind": "APIService",
				"verbs": []string{"create", "delete", "get", "list", "patch", "update", "watch"},
			}},
		})
	case "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.external.metrics.k8s.io":
		if f.external != nil {
			_ = json.NewEncoder(w).Encode(f.external)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
			"message": `apiservices.apiregistration.k8s.io "v1beta1.external.metrics.k8s.io" not found`,
			"details": map[string]any{"name": "v1beta1.external.metrics.k8s.io", "group": "apiregistration.k8s.io", "kind": "apiservices"},
		})
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeAPIServer) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...)
}

func externalAPIService(namespace, name string, labels map[string]string) map[string]any {
	metadata := map[string]any{"name": "v1beta1.external.metrics.k8s.io"}
	if labels != nil { // the API server omits empty labels
		metadata["labels"] = labels
	}
	return map[string]any{
		"kind": "APIService", "apiVersion": "apiregistration.k8s.io/v1",
		"metadata": metadata,
		"spec": map[string]any{
			"group": "external.metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
			"service": map[string]any{"namespace": namespace, "name": name, "port": 443},
		},
	}
}

// renderInCluster renders the chart as `helm install` does against a
// cluster: templates' lookup reads the API server of cfg.
func renderInCluster(t *testing.T, cfg *rest.Config, set []string) (map[string]string, error) {
	t.Helper()
	chrt, err := loader.Load(Dir())
	if err != nil {
		t.Fatal(err)
	}
	vals, err := (&values.Options{ValueFiles: []string{metricsAPIValues}, Values: set}).MergeValues(getter.Providers{})
	if err != nil {
		t.Fatal(err)
	}
	rv, err := chartutil.ToRenderValues(chrt, vals,
		chartutil.ReleaseOptions{Name: "foresight", Namespace: "foresight", Revision: 1, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	return engine.RenderWithClient(chrt, rv, cfg)
}

// TestMetricsAPIExternalOwner: with metricsApi.externalMetrics, installing
// into a cluster whose external.metrics.k8s.io APIService routes to
// KEDA's metrics adapter (or any Service but this release's) is refused
// with a message that says what to do; a cluster without that APIService,
// or with this release's own (an upgrade), renders it. Without
// externalMetrics the chart never looks, and installs beside KEDA.
func TestMetricsAPIExternalOwner(t *testing.T) {
	keda := externalAPIService("keda", "keda-operator-metrics-apiserver", map[string]string{"app.kubernetes.io/part-of": "keda-operator"})
	for _, tc := range []struct {
		name     string
		existing map[string]any
		set      []string
		wantErr  string // "" renders, with the external APIService iff externalMetrics
	}{
		{name: "none", set: []string{"metricsApi.externalMetrics=true"}},
		{
			name: "keda", existing: keda, set: []string{"metricsApi.externalMetrics=true"},
			wantErr: "KEDA owns v1beta1.external.metrics.k8s.io in this cluster (it routes to Service keda/keda-operator-metrics-apiserver)",
		},
		{
			name: "keda-by-service-name", existing: externalAPIService("autoscaling", "keda-metrics", nil), set: []string{"metricsApi.externalMetrics=true"},
			wantErr: "KEDA owns v1beta1.external.metrics.k8s.io",
		},
		{
			name: "another-adapter", existing: externalAPIService("monitoring", "prometheus-adapter", nil), set: []string{"metricsApi.externalMetrics=true"},
			wantErr: "already routes to Service monitoring/prometheus-adapter: only one server may own external.metrics.k8s.io",
		},
		{name: "this-release", existing: externalAPIService("foresight", "foresight-metrics", nil), set: []string{"metricsApi.externalMetrics=true"}},
		{name: "custom-only-beside-keda", existing: keda},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeAPIServer{external: tc.existing}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			out, err := renderInCluster(t, &rest.Config{Host: srv.URL}, tc.set)
			external := len(tc.set) > 0
			asked := strings.Join(fake.asked(), "\n")
			if lookedUp := strings.Contains(asked, "GET /apis/apiregistration.k8s.io/v1/apiservices/v1beta1.external.metrics.k8s.io"); lookedUp != external {
				t.Errorf("the API server was asked:\n%s\nwant the external APIService looked up if and only if externalMetrics is on", asked)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			apiServices := out["foresight/templates/metricsapi-apiservice.yaml"]
			if strings.Contains(apiServices, "name: v1beta1.external.metrics.k8s.io") != external {
				t.Errorf("the external APIService is rendered if and only if externalMetrics is on:\n%s", apiServices)
			}
		})
	}
}
