// Package rules generates Prometheus recording and alerting rules for
// z-score anomaly baselines, for teams that want anomaly alerts with no
// service beyond Prometheus itself.
//
// For a signal x (recorded from its expression) and a baseline window W,
// the rules are those of GitLab's approach (Newdigate, "Anomaly detection
// using Prometheus", Monitorama 2019):
//
//	μ_W = avg_over_time(x[W]),  σ_W = stddev_over_time(x[W]),  z = (x − μ_W)/max(σ_W, σ_min)
//
// with the floors that keep it from flapping where it is known to: the
// standard deviation floor σ_min (a flat series has σ ≈ 0, which turns
// jitter into |z| > 3, or divides 0 by 0), an absolute floor on the
// deviation |x − μ_W| > d_min (a 0.3% CPU mode moving to 1.3% is 333% but
// only 0.01), and a floor on the signal's volume x > v_min (a night's
// sparse requests). The alert is
//
//	|z| > k  and  |x − μ_W| > d_min  and  x > v_min   (for: the given duration)
//
// with the side of |·| the direction selects.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/foresight-aiops/foresight/forecast"
)

// Spec is the input of Generate: a file of baselines.
type Spec struct {
	// Name names the rule group (and the PrometheusRule object).
	Name      string     `yaml:"name"`
	Baselines []Baseline `yaml:"baselines"`
}

// Baseline is one signal to watch.
type Baseline struct {
	// Alert is the alert's name, e.g. APIRequestRateAnomaly.
	Alert string `yaml:"alert"`
	// Record is the name of the recording rule of the signal, e.g.
	// job:http_requests:rate5m; the baseline's rules are named after it.
	Record string `yaml:"record"`
	// Expr is the PromQL expression of the signal, aggregated first
	// ("the right level of aggregation is the key"), e.g.
	// sum by (job) (rate(http_requests_total[5m])).
	Expr string `yaml:"expr"`
	// Window is the baseline window W, e.g. 1w (default 1w).
	Window string `yaml:"window"`
	// Threshold is k, in standard deviations (default 3).
	Threshold float64 `yaml:"threshold"`
	// For is how long the condition must hold before the alert fires
	// (default 10m).
	For string `yaml:"for"`
	// Direction: both (default), above or below.
	Direction string `yaml:"direction"`
	// MinStddev is σ_min, the smallest standard deviation that means
	// something for this signal, in its unit: required, above 0.
	MinStddev float64 `yaml:"min_stddev"`
	// MinDeviation is d_min, the smallest deviation worth an alert, in the
	// signal's unit (0: none).
	MinDeviation float64 `yaml:"min_deviation"`
	// MinValue is v_min: below it the signal is too sparse to judge (0:
	// none). It is a floor on x, so it applies to drops as well.
	MinValue float64 `yaml:"min_value"`
	// Labels and Annotations are added to the alert.
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// ErrBadSpec is wrapped by the validation errors of a Spec.
var ErrBadSpec = errors.New("invalid rules specification")

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	alertName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// ReadSpec decodes a spec from YAML, rejecting unknown keys, and fills the
// defaults and validates it.
func ReadSpec(r io.Reader) (Spec, error) {
	var s Spec
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return s, fmt.Errorf("%w: the file is empty: give a name and a list of baselines", ErrBadSpec)
		}
		return s, fmt.Errorf("%w: %w", ErrBadSpec, err)
	}
	// A second document would be dropped, with its baselines and their
	// floors: refuse it.
	var more any
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return s, fmt.Errorf("%w: the file holds more than one YAML document (---): list every baseline under one baselines key", ErrBadSpec)
	}
	s = s.withDefaults()
	return s, s.Validate()
}

func (s Spec) withDefaults() Spec {
	if s.Name == "" {
		s.Name = "foresight-anomaly"
	}
	for i := range s.Baselines {
		b := &s.Baselines[i]
		if b.Window == "" {
			b.Window = "1w"
		}
		if b.Threshold == 0 {
			b.Threshold = 3
		}
		if b.For == "" {
			b.For = "10m"
		}
		if b.Direction == "" {
			b.Direction = "both"
		}
	}
	return s
}

