package metricsapi_test

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/foresight-aiops/foresight/metricsapi"
)

func TestCheckExternalOwner(t *testing.T) {
	apiService := func(labels map[string]string, ns, name string) runtime.Object {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
			"metadata": map[string]any{"name": "v1beta1.external.metrics.k8s.io"},
			"spec": map[string]any{
				"group": "external.metrics.k8s.io", "version": "v1beta1",
				"service": map[string]any{"namespace": ns, "name": name},
			},
		}}
		u.SetLabels(labels)
		return u
	}
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		owner   string
		keda    bool
	}{
		{"none", nil, "", false},
		{"KEDA's chart", []runtime.Object{apiService(map[string]string{"app.kubernetes.io/part-of": "keda-operator"}, "keda", "keda-operator-metrics-apiserver")}, "keda/keda-operator-metrics-apiserver", true},
		{"KEDA by name", []runtime.Object{apiService(nil, "autoscaling", "keda-metrics")}, "autoscaling/keda-metrics", true},
		{"this server", []runtime.Object{apiService(nil, "foresight", "foresight-metrics")}, "foresight/foresight-metrics", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
				map[schema.GroupVersionResource]string{{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}: "APIServiceList"},
				tc.objects...)
			owner, err := metricsapi.CheckExternalOwner(t.Context(), client)
			if owner != tc.owner || errors.Is(err, metricsapi.ErrKEDAOwnsExternal) != tc.keda || (err != nil && !tc.keda) {
				t.Errorf("owner %q, error %v; want %q, KEDA %v", owner, err, tc.owner, tc.keda)
			}
		})
	}
}
