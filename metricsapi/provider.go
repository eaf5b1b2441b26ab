package metricsapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/metrics/pkg/apis/custom_metrics"
	"k8s.io/metrics/pkg/apis/external_metrics"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/foresight-aiops/foresight/promsource"
	"github.com/foresight-aiops/foresight/scaler"
)

// Predictor answers for a target under its policy; *scaler.Predictor is
// the one, shared with the KEDA scaler.
type Predictor interface {
	Predict(ctx context.Context, ref scaler.Ref, p scaler.Policy) (scaler.Prediction, error)
}

// Lister lists the names of the objects of a resource (deployments.apps or
// statefulsets.apps) in a namespace whose labels match selector: the
// cluster's answer to a lookup by label selector. DynamicLister is one.
type Lister interface {
	ListNames(ctx context.Context, namespace string, resource schema.GroupResource, selector labels.Selector) ([]string, error)
}

// Options configure a Provider. Zero fields take the defaults named.
type Options struct {
	// Lister answers lookups by a label selector that selects something
	// (nil: they are refused with 400; a lookup with no selector, or one
	// that selects everything, needs no cluster read).
	Lister Lister
	// Registerer takes the provider's metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Logger (nil: discard).
	Logger *slog.Logger
	// Now is the clock of the values' timestamps (nil: time.Now).
	Now func() time.Time
}

// Provider serves the predictions of its targets as custom metrics (on
// the workload objects) and external metrics (in the targets' namespaces).
// It implements provider.CustomMetricsProvider and
// provider.ExternalMetricsProvider; give it to the API server as either or
// both.
//
// Errors are the Kubernetes API's: 404 (provider.NewMetricNotFoundError)
// for a metric, object or namespace no target declares, with the targets
// that exist in the message; 400 for a label selector without a Lister;
// 503 when the predictor has no value (its datasource has been unreachable
// for longer than maxStaleness, or no value was ever read), so that the
// HPA holds its replicas as it does for any invalid metric; 500 for a
// query the datasource refuses.
type Provider struct {
	pred    Predictor
	targets []Target // sorted
	index   map[targetKey]int
	opts    Options
	log     *slog.Logger
	metrics *providerMetrics
	// custom and external are what ListAllMetrics and
	// ListAllExternalMetrics return.
	custom   []provider.CustomMetricInfo
	external []provider.ExternalMetricInfo
}

var (
	_ provider.CustomMetricsProvider   = (*Provider)(nil)
	_ provider.ExternalMetricsProvider = (*Provider)(nil)
)

// NewProvider returns a Provider of targets (as ParseTargets returns them)
// answering from pred.
func NewProvider(pred Predictor, targets []Target, opts Options) *Provider {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ts := slices.Clone(targets)
	sortTargets(ts)
	p := &Provider{pred: pred, targets: ts, index: make(map[targetKey]int, len(ts)), opts: opts, log: log, metrics: newProviderMetrics(opts.Registerer, ts)}
	for i, t := range ts {
		p.index[targetKey{t.Namespace, t.Kind, t.Name, t.Metric}] = i
		ci := provider.CustomMetricInfo{GroupResource: t.Resource(), Namespaced: true, Metric: t.Metric}
		if !slices.Contains(p.custom, ci) {
			p.custom = append(p.custom, ci)
		}
		ei := provider.ExternalMetricInfo{Metric: t.Metric}
		if !slices.Contains(p.external, ei) {
			p.external = append(p.external, ei)
		}
	}
	slices.SortFunc(p.external, func(a, b provider.ExternalMetricInfo) int { return strings.Compare(a.Metric, b.Metric) })
	return p
}

// kindOf returns the Kind a requested resource means: deployments or
// statefulsets in group apps (or with no group, as `kubectl get --raw`
// users write it; singular accepted), or "".
func kindOf(gr schema.GroupResource) string {
	if gr.Group != "apps" && gr.Group != "" {
		return ""
	}
	switch gr.Resource {
	case "deployments", "deployment":
		return KindDeployment
	case "statefulsets", "statefulset":
		return KindStatefulSet
	}
	return ""
}

// GetMetricByName returns the metric of one workload: what an HPA's
// Object metric asks for.
func (p *Provider) GetMetricByName(ctx context.Context, name types.NamespacedName, info provider.CustomMetricInfo, metricSelector labels.Selector) (*custom_metrics.MetricValue, error) {
	start := time.Now()
	v, err := p.metricByName(ctx, name, info, metricSelector)
	p.metrics.done(callByName, start, err)
	return v, err
}

func (p *Provider) metricByName(ctx context.Context, name types.NamespacedName, info provider.CustomMetricInfo, metricSelector labels.Selector) (*custom_metrics.MetricValue, error) {
	kind := kindOf(info.GroupResource)
	t, ok := p.find(name.Namespace, kind, name.Name, info.Metric)
	if !ok {
		return nil, p.notFoundForObject(info, name, kind)
	}
	if !matches(metricSelector, t) {
		return nil, provider.NewMetricNotFoundForSelectorError(info.GroupResource, info.Metric, name.Name, metricSelector)
	}
	pred, err := p.predict(ctx, t)
	if err != nil {
		return nil, err
	}
	return p.value(t, pred)
}

