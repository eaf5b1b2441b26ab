package anomaly

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/foresight-aiops/foresight/forecast"
)

// Config is the anomaly detection service's configuration file:
//
//	reader:
//	  datasource: default        # a datasource of foresight serve (--prometheus-url is "default")
//	  step: 1m                   # the query_range step: one value per step
//	  queries:
//	    api_rps: sum(rate(http_requests_total{job="api"}[5m]))
//	models:
//	  hw: {class: holtwinters, min_dev_from_expected: 5}
//	  z:  {class: zscore, window: 1h, queries: [api_rps], detection_direction: above_expected}
//	schedule:
//	  fit_every: 1d              # refit each model on ...
//	  fit_window: 7d             # ... this much history
//	  infer_every: 1m            # score the new values this often
//	  workers: 2                 # fits and inferences at once
//	writer:                      # optional: also write the series to VictoriaMetrics
//	  url: http://victoria-metrics:8428
//
// Unknown keys are errors that name the key. Each query must return one
// series: aggregate it (sum, avg, max) in the query.
type Config struct {
	Reader   ReaderConfig           `yaml:"reader"`
	Models   map[string]ModelConfig `yaml:"models"`
	Schedule Schedule               `yaml:"schedule"`
	Writer   *WriterConfig          `yaml:"writer,omitempty"`
}

// ReaderConfig says what to read and from where.
type ReaderConfig struct {
	// Datasource names one of foresight serve's datasources; empty means
	// "default".
	Datasource string `yaml:"datasource"`
	// Step is the query_range step; 0 means 1m.
	Step Duration `yaml:"step"`
	// Queries maps a name (the query label of the published series) to a
	// PromQL expression returning one series.
	Queries map[string]string `yaml:"queries"`
}

// Schedule says when to fit and when to score. Zero values take the
// defaults: fit every hour on the last 7 days, infer every step, two
// workers.
type Schedule struct {
	FitEvery   Duration `yaml:"fit_every"`
	FitWindow  Duration `yaml:"fit_window"`
	InferEvery Duration `yaml:"infer_every"`
	Workers    int      `yaml:"workers"`
}

// WriterConfig sends the published series to VictoriaMetrics'
// /api/v1/import/prometheus as well.
type WriterConfig struct {
	// URL is the base URL of VictoriaMetrics (single node), or of vminsert
	// with its tenant path (http://vminsert:8480/insert/0/prometheus).
	URL string `yaml:"url"`
	// Timeout bounds each write; 0 means 10s.
	Timeout Duration `yaml:"timeout"`
}

// maxFitPoints bounds the history one fit reads.
const maxFitPoints = 500_000

// DefaultDatasource is the datasource of an empty reader.datasource.
const DefaultDatasource = "default"

