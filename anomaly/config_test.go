package anomaly

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadConfigGood(t *testing.T) {
	c, err := LoadConfig("testdata/service.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Jobs(), [][2]string{{"api_errors", "errors_up"}, {"api_rps", "hw"}}; !slices.Equal(got, want) {
		t.Errorf("jobs %v, want %v", got, want)
	}
	if time.Duration(c.Schedule.FitWindow) != 7*24*time.Hour || c.Writer.Timeout != Duration(10*time.Second) {
		t.Errorf("schedule %+v, writer %+v", c.Schedule, c.Writer)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("reader: {queries: {a: up}}\nmodels: {z: {class: zscore}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Reader.Datasource != "default" || c.Reader.Step != Duration(time.Minute) || c.Schedule.InferEvery != Duration(time.Minute) ||
		c.Schedule.FitEvery != Duration(24*time.Hour) || c.Schedule.Workers != 2 || c.Writer != nil {
		t.Errorf("defaults: %+v", c)
	}
}

// TestParseConfigErrors checks that each mistake is reported with what to
// change, and unknown keys by name.
func TestParseConfigErrors(t *testing.T) {
	base := "reader: {queries: {a: up}}\nmodels: {z: {class: zscore}}\n"
	for _, c := range []struct{ name, in, want string }{
		{"unknown top-level key", base + "scheduler: {}\n", `unknown key "scheduler" at the top level`},
		{"unknown model key", "reader: {queries: {a: up}}\nmodels: {z: {class: zscore, z_threshold: 3}}\n", `unknown key "z_threshold" in a model`},
		{"unknown reader key", "reader: {queries: {a: up}, sampling_period: 1m}\nmodels: {z: {class: zscore}}\n", `unknown key "sampling_period" in reader`},
		{"unknown schedule key", base + "schedule: {fit_evry: 1h}\n", `unknown key "fit_evry" in schedule`},
		{"unknown class", "reader: {queries: {a: up}}\nmodels: {p: {class: prophet}}\n", `models.p: invalid anomaly detection option: unknown model class "prophet"`},
		{"unknown query", "reader: {queries: {a: up}}\nmodels: {z: {class: zscore, queries: [b]}}\n", `no query named "b"`},
		{"no queries", "models: {z: {class: zscore}}\n", "reader.queries is empty"},
		{"no models", "reader: {queries: {a: up}}\n", "models is empty"},
		{"bad duration", base + "schedule: {fit_window: a week}\n", "write a duration with its unit"},
		{"short fit window", base + "schedule: {fit_window: 5m}\n", "at least 10 steps"},
		{"bad writer", base + "writer: {url: 'victoria:8428'}\n", "writer.url"},
		{"bad window", "reader: {queries: {a: up}}\nmodels: {z: {class: zscore, window: 90s}}\n", "whole number of steps"},
		{"window beyond the fit window", "reader: {queries: {a: up}}\nmodels: {z: {class: zscore, window: 2h}}\nschedule: {fit_window: 1h}\n", "longer than schedule.fit_window"},
		{"season beyond the fit window", "reader: {queries: {a: up}}\nmodels: {hw: {class: holtwinters, season: 1w}}\nschedule: {fit_window: 1d}\n", "needs two of them in schedule.fit_window"},
		{"empty", "", "the file is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q in it", err, c.want)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	if _, err := LoadConfig("testdata/nope.yml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzParseConfig checks that no configuration crashes the parser, and
// that one it accepts builds a service.
func FuzzParseConfig(f *testing.F) {
	good, err := os.ReadFile("testdata/service.good.yml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(good))
	f.Add("reader: {queries: {a: up}}\nmodels: {z: {class: zscore, window: 1h}}\n")
	f.Add("reader: {step: 0s, queries: {a: up}}\nmodels: {h: {class: holtwinters, season: '1d,1w'}}\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseConfig([]byte(in))
		if err != nil {
			return
		}
		if _, err := NewService(c, nil, ServiceOptions{}); err != nil {
			t.Fatalf("a valid configuration does not build a service: %v", err)
		}
	})
}