// Validate reports every problem of s, each with what to change.
func (s Spec) Validate() error {
	var errs []error
	if len(s.Baselines) == 0 {
		errs = append(errs, errors.New("no baselines: list at least one, each with alert, record, expr and min_stddev"))
	}
	seen := map[string]bool{}
	for i, b := range s.Baselines {
		where := fmt.Sprintf("baseline %d (%s)", i+1, b.Alert)
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: "+format, append([]any{where}, args...)...))
		}
		if !alertName.MatchString(b.Alert) {
			bad("alert %q must be a name of letters, digits and underscores", b.Alert)
		}
		if !metricName.MatchString(b.Record) {
			bad("record %q must be a metric name, such as job:http_requests:rate5m", b.Record)
		}
		if seen[b.Record] {
			bad("record %q is used twice: each baseline needs its own", b.Record)
		}
		seen[b.Record] = true
		if strings.TrimSpace(b.Expr) == "" {
			bad("expr is empty: give the signal's PromQL expression")
		}
		if _, err := promDuration(b.Window); err != nil {
			bad("window: %v", err)
		}
		if _, err := promDuration(b.For); err != nil {
			bad("for: %v", err)
		}
		if !(b.Threshold > 0) || math.IsInf(b.Threshold, 0) {
			bad("threshold %g must be a positive number of standard deviations, e.g. 3", b.Threshold)
		}
		switch b.Direction {
		case "both", "above", "below":
		default:
			bad("direction %q: use both, above or below", b.Direction)
		}
		if !(b.MinStddev > 0) || math.IsInf(b.MinStddev, 0) {
			bad("min_stddev is %g: set the smallest standard deviation that means something for this signal (in its unit), so that a flat series cannot divide by zero or turn jitter into a large z-score", b.MinStddev)
		}
		for _, v := range []struct {
			name string
			v    float64
		}{{"min_deviation", b.MinDeviation}, {"min_value", b.MinValue}} {
			if !(v.v >= 0) || math.IsInf(v.v, 0) {
				bad("%s %g must be a finite number ≥ 0", v.name, v.v)
			}
		}
		for k := range b.Labels {
			if !labelName.MatchString(k) {
				bad("label %q is not a valid label name", k)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrBadSpec, errors.Join(errs...))
	}
	return nil
}

// promDuration checks a duration and returns it in Prometheus' notation
// (which has d and w but no fractions).
func promDuration(s string) (string, error) {
	d, err := forecast.ParseDuration(s)
	if err != nil {
		return "", err
	}
	if d <= 0 || d%time.Second != 0 {
		return "", fmt.Errorf("%q must be a positive whole number of seconds, e.g. 5m or 1w", s)
	}
	return model(d), nil
}

// model writes d as Prometheus does: 1w, 1d, 1h30m, 90s.
func model(d time.Duration) string {
	var b strings.Builder
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.unit)
			d -= n * u.d
		}
	}
	return b.String()
}

// ruleFile is Prometheus' rule file.
type ruleFile struct {
	Groups []group `yaml:"groups"`
}

type group struct {
	Name  string `yaml:"name"`
	Rules []rule `yaml:"rules"`
}

type rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Format is the output format of Generate.
type Format int

// Output formats.
const (
	RuleFile       Format = iota // a Prometheus rule file (rule_files, promtool check rules)
	PrometheusRule               // a prometheus-operator PrometheusRule object
)