// GetMetricBySelector returns the metric of the workloads of a namespace
// whose labels match selector (read from the cluster through the Lister;
// an empty selector needs no read and matches every target). A workload
// that matches but has no target is left out; so is one whose prediction
// fails, unless all fail, when the first error is returned.
func (p *Provider) GetMetricBySelector(ctx context.Context, namespace string, selector labels.Selector, info provider.CustomMetricInfo, metricSelector labels.Selector) (*custom_metrics.MetricValueList, error) {
	start := time.Now()
	v, err := p.metricBySelector(ctx, namespace, selector, info, metricSelector)
	p.metrics.done(callBySelector, start, err)
	return v, err
}

func (p *Provider) metricBySelector(ctx context.Context, namespace string, selector labels.Selector, info provider.CustomMetricInfo, metricSelector labels.Selector) (*custom_metrics.MetricValueList, error) {
	kind := kindOf(info.GroupResource)
	var candidates []Target
	for _, t := range p.targets {
		if t.Namespace == namespace && t.Kind == kind && t.Metric == info.Metric {
			candidates = append(candidates, t)
		}
	}
	if len(candidates) == 0 {
		return nil, p.notFound(info.GroupResource, info.Metric, namespace, kind)
	}
	if selector != nil && !selector.Empty() {
		if p.opts.Lister == nil {
			return nil, apierrors.NewBadRequest("a label selector needs the cluster's labels, and this server has no lister: use a lookup by name, or run it with --lister-kubeconfig (or in the cluster)")
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		names, err := p.opts.Lister.ListNames(lctx, namespace, candidates[0].Resource(), selector)
		cancel()
		if err != nil {
			p.log.WarnContext(ctx, "listing workloads by label selector failed: check the lister's RBAC (list on deployments and statefulsets)",
				"namespace", namespace, "resource", info.GroupResource.String(), "selector", selector.String(), "err", err)
			return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("listing %s in %s by label selector %s: %v", info.GroupResource, namespace, selector, err))
		}
		candidates = slices.DeleteFunc(candidates, func(t Target) bool { return !slices.Contains(names, t.Name) })
	}
	out := &custom_metrics.MetricValueList{}
	var firstErr error
	for _, t := range candidates {
		if !matches(metricSelector, t) {
			continue
		}
		pred, err := p.predict(ctx, t)
		var v *custom_metrics.MetricValue
		if err == nil {
			v, err = p.value(t, pred)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out.Items = append(out.Items, *v)
	}
	if len(out.Items) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// ListAllMetrics lists one metric per resource and metric name declared.
func (p *Provider) ListAllMetrics() []provider.CustomMetricInfo {
	return slices.Clone(p.custom)
}

// GetExternalMetric returns the metric of the targets of a namespace
// (the HPA's) whose labels (kind and workload) match metricSelector: an
// HPA's External metric should select one workload, e.g.
// matchLabels: {workload: api}, since the HPA adds up the values returned.
func (p *Provider) GetExternalMetric(ctx context.Context, namespace string, metricSelector labels.Selector, info provider.ExternalMetricInfo) (*external_metrics.ExternalMetricValueList, error) {
	start := time.Now()
	v, err := p.externalMetric(ctx, namespace, metricSelector, info)
	p.metrics.done(callExternal, start, err)
	return v, err
}

func (p *Provider) externalMetric(ctx context.Context, namespace string, metricSelector labels.Selector, info provider.ExternalMetricInfo) (*external_metrics.ExternalMetricValueList, error) {
	gr := schema.GroupResource{Group: external_metrics.GroupName, Resource: info.Metric}
	var candidates []Target
	declared := false
	for _, t := range p.targets {
		if t.Namespace != namespace || t.Metric != info.Metric {
			continue
		}
		declared = true
		if matches(metricSelector, t) {
			candidates = append(candidates, t)
		}
	}
	switch {
	case !declared:
		err := provider.NewMetricNotFoundError(gr, info.Metric)
		err.ErrStatus.Message = fmt.Sprintf("the server could not find the external metric %s in namespace %s: no target of the targets file serves it there%s",
			info.Metric, namespace, p.inNamespace(namespace))
		return nil, err
	case len(candidates) == 0:
		return nil, provider.NewMetricNotFoundForSelectorError(gr, info.Metric, namespace, metricSelector)
	}
	out := &external_metrics.ExternalMetricValueList{}
	for _, t := range candidates {
		pred, err := p.predict(ctx, t)
		if err != nil {
			return nil, err // the HPA adds the values up: all or none
		}
		q, err := quantity(pred.Served)
		if err != nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("%s: %w", t, err))
		}
		out.Items = append(out.Items, external_metrics.ExternalMetricValue{
			MetricName:   t.Metric,
			MetricLabels: t.Labels(),
			Timestamp:    metav1.NewTime(p.opts.Now()),
			Value:        q,
		})
	}
	return out, nil
}

// ListAllExternalMetrics lists each metric name declared, once.
func (p *Provider) ListAllExternalMetrics() []provider.ExternalMetricInfo {
	return slices.Clone(p.external)
}

