package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/foresight-aiops/foresight/anomaly/rules"
)

const rulesHelp = `Usage: foresight rules --spec FILE.yaml [--format rules|prometheusrule]

Generates Prometheus recording and alerting rules for z-score anomaly
baselines, with the floors that keep a z-score from flapping: a floor on the
standard deviation (required), on the deviation, and on the signal's value.
Check the output with 'promtool check rules'.

A spec:
  name: api-anomalies
  baselines:
    - alert: APIRequestRateAnomaly
      record: job:http_requests:rate5m
      expr: sum by (job) (rate(http_requests_total{job="api"}[5m]))
      window: 1w          # the baseline
      threshold: 3        # |z| above it
      for: 10m
      direction: both     # or above, below
      min_stddev: 1       # requests/s: a flat series does not divide by ~0
      min_deviation: 20   # requests/s: smaller moves never alert
      min_value: 100      # requests/s: the night's trickle never alerts
      labels: {severity: warning}

Examples:
  foresight rules --spec baselines.yaml > anomaly-rules.yml
  foresight rules --spec baselines.yaml --format prometheusrule | kubectl apply -f -
`

func runRules(_ context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	var spec, format string
	fs := newFlagSet("rules", rulesHelp, stdout)
	fs.StringVar(&spec, "spec", "", "YAML `file` of baselines (required; - for standard input)")
	fs.StringVar(&format, "format", "rules", "output: rules (a Prometheus rule file) or prometheusrule (a prometheus-operator object)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var f rules.Format
	switch format {
	case "rules":
		f = rules.RuleFile
	case "prometheusrule":
		f = rules.PrometheusRule
	default:
		return usagef("--format %q: use rules or prometheusrule", format)
	}
	if spec == "" {
		return usagef("--spec is required: a YAML file of baselines (see --help)")
	}
	r := stdin
	if spec != "-" {
		file, err := os.Open(spec)
		if err != nil {
			return fmt.Errorf("rules spec: %w", err)
		}
		defer file.Close()
		r = file
	}
	s, err := rules.ReadSpec(r)
	if err != nil {
		return fmt.Errorf("%s: %w", spec, err)
	}
	return rules.Generate(stdout, s, f)
}