// Names returns the names of the series the rules of b record: the mean,
// the standard deviation and the z-score.
func (b Baseline) Names() (mean, stddev, z string) {
	w, _ := promDuration(b.Window)
	return b.Record + ":avg_over_time_" + w, b.Record + ":stddev_over_time_" + w, b.Record + ":zscore_" + w
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// rules returns the recording and alerting rules of b.
func (b Baseline) rules() []rule {
	w, _ := promDuration(b.Window)
	forDur, _ := promDuration(b.For)
	mean, stddev, z := b.Names()
	out := []rule{
		{Record: b.Record, Expr: strings.TrimSpace(b.Expr)},
		{Record: mean, Expr: fmt.Sprintf("avg_over_time(%s[%s])", b.Record, w)},
		{Record: stddev, Expr: fmt.Sprintf("stddev_over_time(%s[%s])", b.Record, w)},
		{Record: z, Expr: fmt.Sprintf("(%s - %s) / clamp_min(%s, %s)", b.Record, mean, stddev, num(b.MinStddev))},
	}
	var cond []string
	dev := fmt.Sprintf("(%s - %s)", b.Record, mean)
	k := num(b.Threshold)
	switch b.Direction {
	case "above":
		cond = append(cond, fmt.Sprintf("%s > %s", z, k))
		if b.MinDeviation > 0 {
			cond = append(cond, fmt.Sprintf("%s > %s", dev, num(b.MinDeviation)))
		}
	case "below":
		cond = append(cond, fmt.Sprintf("%s < -%s", z, k))
		if b.MinDeviation > 0 {
			cond = append(cond, fmt.Sprintf("%s < -%s", dev, num(b.MinDeviation)))
		}
	default:
		cond = append(cond, fmt.Sprintf("abs(%s) > %s", z, k))
		if b.MinDeviation > 0 {
			cond = append(cond, fmt.Sprintf("abs%s > %s", dev, num(b.MinDeviation)))
		}
	}
	if b.MinValue > 0 {
		cond = append(cond, fmt.Sprintf("%s > %s", b.Record, num(b.MinValue)))
	}
	// The description states the alert's condition: the side of the
	// threshold and each floor the expression has, and no other.
	when := map[string]string{"above": "z > " + k, "below": "z < -" + k}[b.Direction]
	if when == "" {
		when = "|z| > " + k
	}
	var floors []string
	if b.MinDeviation > 0 {
		floors = append(floors, "the deviation from the mean exceeds "+num(b.MinDeviation))
	}
	if b.MinValue > 0 {
		floors = append(floors, "the value exceeds "+num(b.MinValue))
	}
	ann := map[string]string{
		"summary": fmt.Sprintf("%s is %s standard deviations from its %s mean", b.Record, "{{ $value | printf \"%.1f\" }}", w),
		"description": fmt.Sprintf("z = (x - avg_over_time(x[%s])) / max(stddev_over_time(x[%s]), %s); fires when %s for %s",
			w, w, num(b.MinStddev), when, forDur),
	}
	if len(floors) > 0 {
		ann["description"] += ", and only when " + strings.Join(floors, " and ")
	}
	for key, v := range b.Annotations {
		ann[key] = v
	}
	// The alert's value is the z-score: the first operand of the and.
	out = append(out, rule{Alert: b.Alert, Expr: strings.Join(cond, "\nand\n"), For: forDur, Labels: b.Labels, Annotations: ann})
	return out
}

// Generate writes the rules of s in the given format.
func Generate(w io.Writer, s Spec, f Format) error {
	if err := s.Validate(); err != nil {
		return err
	}
	g := group{Name: s.Name}
	for _, b := range s.Baselines {
		g.Rules = append(g.Rules, b.rules()...)
	}
	var doc any = ruleFile{Groups: []group{g}}
	if f == PrometheusRule {
		doc = map[string]any{
			"apiVersion": "monitoring.coreos.com/v1",
			"kind":       "PrometheusRule",
			"metadata":   map[string]any{"name": s.Name, "labels": map[string]string{"app.kubernetes.io/managed-by": "foresight"}},
			"spec":       ruleFile{Groups: []group{g}},
		}
	}
	var buf bytes.Buffer
	buf.WriteString("# Generated by foresight rules. Edit the spec and regenerate rather than this file.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode the rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode the rules: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}
