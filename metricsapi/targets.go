// Package metricsapi serves Foresight's predictions through the Kubernetes
// metrics APIs, so that a plain autoscaling/v2 HorizontalPodAutoscaler can
// scale on them without KEDA: custom.metrics.k8s.io (an Object metric
// described on the scaled Deployment or StatefulSet) and, where no other
// server owns it, external.metrics.k8s.io. Both answer from the same
// scaler.Predictor, with the same policy keys, as the KEDA external scaler,
// so that a workload moves between KEDA and a plain HPA without surprises.
//
// Which workloads have a prediction, and under which policy, is declared
// in a targets file (see ParseTargets); the value served is the load, and
// the HPA's target is the policy's targetPerReplica, so that the HPA's
// replicas are ceil(load / targetPerReplica) as with KEDA.
package metricsapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/foresight-aiops/foresight/scaler"
)

// DefaultMetric is the metric name of a target that names none.
const DefaultMetric = "foresight_predicted_load"

// Kinds of workload a target may name.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
)

// Labels of every metric value, for the HPA's metric selector: an External
// metric shared by several targets of a namespace is told apart by them.
const (
	LabelKind     = "kind"
	LabelWorkload = "workload"
)

// maxTargets bounds the entries of a targets file.
const maxTargets = 10_000

// ErrInvalidTargets is wrapped by every error of ParseTargets: the file
// must be fixed, and reading it again will not help.
var ErrInvalidTargets = errors.New("invalid targets file")

// Target is one workload with a prediction: the metric is served for it
// in custom.metrics.k8s.io (on the object) and external.metrics.k8s.io
// (in its namespace, with the labels kind and workload).
type Target struct {
	// Namespace, Kind and Name of the scaled workload; Kind is Deployment
	// or StatefulSet (group apps).
	Namespace, Kind, Name string
	// Metric is the metric's name (DefaultMetric if the file names none).
	Metric string
	// Policy is the entry's policy map, decoded by scaler.ParsePolicy as a
	// KEDA trigger's metadata is.
	Policy scaler.Policy
}

// Resource returns the target's resource in group apps, e.g.
// deployments.apps.
func (t Target) Resource() schema.GroupResource {
	return schema.GroupResource{Group: "apps", Resource: strings.ToLower(t.Kind) + "s"}
}

// Labels returns the labels of the target's metric values.
func (t Target) Labels() labels.Set {
	return labels.Set{LabelKind: t.Kind, LabelWorkload: t.Name}
}

// String writes namespace/Kind/name metric.
func (t Target) String() string {
	return t.Namespace + "/" + t.Kind + "/" + t.Name + " " + t.Metric
}

// ref is the name the predictor's metrics publish for the target:
// namespace, and kind/name (lower case) in the scaledobject label.
func (t Target) ref() scaler.Ref {
	return scaler.Ref{Namespace: t.Namespace, Name: strings.ToLower(t.Kind) + "/" + t.Name}
}

// TargetError is what is wrong with one entry of a targets file. It wraps
// ErrInvalidTargets and, for a policy key, the *scaler.MetadataError.
type TargetError struct {
	// Index is the entry's position in targets (from 0), or -1 for the
	// file as a whole; Entry names it (namespace/Kind/name) when known.
	Index int
	Entry string
	// Key is the entry's key at fault, e.g. kind or policy.leadTime.
	Key string
	Err error
}

