package metricsapi_test

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/discovery"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/rest"
	cmclient "k8s.io/metrics/pkg/client/custom_metrics"
	emclient "k8s.io/metrics/pkg/client/external_metrics"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/apiserver"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/internal/demo"
	"github.com/foresight-aiops/foresight/internal/tsdbtest"
	"github.com/foresight-aiops/foresight/metricsapi"
	"github.com/foresight-aiops/foresight/promsource"
	"github.com/foresight-aiops/foresight/scaler"
)

// now is the tests' clock: the predictor, the demo source and the values'
// timestamps all read it, so that the values are those of the trace at now.
var now = time.Date(2026, 11, 24, 14, 7, 0, 0, time.UTC)

var (
	deployment  = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	statefulSet = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
)

// env is a metrics API server over the demo trace, and the HPA
// controller's own clients of it.
type env struct {
	src     *demo.Source
	pred    *scaler.Predictor
	targets []metricsapi.Target
	reg     *prometheus.Registry
	config  *rest.Config
	custom  cmclient.CustomMetricsClient
	fitted  chan struct{}
}

// fitObserver tells of the first fit.
type fitObserver struct{ fitted chan struct{} }

func (o fitObserver) Predicted(scaler.Ref, scaler.Prediction) {}
func (o fitObserver) Fitted(_ scaler.Policy, _ *forecast.Model, _ *forecast.Selection, _ time.Duration, _ int, err error) {
	if err == nil {
		select {
		case o.fitted <- struct{}{}:
		default:
		}
	}
}

// newEnv serves the targets of testdata/targets.yaml through the library's
// API server (its handler chain without authentication and authorization,
// which are delegated to the cluster), external metrics if asked.
func newEnv(t *testing.T, external bool, lister metricsapi.Lister) *env {
	t.Helper()
	targets, err := metricsapi.LoadTargets("testdata/targets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src, err := demo.NewSource(now)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{src: src, targets: targets, reg: prometheus.NewRegistry(), fitted: make(chan struct{}, 1)}
	e.pred = scaler.NewPredictor(demoSources{src}, scaler.Options{Now: func() time.Time { return now }, Observer: fitObserver{e.fitted}})
	prov := metricsapi.NewProvider(e.pred, targets, metricsapi.Options{Lister: lister, Registerer: e.reg, Now: func() time.Time { return now }})

	cfg := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	cfg.ExternalAddress = "127.0.0.1:443" // only named in responses; nothing listens there
	cfg.LoopbackClientConfig = &rest.Config{}
	var ext provider.ExternalMetricsProvider
	if external {
		ext = prov
	}
	srv, err := (&apiserver.Config{GenericConfig: &cfg.Config}).Complete(nil).New("foresight-test", prov, ext)
	if err != nil {
		t.Fatal(err)
	}
	prov.AddAggregatedDiscovery(srv.GenericAPIServer.AggregatedDiscoveryGroupManager, external)
	ts := httptest.NewServer(srv.GenericAPIServer.Handler)
	t.Cleanup(ts.Close)
	e.config = &rest.Config{Host: ts.URL}

	dc := discovery.NewDiscoveryClientForConfigOrDie(e.config)
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Group: "apps", Version: "v1"}})
	mapper.Add(deployment.WithVersion("v1"), meta.RESTScopeNamespace)
	mapper.Add(statefulSet.WithVersion("v1"), meta.RESTScopeNamespace)
	e.custom = cmclient.NewForConfig(e.config, mapper, cmclient.NewAvailableAPIsGetter(dc))
	return e
}

// demoSources serves the demo trace as every datasource.
type demoSources struct{ src *demo.Source }

func (d demoSources) Source(string) (scaler.Source, error) { return d.src, nil }

// trace is the demo trace's value at now, read independently of the server.
func (e *env) trace(t *testing.T) float64 {
	t.Helper()
	v, ok, err := e.src.Instant(context.Background(), "", now)
	if err != nil || !ok {
		t.Fatalf("demo source at %s: %v, %v", now, ok, err)
	}
	return v
}

// milli is v rounded up to the thousandth, as the server writes it.
func milli(v float64) float64 { return math.Ceil(v*1000) / 1000 }

