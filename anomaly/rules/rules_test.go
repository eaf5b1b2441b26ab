package rules

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func readSpecFile(t *testing.T, path string) Spec {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := ReadSpec(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: apt-get install prometheus (make test-deps installs it)")
	}
	return p
}

// TestGeneratedRulesPassPromtool checks both output formats with the real
// promtool: the rule file directly, and the PrometheusRule object's spec.
func TestGeneratedRulesPassPromtool(t *testing.T) {
	bin := promtool(t)
	s := readSpecFile(t, "testdata/floors.yaml")
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := Generate(&buf, s, RuleFile); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rules.yml")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s\n%s", err, out, buf.String())
	}
	if !strings.Contains(string(out), "SUCCESS: 15 rules found") {
		t.Errorf("promtool: %s", out)
	}

	buf.Reset()
	if err := Generate(&buf, s, PrometheusRule); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"apiVersion: monitoring.coreos.com/v1", "kind: PrometheusRule", "name: floors-test", "spec:\n  groups:"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("PrometheusRule output lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestFloorsStopFlapping runs `promtool test rules` over the generated
// rules. flat_metric alternates 100 ± 0.01 for 90 minutes, then moves by
// 0.5: without floors its z-score is about 5 (σ ≈ 0.01 turns a meaningless
// move into an anomaly) and the alert fires; with the floors (σ ≥ 1, a
// deviation of at least 5) it does not. jump_metric, noisy (±10), doubles
// at the same time: the floored alert fires. Before the move nothing
// fires.
func TestFloorsStopFlapping(t *testing.T) {
	bin := promtool(t)
	s := readSpecFile(t, "testdata/floors.yaml")
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := Generate(&buf, s, RuleFile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var flat, jump []string
	for i := range 120 {
		f, j := 100.0, 100.0
		if i%2 == 1 {
			f += 0.01
		} else {
			f -= 0.01
		}
		j += float64((i*7919)%21 - 10) // deterministic noise in [-10, 10]
		if i >= 90 {
			f += 0.5
			j += 100
		}
		flat = append(flat, fmt.Sprint(f))
		jump = append(jump, fmt.Sprint(j))
	}
	alerts := func(at string, firing ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "      - expr: ALERTS{alertstate=\"firing\"}\n        eval_time: %s\n        exp_samples:", at)
		if len(firing) == 0 {
			b.WriteString(" []\n")
			return b.String()
		}
		b.WriteString("\n")
		for _, l := range firing {
			fmt.Fprintf(&b, "          - labels: '%s'\n            value: 1\n", l)
		}
		return b.String()
	}
	tests := "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n" +
		"      - series: flat_metric\n        values: '" + strings.Join(flat, " ") + "'\n" +
		"      - series: jump_metric\n        values: '" + strings.Join(jump, " ") + "'\n" +
		"    promql_expr_test:\n" +
		alerts("80m") +
		alerts("93m",
			`ALERTS{alertname="FlatUnfloored", alertstate="firing"}`,
			`ALERTS{alertname="JumpFloored", alertstate="firing"}`)
	if err := os.WriteFile(filepath.Join(dir, "tests.yml"), []byte(tests), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "test", "rules", "tests.yml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s\nrules:\n%s", err, out, buf.String())
	}
}

func TestReadSpecErrors(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"unknown key named", "name: x\nbaselines:\n  - alert: A\n    record: a\n    expr: a\n    min_stdev: 1\n", "min_stdev"},
		{"no σ floor", "baselines:\n  - alert: A\n    record: a\n    expr: a\n", "min_stddev is 0"},
		{"bad record", "baselines:\n  - alert: A\n    record: 'a b'\n    expr: a\n    min_stddev: 1\n", `record "a b"`},
		{"bad window", "baselines:\n  - alert: A\n    record: a\n    expr: a\n    min_stddev: 1\n    window: soon\n", "window"},
		{"bad direction", "baselines:\n  - alert: A\n    record: a\n    expr: a\n    min_stddev: 1\n    direction: up\n", "direction"},
		{"twice the same record", "baselines:\n  - {alert: A, record: a, expr: a, min_stddev: 1}\n  - {alert: B, record: a, expr: b, min_stddev: 1}\n", "used twice"},
		{"empty", "", "empty"},
		{"no baselines", "name: x\n", "no baselines"},
		{"a second document", "baselines:\n  - {alert: A, record: a, expr: a, min_stddev: 1}\n---\nbaselines:\n  - {alert: B, record: b, expr: b, min_stddev: 1, min_value: 10}\n", "more than one YAML document"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadSpec(strings.NewReader(c.in))
			if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want ErrBadSpec mentioning %q", err, c.want)
			}
		})
	}
}

