package metricsapi_test

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/foresight-aiops/foresight/internal/demo"
	"github.com/foresight-aiops/foresight/metricsapi"
	"github.com/foresight-aiops/foresight/scaler"
)

// BenchmarkGetMetricByName is the provider's cost of an HPA's Object
// metric lookup over a warm model, among 1,000 targets (the API server's
// own handling comes on top).
func BenchmarkGetMetricByName(b *testing.B) {
	var targets []metricsapi.Target
	ts, err := metricsapi.LoadTargets("testdata/targets.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		t := ts[0]
		t.Name = "api-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		targets = append(targets, t)
	}
	src, err := demo.NewSource(now)
	if err != nil {
		b.Fatal(err)
	}
	pred := scaler.NewPredictor(demoSources{src}, scaler.Options{Now: func() time.Time { return now }})
	prov := metricsapi.NewProvider(pred, targets, metricsapi.Options{Now: func() time.Time { return now }})
	info := provider.CustomMetricInfo{GroupResource: schema.GroupResource{Group: "apps", Resource: "deployments"}, Namespaced: true, Metric: metricsapi.DefaultMetric}
	name := types.NamespacedName{Namespace: "shop", Name: targets[500].Name}
	ctx := context.Background()
	if _, err := prov.GetMetricByName(ctx, name, info, labels.Everything()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := prov.GetMetricByName(ctx, name, info, labels.Everything()); err != nil {
			b.Fatal(err)
		}
	}
}