func TestDiscovery(t *testing.T) {
	for _, external := range []bool{false, true} {
		t.Run(map[bool]string{false: "custom only", true: "custom and external"}[external], func(t *testing.T) {
			e := newEnv(t, external, nil)
			dc := discovery.NewDiscoveryClientForConfigOrDie(e.config)
			groups, err := dc.ServerGroups()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, g := range groups.Groups {
				names = append(names, g.Name)
			}
			if !slices.Contains(names, "custom.metrics.k8s.io") {
				t.Errorf("groups %v: no custom.metrics.k8s.io", names)
			}
			if got := slices.Contains(names, "external.metrics.k8s.io"); got != external {
				t.Errorf("groups %v: external.metrics.k8s.io served = %v, want %v", names, got, external)
			}

			// The custom metrics' resources list every resource and
			// metric name declared, once.
			for _, version := range []string{"v1beta1", "v1beta2"} {
				list, err := dc.ServerResourcesForGroupVersion("custom.metrics.k8s.io/" + version)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range list.APIResources {
					got = append(got, r.Name)
					if !r.Namespaced {
						t.Errorf("%s %s: not namespaced", version, r.Name)
					}
				}
				slices.Sort(got)
				want := []string{"deployments.apps/foresight_predicted_load", "deployments.apps/web_load_ahead", "statefulsets.apps/foresight_predicted_load"}
				if !slices.Equal(got, want) {
					t.Errorf("%s resources = %v, want %v", version, got, want)
				}
			}
			if external {
				list, err := dc.ServerResourcesForGroupVersion("external.metrics.k8s.io/v1beta1")
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range list.APIResources {
					got = append(got, r.Name)
				}
				slices.Sort(got)
				if want := []string{"foresight_predicted_load", "web_load_ahead"}; !slices.Equal(got, want) {
					t.Errorf("external resources = %v, want %v", got, want)
				}
			}
		})
	}
}

// TestGetForObject asks as the HPA controller does for an Object metric.
func TestGetForObject(t *testing.T) {
	e := newEnv(t, false, nil)
	load := e.trace(t)
	if load <= 20 {
		t.Fatalf("the demo trace at %s is %g: the cap case needs more than 20", now, load)
	}
	ns := e.custom.NamespacedMetrics("shop")
	for _, tc := range []struct {
		kind   schema.GroupKind
		name   string
		metric string
		want   float64
	}{
		{deployment, "api", metricsapi.DefaultMetric, milli(load)},
		// maxReplicas 2 × targetPerReplica 10.
		{statefulSet, "db", metricsapi.DefaultMetric, 20},
	} {
		t.Run(tc.kind.Kind+"/"+tc.name, func(t *testing.T) {
			v, err := ns.GetForObject(tc.kind, tc.name, tc.metric, labels.Everything())
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Value.AsApproximateFloat64(); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("value = %v (%g), want %g", v.Value.String(), got, tc.want)
			}
			obj := v.DescribedObject
			if obj.Kind != tc.kind.Kind || obj.Name != tc.name || obj.Namespace != "shop" || obj.APIVersion != "apps/v1" {
				t.Errorf("describedObject = %+v", obj)
			}
			if v.Metric.Name != tc.metric || !v.Timestamp.Time.Equal(now) {
				t.Errorf("metric %q at %s, want %q at %s", v.Metric.Name, v.Timestamp, tc.metric, now)
			}
		})
	}

	// A metric selector on the values' labels.
	sel := labels.SelectorFromSet(labels.Set{metricsapi.LabelWorkload: "api"})
	if _, err := ns.GetForObject(deployment, "api", metricsapi.DefaultMetric, sel); err != nil {
		t.Errorf("with metric selector %s: %v", sel, err)
	}
}