// Error writes e.g. targets[2] (shop/Deployment/api): policy.leadTime "x":
// must be a positive duration, ….
func (e *TargetError) Error() string {
	var b strings.Builder
	if e.Index >= 0 {
		fmt.Fprintf(&b, "targets[%d]", e.Index)
		if e.Entry != "" {
			fmt.Fprintf(&b, " (%s)", e.Entry)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns ErrInvalidTargets and the cause.
func (e *TargetError) Unwrap() []error { return []error{ErrInvalidTargets, e.Err} }

// file is the YAML of a targets file.
type file struct {
	Targets []entry `yaml:"targets"`
}

type entry struct {
	Namespace string            `yaml:"namespace"`
	Kind      string            `yaml:"kind"`
	Name      string            `yaml:"name"`
	Metric    string            `yaml:"metric"`
	Policy    map[string]string `yaml:"policy"`
}

// metricName is what a metric's name may be: a Prometheus metric name, so
// that it is one segment of the API's URL paths.
var metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// LoadTargets reads and validates a targets file (see ParseTargets).
func LoadTargets(path string) ([]Target, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the targets file: %w", err)
	}
	ts, err := ParseTargets(data)
	if err != nil {
		return nil, fmt.Errorf("targets file %s: %w", path, err)
	}
	return ts, nil
}

// ParseTargets decodes and validates a targets file:
//
//	targets:
//	  - namespace: shop
//	    kind: Deployment          # or StatefulSet
//	    name: api
//	    metric: foresight_predicted_load   # the default
//	    policy:                   # a KEDA trigger's metadata, as is
//	      query: sum(rate(http_requests_total{job="api"}[2m]))
//	      targetPerReplica: "50"
//
// Unknown keys are errors, at every level; policy is decoded by
// scaler.ParsePolicy, so it takes the same keys, defaults and checks as
// the KEDA trigger (KEDA's own keys, such as scalerAddress, are accepted
// and ignored, so that a trigger can be copied as is). namespace and name
// must be valid Kubernetes names, the metric a Prometheus metric name, and
// no two entries may name the same workload and metric. A file with no
// target is an error.
//
// The error reports every problem at once, one *TargetError per entry and
// key, joined by errors.Join; each wraps ErrInvalidTargets.
func ParseTargets(data []byte) ([]Target, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	switch {
	case len(f.Targets) == 0:
		return nil, &TargetError{Index: -1, Err: errors.New("no targets: list the workloads under targets: (see docs/metricsapi.md)")}
	case len(f.Targets) > maxTargets:
		return nil, &TargetError{Index: -1, Err: fmt.Errorf("%d targets: at most %d", len(f.Targets), maxTargets)}
	}
	var errs []error
	out := make([]Target, 0, len(f.Targets))
	seen := map[string]int{}
	for i, e := range f.Targets {
		t, problems := e.target(i)
		errs = append(errs, problems...)
		if len(problems) > 0 {
			continue
		}
		if j, dup := seen[t.String()]; dup {
			errs = append(errs, &TargetError{Index: i, Entry: t.String(), Key: "name", Err: fmt.Errorf("the same workload and metric as targets[%d]: give each workload's metric once", j)})
			continue
		}
		seen[t.String()] = i
		out = append(out, t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// yamlTypes names the types of the file for the YAML decoder's messages.
var yamlTypes = strings.NewReplacer(
	"in type metricsapi.file", "at the top of the file (the key is targets)",
	"in type metricsapi.entry", "in a target (the keys are namespace, kind, name, metric and policy)",
	"into map[string]string", "into policy, a map of the KEDA trigger's keys to their values",
	"into []metricsapi.entry", "into targets, a list of targets",
	"into metricsapi.file", "into a targets file (a map with the key targets)",
	"into metricsapi.entry", "into a target (a map with the keys namespace, kind, name, metric and policy)",
)

// yamlError reports the decoder's problems one by one, in the file's terms.
func yamlError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return &TargetError{Index: -1, Err: fmt.Errorf("YAML: %w", err)}
	}
	errs := make([]error, len(te.Errors))
	for i, e := range te.Errors {
		errs[i] = &TargetError{Index: -1, Err: errors.New("YAML: " + yamlTypes.Replace(e))}
	}
	return errors.Join(errs...)
}

// target validates entry i.
func (e entry) target(i int) (Target, []error) {
	t := Target{Namespace: strings.TrimSpace(e.Namespace), Kind: strings.TrimSpace(e.Kind), Name: strings.TrimSpace(e.Name), Metric: strings.TrimSpace(e.Metric)}
	if t.Metric == "" {
		t.Metric = DefaultMetric
	}
	entryName := t.Namespace + "/" + t.Kind + "/" + t.Name
	var errs []error
	// fail adds the problem of a key; value is the value at fault, "" if
	// missing.
	fail := func(key, value, problem string) {
		err := errors.New(key + ": " + problem)
		if value != "" {
			err = fmt.Errorf("%s %q: %s", key, shorten(value), problem)
		}
		errs = append(errs, &TargetError{Index: i, Entry: entryName, Key: key, Err: err})
	}
	if t.Namespace == "" {
		fail("namespace", "", "required: the namespace of the scaled workload")
	} else if msgs := validation.IsDNS1123Label(t.Namespace); len(msgs) > 0 {
		fail("namespace", t.Namespace, "must be a namespace name: "+strings.Join(msgs, "; "))
	}
	switch k := t.Kind; {
	case k == KindDeployment, k == KindStatefulSet:
	case strings.EqualFold(k, KindDeployment):
		fail("kind", k, "write Deployment")
	case strings.EqualFold(k, KindStatefulSet):
		fail("kind", k, "write StatefulSet")
	case k == "":
		fail("kind", "", "required: Deployment or StatefulSet")
	default:
		fail("kind", k, "must be Deployment or StatefulSet (the workloads an HPA scales through apps/v1)")
	}
	if t.Name == "" {
		fail("name", "", "required: the name of the scaled workload")
	} else if msgs := validation.IsDNS1123Subdomain(t.Name); len(msgs) > 0 {
		fail("name", t.Name, "must be an object name: "+strings.Join(msgs, "; "))
	}
	if !metricName.MatchString(t.Metric) {
		fail("metric", t.Metric, "must be a metric name: letters, digits, '_' and ':', not starting with a digit (e.g. "+DefaultMetric+")")
	}
	if len(e.Policy) == 0 {
		fail("policy", "", "required: the trigger metadata of the KEDA scaler, at least query and targetPerReplica")
		return t, errs
	}
	p, err := scaler.ParsePolicy(e.Policy)
	if err != nil {
		// One error per policy key, each named policy.KEY.
		var multi interface{ Unwrap() []error }
		parts := []error{err}
		if errors.As(err, &multi) {
			parts = multi.Unwrap()
		}
		for _, part := range parts {
			key := "policy"
			var me *scaler.MetadataError
			if errors.As(part, &me) {
				key += "." + me.Key
			}
			errs = append(errs, &TargetError{Index: i, Entry: entryName, Key: key, Err: fmt.Errorf("policy.%w", part)})
		}
	}
	t.Policy = p
	return t, errs
}

// shorten cuts s for an error message.
func shorten(s string) string {
	const most = 80
	if len(s) > most {
		return s[:most] + "..."
	}
	return s
}

// sortTargets orders targets by namespace, kind, name and metric.
func sortTargets(ts []Target) {
	slices.SortFunc(ts, func(a, b Target) int { return strings.Compare(a.String(), b.String()) })
}
