package scaler

import (
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/policy"
)

// The per-object series are cached; a refit must still publish its new
// parameters, and a new model must retire the old model's series.
func TestMetricsFollowRefitsAndModelChanges(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	r := Ref{"shop", "api"}
	pred := func(model string, alpha float64, gamma []float64, periods []int) Prediction {
		return Prediction{
			Decision: policy.Decision{Predicted: 120, Replicas: 3, Reason: policy.ReasonForecast},
			Served:   120, Replicas: 3, Reactive: 100, Mode: ModePredictive,
			Model: model, Params: forecast.Params{Alpha: alpha, Gamma: gamma}, Periods: periods, Step: time.Minute,
		}
	}
	param := func(name string) float64 {
		return testutil.ToFloat64(m.params.WithLabelValues("shop", "api", name))
	}
	steps := []struct {
		name             string
		p                Prediction
		alpha, gamma1    float64
		infos            int // model_info series
		season1, season2 float64
	}{
		{"first model", pred("A,N,A(1440)", 0.3, []float64{0.1}, []int{1440}), 0.3, 0.1, 1, 86400, 0},
		{"same answer", pred("A,N,A(1440)", 0.3, []float64{0.1}, []int{1440}), 0.3, 0.1, 1, 86400, 0},
		{"refit", pred("A,N,A(1440)", 0.4, []float64{0.2}, []int{1440}), 0.4, 0.2, 1, 86400, 0},
		{"new model", pred("A,N,A(1440,10080)", 0.5, []float64{0.05, 0.02}, []int{1440, 10080}), 0.5, 0.05, 1, 86400, 604800},
	}
	for _, s := range steps {
		m.Predicted(r, s.p)
		if got := param("alpha"); got != s.alpha {
			t.Errorf("%s: alpha = %g, want %g", s.name, got, s.alpha)
		}
		if got := param("gamma1"); got != s.gamma1 {
			t.Errorf("%s: gamma1 = %g, want %g", s.name, got, s.gamma1)
		}
		if got := testutil.CollectAndCount(m.model); got != s.infos {
			t.Errorf("%s: %d model_info series, want %d", s.name, got, s.infos)
		}
		if got := testutil.ToFloat64(m.model.WithLabelValues("shop", "api", s.p.Model)); got != 1 {
			t.Errorf("%s: model_info{model=%q} = %g, want 1", s.name, s.p.Model, got)
		}
		if s.season2 != 0 {
			if got := testutil.ToFloat64(m.season.WithLabelValues("shop", "api", "2")); got != s.season2 {
				t.Errorf("%s: season 2 = %g s, want %g", s.name, got, s.season2)
			}
		}
	}
	if got := testutil.ToFloat64(m.decisions.WithLabelValues("shop", "api", "forecast", "predictive")); got != float64(len(steps)) {
		t.Errorf("decisions_total = %g, want %d", got, len(steps))
	}
	fb := pred("", 0, nil, nil)
	fb.Decision.Reason = policy.ReasonNoForecast
	m.Predicted(r, fb)
	if got := testutil.ToFloat64(m.decisions.WithLabelValues("shop", "api", string(policy.ReasonNoForecast), "predictive")); got != 1 {
		t.Errorf("decisions_total{reason=%s} = %g, want 1", policy.ReasonNoForecast, got)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP foresight_scaler_load Load per ScaledObject: kind=predicted (largest forecast quantile over the lead time, before caps), reactive (current), served (reported to KEDA).
# TYPE foresight_scaler_load gauge
foresight_scaler_load{kind="predicted",namespace="shop",scaledobject="api"} 120
foresight_scaler_load{kind="reactive",namespace="shop",scaledobject="api"} 100
foresight_scaler_load{kind="served",namespace="shop",scaledobject="api"} 120
`), "foresight_scaler_load"); err != nil {
		t.Error(err)
	}
}

// The decoded metadata is cached per ScaledObject; an edit (a typo fixed,
// a new target) must take effect at the next call, and the cache stays
// bounded however often the object is edited.
func TestPolicyCacheFollowsEdits(t *testing.T) {
	s := NewServer(nil, nil)
	ref := func(md map[string]string) *externalscaler.ScaledObjectRef {
		return &externalscaler.ScaledObjectRef{Namespace: "shop", Name: "api", ScalerMetadata: md}
	}
	base := map[string]string{"query": "sum(rate(http_requests_total[2m]))"}
	with := func(k, v string) map[string]string {
		md := maps.Clone(base)
		md[k] = v
		return md
	}
	if _, err := s.policy(ref(with("targetPerReplcia", "5"))); err == nil {
		t.Fatal("a typo was accepted")
	}
	for i, target := range []float64{5, 7, 9, 11, 13, 5, 7} {
		p, err := s.policy(ref(with("targetPerReplica", strconv.FormatFloat(target, 'g', -1, 64))))
		if err != nil || p.TargetPerReplica != target {
			t.Fatalf("edit %d: targetPerReplica = %g, %v; want %g", i, p.TargetPerReplica, err, target)
		}
	}
	if _, err := s.policy(ref(with("targetPerReplcia", "5"))); err == nil {
		t.Error("the typo was accepted the second time")
	}
	v, _ := s.policies.Load(Ref{"shop", "api"})
	if n := len(v.([]*decoded)); n > triggersPerObject {
		t.Errorf("%d decoded metadata kept for one object, want at most %d", n, triggersPerObject)
	}
}