// TestPredictive checks that a predictive target serves what the shared
// predictor answers once its model is fitted: the forecast, never below
// the current load.
func TestPredictive(t *testing.T) {
	e := newEnv(t, true, nil)
	ns := e.custom.NamespacedMetrics("shop")
	// The first request starts the fit in the background.
	if _, err := ns.GetForObject(deployment, "web", "web_load_ahead", labels.Everything()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.fitted:
	case <-time.After(time.Minute):
		t.Fatal("no fit within a minute")
	}
	var web metricsapi.Target
	for _, x := range e.targets {
		if x.Name == "web" {
			web = x
		}
	}
	// The Observer hears of a fit just before the predictor stores the
	// model: ask until it is there.
	var want scaler.Prediction
	for deadline := time.Now().Add(10 * time.Second); want.Model == "" && time.Now().Before(deadline); goruntime.Gosched() {
		var err error
		if want, err = e.pred.Predict(context.Background(), scaler.Ref{Namespace: "shop", Name: "deployment/web"}, web.Policy); err != nil {
			t.Fatal(err)
		}
	}
	if want.Model == "" || want.Decision.Reason.Fallback() {
		t.Fatalf("the predictor serves no forecast after its fit: %+v", want.Decision)
	}
	if want.Served < e.trace(t) {
		t.Errorf("served %g below the current load %g", want.Served, e.trace(t))
	}
	v, err := ns.GetForObject(deployment, "web", "web_load_ahead", labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Value.AsApproximateFloat64(); math.Abs(got-milli(want.Served)) > 1e-9 {
		t.Errorf("custom metric %g, predictor %g", got, want.Served)
	}
	ext, err := emclient.NewForConfigOrDie(e.config).NamespacedMetrics("shop").List("web_load_ahead", labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	if len(ext.Items) != 1 || math.Abs(ext.Items[0].Value.AsApproximateFloat64()-milli(want.Served)) > 1e-9 {
		t.Errorf("external metric %+v, predictor %g", ext.Items, want.Served)
	}
}

// TestGetForObjects looks up by label selector, reading the workloads'
// labels through the dynamic client.
func TestGetForObjects(t *testing.T) {
	deploy := func(ns, name string, lbls map[string]string) runtime.Object {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("apps/v1")
		u.SetKind("Deployment")
		u.SetNamespace(ns)
		u.SetName(name)
		u.SetLabels(lbls)
		return u
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{
			{Group: "apps", Version: "v1", Resource: "deployments"}:  "DeploymentList",
			{Group: "apps", Version: "v1", Resource: "statefulsets"}: "StatefulSetList",
		},
		deploy("shop", "api", map[string]string{"tier": "front"}),
		deploy("shop", "web", map[string]string{"tier": "front"}),
		deploy("shop", "cart", map[string]string{"tier": "front"}), // no target
		deploy("shop", "batch", map[string]string{"tier": "back"}),
	)
	e := newEnv(t, false, metricsapi.DynamicLister{Client: dyn})
	load := milli(e.trace(t))
	ns := e.custom.NamespacedMetrics("shop")
	for _, tc := range []struct {
		selector labels.Selector
		want     []string
	}{
		{labels.SelectorFromSet(labels.Set{"tier": "front"}), []string{"api"}},
		{labels.Everything(), []string{"api"}},
		{labels.SelectorFromSet(labels.Set{"tier": "back"}), nil},
	} {
		t.Run(tc.selector.String(), func(t *testing.T) {
			list, err := ns.GetForObjects(deployment, tc.selector, metricsapi.DefaultMetric, labels.Everything())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range list.Items {
				got = append(got, v.DescribedObject.Name)
				if math.Abs(v.Value.AsApproximateFloat64()-load) > 1e-9 {
					t.Errorf("%s: value %s, want %g", v.DescribedObject.Name, v.Value.String(), load)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("objects = %v, want %v", got, tc.want)
			}
		})
	}
	// web's metric has its own name.
	list, err := ns.GetForObjects(deployment, labels.SelectorFromSet(labels.Set{"tier": "front"}), "web_load_ahead", labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].DescribedObject.Name != "web" {
		t.Errorf("web_load_ahead by selector: %+v", list.Items)
	}
}

func TestExternal(t *testing.T) {
	e := newEnv(t, true, nil)
	load := milli(e.trace(t))
	client := emclient.NewForConfigOrDie(e.config)
	for _, tc := range []struct {
		namespace, metric string
		selector          labels.Selector
		want              map[string]float64 // workload → value
	}{
		{"shop", metricsapi.DefaultMetric, labels.SelectorFromSet(labels.Set{"workload": "api"}), map[string]float64{"api": load}},
		{"shop", metricsapi.DefaultMetric, labels.SelectorFromSet(labels.Set{"kind": "StatefulSet"}), map[string]float64{"db": 20}},
		{"shop", metricsapi.DefaultMetric, labels.Everything(), map[string]float64{"api": load, "db": 20}},
		{"other", metricsapi.DefaultMetric, labels.Everything(), map[string]float64{"api": load}},
	} {
		t.Run(tc.namespace+"/"+tc.selector.String(), func(t *testing.T) {
			list, err := client.NamespacedMetrics(tc.namespace).List(tc.metric, tc.selector)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, v := range list.Items {
				if v.MetricName != tc.metric || !v.Timestamp.Time.Equal(now) {
					t.Errorf("%+v: want metric %s at %s", v, tc.metric, now)
				}
				got[v.MetricLabels["workload"]] = v.Value.AsApproximateFloat64()
			}
			if len(got) != len(tc.want) {
				t.Fatalf("values %v, want %v", got, tc.want)
			}
			for w, v := range tc.want {
				if math.Abs(got[w]-v) > 1e-9 {
					t.Errorf("%s = %g, want %g", w, got[w], v)
				}
			}
		})
	}
}

// TestNotFound checks the 404s, and that their messages say what exists.
func TestNotFound(t *testing.T) {
	e := newEnv(t, true, nil)
	custom := func(ns string, kind schema.GroupKind, name, metric string, sel labels.Selector) func() error {
		return func() error {
			_, err := e.custom.NamespacedMetrics(ns).GetForObject(kind, name, metric, sel)
			return err
		}
	}
	ext := func(ns, metric string, sel labels.Selector) func() error {
		return func() error {
			_, err := emclient.NewForConfigOrDie(e.config).NamespacedMetrics(ns).List(metric, sel)
			return err
		}
	}
	for _, tc := range []struct {
		name string
		call func() error
		says string
	}{
		{"unknown object", custom("shop", deployment, "cart", metricsapi.DefaultMetric, labels.Everything()), "declared in this namespace: Deployment/api foresight_predicted_load"},
		{"unknown metric", custom("shop", deployment, "api", "cpu", labels.Everything()), "no shop/Deployment/api with metric cpu"},
		{"wrong kind", custom("shop", statefulSet, "api", metricsapi.DefaultMetric, labels.Everything()), "no shop/StatefulSet/api"},
		{"unknown namespace", custom("nowhere", deployment, "api", metricsapi.DefaultMetric, labels.Everything()), "declares none in this namespace"},
		{"metric selector", custom("shop", deployment, "api", metricsapi.DefaultMetric, labels.SelectorFromSet(labels.Set{"workload": "web"})), "with selector workload=web"},
		{"external unknown metric", ext("shop", "cpu", labels.Everything()), "could not find the external metric cpu in namespace shop"},
		{"external unknown namespace", ext("nowhere", metricsapi.DefaultMetric, labels.Everything()), "declares none in this namespace"},
		{"external selector", ext("shop", metricsapi.DefaultMetric, labels.SelectorFromSet(labels.Set{"workload": "cart"})), "with selector workload=cart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !apierrors.IsNotFound(err) {
				t.Fatalf("error %v, want NotFound", err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}

	// A resource Foresight serves nothing on, and a selector lookup
	// without a lister, by raw path.
	for path, code := range map[string]int{
		"/apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/pods/api/" + metricsapi.DefaultMetric:                          http.StatusNotFound,
		"/apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/deployments.apps/*/foresight_predicted_load?labelSelector=a=b": http.StatusBadRequest,
		"/apis/custom.metrics.k8s.io/v1beta2/namespaces/shop/deployments.apps/*/foresight_predicted_load?labelSelector=(((": http.StatusBadRequest,
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/foresight_predicted_load?labelSelector=!!":                   http.StatusBadRequest,
	} {
		resp, err := http.Get(e.config.Host + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, code)
		}
	}

	// Every lookup is counted by its outcome: the five 404s by name
	// above, and pods/api.
	if got := requests(t, e.reg, "custom_by_name", "404"); got != 6 {
		t.Errorf("foresight_metricsapi_requests_total{call=custom_by_name,code=404} = %g, want 6", got)
	}
}

// requests returns foresight_metricsapi_requests_total of a call and code.
func requests(t *testing.T, reg *prometheus.Registry, call, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "foresight_metricsapi_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			lbl := map[string]string{}
			for _, l := range m.GetLabel() {
				lbl[l.GetName()] = l.GetValue()
			}
			if lbl["call"] == call && lbl["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestExternalOff checks that without the external provider the group is
// not served at all.
func TestExternalOff(t *testing.T) {
	e := newEnv(t, false, nil)
	_, err := emclient.NewForConfigOrDie(e.config).NamespacedMetrics("shop").List(metricsapi.DefaultMetric, labels.Everything())
	if !apierrors.IsNotFound(err) {
		t.Errorf("external metric with the provider off: %v, want NotFound", err)
	}
}

// TestUnavailable checks that a query with no data answers 503, the HPA's
// signal to hold its replicas, not 404 or a value: against a real, empty
// VictoriaMetrics.
func TestUnavailable(t *testing.T) {
	vm := tsdbtest.StartVictoriaMetrics(t)
	set, err := promsource.NewSet(promsource.SingleConfig(vm.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	targets, err := metricsapi.ParseTargets([]byte(`
targets:
  - namespace: shop
    kind: Deployment
    name: api
    policy: {query: 'sum(rate(http_requests_total[2m]))', targetPerReplica: "1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	pred := scaler.NewPredictor(promSources{set}, scaler.Options{})
	prov := metricsapi.NewProvider(pred, targets, metricsapi.Options{})
	_, err = prov.GetMetricByName(t.Context(), types.NamespacedName{Namespace: "shop", Name: "api"}, provider.CustomMetricInfo{
		GroupResource: schema.GroupResource{Group: "apps", Resource: "deployments"}, Namespaced: true, Metric: metricsapi.DefaultMetric,
	}, labels.Everything())
	if !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("error %v, want ServiceUnavailable", err)
	}
	if !strings.Contains(err.Error(), "no value yet") {
		t.Errorf("error %q does not say why", err)
	}
	_, err = prov.GetExternalMetric(t.Context(), "shop", labels.Everything(), provider.ExternalMetricInfo{Metric: metricsapi.DefaultMetric})
	if !apierrors.IsServiceUnavailable(err) {
		t.Errorf("external: error %v, want ServiceUnavailable", err)
	}
}

type promSources struct{ set promsource.Set }

func (p promSources) Source(name string) (scaler.Source, error) { return p.set.Get(name) }