var queryName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_:.-]*$`)

// LoadConfig reads, decodes and validates the file at path.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read the anomaly configuration: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("anomaly configuration %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes a configuration, rejecting unknown keys, fills the
// defaults and validates it.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, errors.New("the file is empty: give reader, models and schedule")
		}
		return Config{}, explainYAMLError(err)
	}
	c = c.withDefaults()
	return c, c.Validate()
}

func (c Config) withDefaults() Config {
	if c.Reader.Datasource == "" {
		c.Reader.Datasource = DefaultDatasource
	}
	if c.Reader.Step == 0 {
		c.Reader.Step = Duration(time.Minute)
	}
	s := &c.Schedule
	if s.FitEvery == 0 {
		// Daily: on the shared traces the Holt-Winters detector scores NAB
		// 92.4 with daily fits, 89.1 six-hourly and 75.8 hourly (a fit
		// restarts its error scale on a window that may hold the incident);
		// the rolling models score the same at any cadence.
		s.FitEvery = Duration(24 * time.Hour)
	}
	if s.FitWindow == 0 {
		s.FitWindow = Duration(7 * 24 * time.Hour)
	}
	if s.InferEvery == 0 {
		s.InferEvery = c.Reader.Step
	}
	if s.Workers == 0 {
		s.Workers = 2
	}
	if c.Writer != nil && c.Writer.Timeout == 0 {
		c.Writer.Timeout = Duration(10 * time.Second)
	}
	return c
}

// Validate reports every problem of c, each with what to change.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	step := time.Duration(c.Reader.Step)
	if step <= 0 {
		bad("reader.step %s must be positive, e.g. 1m", step)
	}
	if len(c.Reader.Queries) == 0 {
		bad("reader.queries is empty: name at least one PromQL query, e.g. api_rps: sum(rate(http_requests_total[5m]))")
	}
	for name, q := range c.Reader.Queries {
		if !queryName.MatchString(name) {
			bad("reader.queries: %q is not a valid name (letters, digits, _ : . -)", name)
		}
		if strings.TrimSpace(q) == "" {
			bad("reader.queries.%s is empty", name)
		}
	}
	if len(c.Models) == 0 {
		bad("models is empty: add one, e.g. hw: {class: holtwinters}")
	}
	for _, name := range slices.Sorted(mapKeys(c.Models)) {
		m := c.Models[name]
		if !queryName.MatchString(name) {
			bad("models: %q is not a valid name (letters, digits, _ : . -)", name)
		}
		for _, q := range m.Queries {
			if _, ok := c.Reader.Queries[q]; !ok {
				bad("models.%s.queries: no query named %q in reader.queries", name, q)
			}
		}
		if step > 0 {
			if err := m.Validate(step); err != nil {
				bad("models.%s: %w", name, err)
			}
		}
		// A fit sees fit_window: a window or a season longer than that
		// could never fill, and the model would score nothing, silently.
		if fw := time.Duration(c.Schedule.FitWindow); fw > 0 {
			if w := time.Duration(m.Window); w > fw {
				bad("models.%s.window %s is longer than schedule.fit_window %s: a fit could never fill it; shorten the window or lengthen fit_window", name, w, fw)
			}
			if ss, err := forecast.ParseSeason(m.Season); err == nil && !ss.Auto && !ss.None && step > 0 {
				if periods, err := ss.Steps(step); err == nil && len(periods) > 0 {
					if longest := time.Duration(slices.Max(periods)) * step; 2*longest > fw {
						bad("models.%s.season: a season of %s needs two of them in schedule.fit_window, which is %s; lengthen fit_window to at least %s",
							name, longest, fw, 2*longest)
					}
				}
			}
		}
	}
	s := c.Schedule
	if time.Duration(s.FitWindow) < 10*step {
		bad("schedule.fit_window %s must hold at least 10 steps of %s", time.Duration(s.FitWindow), step)
	}
	if step > 0 && time.Duration(s.FitWindow)/step > maxFitPoints {
		bad("schedule.fit_window %s is %d steps of %s: at most %d points per fit; use a longer reader.step or a shorter fit_window",
			time.Duration(s.FitWindow), time.Duration(s.FitWindow)/step, step, maxFitPoints)
	}
	if s.FitEvery <= 0 || s.InferEvery <= 0 {
		bad("schedule.fit_every and infer_every must be positive (e.g. fit_every: 1h, infer_every: 1m)")
	}
	if s.Workers < 1 {
		bad("schedule.workers %d must be at least 1", s.Workers)
	}
	if c.Writer != nil {
		u, err := url.Parse(c.Writer.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("writer.url %q must be an http(s) URL of VictoriaMetrics, e.g. http://victoria-metrics:8428", c.Writer.URL)
		}
		if c.Writer.Timeout < 0 {
			bad("writer.timeout must be positive")
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// Jobs returns the (query, model) pairs c scores, sorted.
func (c Config) Jobs() [][2]string {
	var out [][2]string
	for _, m := range slices.Sorted(mapKeys(c.Models)) {
		qs := c.Models[m].Queries
		if len(qs) == 0 {
			qs = slices.Sorted(mapKeys(c.Reader.Queries))
		}
		for _, q := range qs {
			out = append(out, [2]string{q, m})
		}
	}
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)

// explainYAMLError rewrites yaml's "field X not found in type T" as the
// unknown key, its section, and the keys allowed there.
func explainYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("decode YAML: %w", err)
	}
	sections := map[string]struct {
		where string
		t     reflect.Type
	}{
		"anomaly.Config":       {"at the top level", reflect.TypeFor[Config]()},
		"anomaly.ReaderConfig": {"in reader", reflect.TypeFor[ReaderConfig]()},
		"anomaly.ModelConfig":  {"in a model", reflect.TypeFor[ModelConfig]()},
		"anomaly.Schedule":     {"in schedule", reflect.TypeFor[Schedule]()},
		"anomaly.WriterConfig": {"in writer", reflect.TypeFor[WriterConfig]()},
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		g := unknownField.FindStringSubmatch(m)
		if g == nil {
			continue
		}
		sec, ok := sections[g[3]]
		if !ok {
			continue
		}
		var keys []string
		for j := range sec.t.NumField() {
			if k, _, _ := strings.Cut(sec.t.Field(j).Tag.Get("yaml"), ","); k != "" {
				keys = append(keys, k)
			}
		}
		msgs[i] = fmt.Sprintf("line %s: unknown key %q %s: check its spelling and indentation; the keys are %s",
			g[1], g[2], sec.where, strings.Join(keys, ", "))
	}
	return errors.New(strings.Join(msgs, "; "))
}

// String gives the duration in forecast's notation.
func (d Duration) String() string { return forecast.FormatDuration(time.Duration(d)) }