// TestAlertStatesItsFloors generates each direction with and without each
// floor, in both formats, and checks that the alert's expression holds
// exactly the floors configured, and that its description states them
// (and the side of the threshold) and no others: an operator reads the
// description, not the PromQL, when the alert fires.
func TestAlertStatesItsFloors(t *testing.T) {
	type floors struct{ dev, value float64 }
	for _, dir := range []string{"both", "above", "below"} {
		for _, f := range []floors{{0, 0}, {5, 0}, {0, 10}, {5, 10}, {0.001, 1e7}} {
			for _, format := range []Format{RuleFile, PrometheusRule} {
				name := fmt.Sprintf("%s/dev=%g/value=%g/format=%d", dir, f.dev, f.value, format)
				t.Run(name, func(t *testing.T) {
					s := Spec{Name: "t", Baselines: []Baseline{{Alert: "A", Record: "x:y", Expr: "up", Direction: dir, MinStddev: 1, MinDeviation: f.dev, MinValue: f.value}}}.withDefaults()
					var buf bytes.Buffer
					if err := Generate(&buf, s, format); err != nil {
						t.Fatal(err)
					}
					var doc struct {
						ruleFile `yaml:",inline"`
						Spec     ruleFile `yaml:"spec"`
					}
					if err := yaml.Unmarshal(buf.Bytes(), &doc); err != nil {
						t.Fatal(err)
					}
					groups := doc.Groups
					if format == PrometheusRule {
						groups = doc.Spec.Groups
					}
					var alert *rule
					for i, r := range groups[0].Rules {
						if r.Alert == "A" {
							alert = &groups[0].Rules[i]
						}
					}
					if alert == nil {
						t.Fatalf("no alert in\n%s", buf.String())
					}
					desc := alert.Annotations["description"]
					check := func(what string, configured float64, inExpr, inDesc string) {
						if got := strings.Contains(alert.Expr, inExpr); got != (configured > 0) {
							t.Errorf("%s floor %g: in the expression %v\n%s", what, configured, got, alert.Expr)
						}
						if got := strings.Contains(desc, inDesc); got != (configured > 0) {
							t.Errorf("%s floor %g: in the description %v: %s", what, configured, got, desc)
						}
					}
					devCond := "x:y:avg_over_time_1w) > " + num(f.dev)
					if dir == "below" {
						devCond = "x:y:avg_over_time_1w) < -" + num(f.dev)
					}
					check("deviation", f.dev, devCond, "deviation from the mean exceeds "+num(f.dev))
					check("value", f.value, "x:y > "+num(f.value), "the value exceeds "+num(f.value))
					side := map[string]string{"both": "|z| > 3", "above": "z > 3", "below": "z < -3"}[dir]
					if !strings.Contains(desc, "fires when "+side) {
						t.Errorf("description %q does not say it fires when %s", desc, side)
					}
				})
			}
		}
	}
}

func TestPromDuration(t *testing.T) {
	for in, want := range map[string]string{"1w": "1w", "7d": "1w", "90m": "1h30m", "1d12h": "1d12h", "30s": "30s"} {
		if got, err := promDuration(in); err != nil || got != want {
			t.Errorf("promDuration(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"0s", "1.5s", "-1h", "x"} {
		if _, err := promDuration(in); err == nil {
			t.Errorf("promDuration(%q): no error", in)
		}
	}
}

// FuzzReadSpec checks that no spec crashes the reader or the generator.
func FuzzReadSpec(f *testing.F) {
	good, err := os.ReadFile("testdata/floors.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(good))
	f.Add("baselines:\n  - {alert: A, record: a, expr: a, min_stddev: 1, window: 1d12h}\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ReadSpec(strings.NewReader(in))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Generate(&buf, s, RuleFile); err != nil {
			t.Fatalf("a valid spec does not generate: %v", err)
		}
	})
}