// targetKey identifies a target.
type targetKey struct{ namespace, kind, name, metric string }

// find returns the target of a workload's metric.
func (p *Provider) find(namespace, kind, name, metric string) (Target, bool) {
	i, ok := p.index[targetKey{namespace, kind, name, metric}]
	if !ok {
		return Target{}, false
	}
	return p.targets[i], true
}

// matches reports whether a metric selector (nil: everything) selects t's
// metric values.
func matches(sel labels.Selector, t Target) bool {
	return sel == nil || sel.Matches(t.Labels())
}

// notFoundForObject is the 404 of a lookup by name, saying what exists.
func (p *Provider) notFoundForObject(info provider.CustomMetricInfo, name types.NamespacedName, kind string) error {
	err := provider.NewMetricNotFoundForError(info.GroupResource, info.Metric, name.Name)
	if kind == "" {
		err.ErrStatus.Message += ": Foresight serves metrics on deployments.apps and statefulsets.apps only"
		return err
	}
	err.ErrStatus.Message += fmt.Sprintf(" in namespace %s: the targets file declares no %s/%s/%s with metric %s%s",
		name.Namespace, name.Namespace, kind, name.Name, info.Metric, p.inNamespace(name.Namespace))
	return err
}

// notFound is the 404 of a lookup by selector.
func (p *Provider) notFound(gr schema.GroupResource, metric, namespace, kind string) error {
	err := provider.NewMetricNotFoundError(gr, metric)
	if kind == "" {
		err.ErrStatus.Message += ": Foresight serves metrics on deployments.apps and statefulsets.apps only"
		return err
	}
	err.ErrStatus.Message += fmt.Sprintf(" in namespace %s%s", namespace, p.inNamespace(namespace))
	return err
}

// inNamespace lists the targets of a namespace for a 404's message.
func (p *Provider) inNamespace(namespace string) string {
	const most = 10
	var names []string
	for _, t := range p.targets {
		if t.Namespace == namespace {
			names = append(names, t.Kind+"/"+t.Name+" "+t.Metric)
		}
	}
	switch n := len(names); {
	case n == 0:
		return " (the targets file declares none in this namespace)"
	case n > most:
		names = append(names[:most], fmt.Sprintf("and %d more", n-most))
	}
	return " (declared in this namespace: " + strings.Join(names, ", ") + ")"
}

// predict asks the predictor, and maps its errors to the API's.
func (p *Provider) predict(ctx context.Context, t Target) (scaler.Prediction, error) {
	pred, err := p.pred.Predict(ctx, t.ref(), t.Policy)
	if err == nil {
		return pred, nil
	}
	switch {
	case errors.Is(err, scaler.ErrStale), errors.Is(err, scaler.ErrNoValue):
		// The HPA treats the metric as invalid and holds its replicas.
		p.log.WarnContext(ctx, "no value to serve: the HPA holds its replicas until the datasource answers",
			"target", t.String(), "err", err)
		return pred, apierrors.NewServiceUnavailable(fmt.Sprintf("%s: %v", t, err))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return pred, apierrors.NewTimeoutError(fmt.Sprintf("%s: %v", t, err), 1)
	case errors.Is(err, promsource.ErrBadQuery), errors.Is(err, promsource.ErrUnknownDatasource):
		p.log.WarnContext(ctx, "the datasource refuses the target's query: fix the policy in the targets file", "target", t.String(), "err", err)
	default:
		p.log.WarnContext(ctx, "prediction failed", "target", t.String(), "err", err)
	}
	return pred, apierrors.NewInternalError(fmt.Errorf("%s: %w", t, err))
}

// value is the custom metric value of a prediction for t.
func (p *Provider) value(t Target, pred scaler.Prediction) (*custom_metrics.MetricValue, error) {
	q, err := quantity(pred.Served)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("%s: %w", t, err))
	}
	return &custom_metrics.MetricValue{
		DescribedObject: custom_metrics.ObjectReference{
			APIVersion: "apps/v1",
			Kind:       t.Kind,
			Namespace:  t.Namespace,
			Name:       t.Name,
		},
		Metric:    custom_metrics.MetricIdentifier{Name: t.Metric, Selector: &metav1.LabelSelector{MatchLabels: t.Labels()}},
		Timestamp: metav1.NewTime(p.opts.Now()),
		Value:     q,
	}, nil
}

// maxMilli is the largest value written in thousandths.
const maxMilli = math.MaxInt64 / 1000

// quantity writes v rounded up to the thousandth (never below the load
// served: rounding must not under-provision), or to the unit above
// 9.2e15.
func quantity(v float64) (resource.Quantity, error) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return resource.Quantity{}, fmt.Errorf("the prediction is %v", v)
	case math.Abs(v) < maxMilli:
		return *resource.NewMilliQuantity(int64(math.Ceil(v*1000)), resource.DecimalSI), nil
	case math.Abs(v) < math.MaxInt64/2:
		return *resource.NewQuantity(int64(math.Ceil(v)), resource.DecimalSI), nil
	}
	return resource.Quantity{}, fmt.Errorf("the prediction %g is beyond the API's quantities", v)
}
