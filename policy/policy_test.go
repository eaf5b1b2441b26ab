package policy

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

var now = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// fc returns a forecast whose Upper values are for start, start+step, ….
// Mean and Lower are set too but play no part in the policy.
func fc(start time.Time, step time.Duration, upper ...float64) *forecast.Forecast {
	mean := make([]float64, len(upper))
	lower := make([]float64, len(upper))
	for i, u := range upper {
		mean[i], lower[i] = u/2, 0
	}
	return &forecast.Forecast{Start: start, Step: step, Quantile: DefaultQuantile, Mean: mean, Lower: lower, Upper: upper}
}

// fromNow returns a forecast with one-minute steps starting at now: with
// the default lead time of 5 minutes, the first 6 values are in the window.
func fromNow(upper ...float64) *forecast.Forecast { return fc(now, time.Minute, upper...) }

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestDecide checks each case's decision, and its Detail against
// testdata/detail.golden ("name<TAB>detail" lines; go test -update
// rewrites it).
func TestDecide(t *testing.T) {
	wantDetail := readDetails(t)
	var details strings.Builder
	nan, inf := math.NaN(), math.Inf(1)
	base := Params{TargetPerReplica: 10}
	with := func(f func(*Params)) Params {
		p := base
		f(&p)
		return p
	}
	for _, tc := range []struct {
		name string
		p    Params
		in   Input
		// want: Reason, Replicas, Load and Predicted (NaN when the forecast
		// was not used).
		reason    Reason
		replicas  int
		load      float64
		predicted float64
	}{
		// What decided.
		{
			"forecast above reactive", base,
			Input{Now: now, Forecast: fromNow(20, 30, 40, 35, 30, 25, 99), Reactive: 10, Peak: nan},
			ReasonForecast, 4, 40, 40,
		},
		{
			"forecast with no reactive", base,
			Input{Now: now, Forecast: fromNow(20, 30, 40, 35, 30, 25), Reactive: nan, Peak: nan},
			ReasonForecast, 4, 40, 40,
		},
		{
			"reactive above forecast", base,
			Input{Now: now, Forecast: fromNow(20, 30, 40, 35, 30, 25), Reactive: 50, Peak: nan},
			ReasonReactive, 5, 50, 40,
		},
		{
			"reactive equal to forecast", base,
			Input{Now: now, Forecast: fromNow(40, 40, 40, 40, 40, 40), Reactive: 40, Peak: nan},
			ReasonReactive, 4, 40, 40,
		},
		{
			"exact multiple of the target", base,
			Input{Now: now, Forecast: fromNow(30, 30, 30, 30, 30, 30), Reactive: 0, Peak: nan},
			ReasonForecast, 3, 30, 30,
		},
		{
			"just above a multiple", base,
			Input{Now: now, Forecast: fromNow(30.001, 30, 30, 30, 30, 30), Reactive: 0, Peak: nan},
			ReasonForecast, 4, 30.001, 30.001,
		},
		{
			"negative forecast counts as zero", base,
			Input{Now: now, Forecast: fromNow(-5, -3, -1, -2, -4, -6), Reactive: nan, Peak: nan},
			ReasonForecast, 0, 0, 0,
		},

		// The peak cap.
		{
			"peak cap", base,
			Input{Now: now, Forecast: fromNow(100, 100, 100, 100, 100, 100), Reactive: 10, Peak: 50},
			ReasonPeakCap, 6, 60, 100,
		},
		{
			"peak cap with no reactive", base,
			Input{Now: now, Forecast: fromNow(100, 100, 100, 100, 100, 100), Reactive: nan, Peak: 50},
			ReasonPeakCap, 6, 60, 100,
		},
		{
			"peak cap factor", with(func(p *Params) { p.PeakCapFactor = 1.5 }),
			Input{Now: now, Forecast: fromNow(100, 100, 100, 100, 100, 100), Reactive: 10, Peak: 50},
			ReasonPeakCap, 8, 75, 100,
		},
		{
			"under the cap", base,
			Input{Now: now, Forecast: fromNow(59, 59, 59, 59, 59, 59), Reactive: 10, Peak: 50},
			ReasonForecast, 6, 59, 59,
		},
		{
			"no cap without a peak", base,
			Input{Now: now, Forecast: fromNow(100, 100, 100, 100, 100, 100), Reactive: 10, Peak: nan},
			ReasonForecast, 10, 100, 100,
		},
		{
			"the cap never cuts the reactive value", base,
			Input{Now: now, Forecast: fromNow(100, 100, 100, 100, 100, 100), Reactive: 80, Peak: 50},
			ReasonReactive, 8, 80, 100,
		},
		{
			"reactive beyond the peak, no forecast rise", base,
			Input{Now: now, Forecast: fromNow(70, 70, 70, 70, 70, 70), Reactive: 90, Peak: 50},
			ReasonReactive, 9, 90, 70,
		},

		// Fallbacks.
		{
			"no forecast", base,
			Input{Now: now, Forecast: nil, Reactive: 25, Peak: 50},
			ReasonNoForecast, 3, 25, nan,
		},
		{
			"forecast with no steps", base,
			Input{Now: now, Forecast: fromNow(), Reactive: 25, Peak: 50},
			ReasonNoForecast, 3, 25, nan,
		},
		{
			"forecast with no step length", base,
			Input{Now: now, Forecast: fc(now, 0, 1, 2, 3, 4, 5, 6), Reactive: 25, Peak: 50},
			ReasonNoForecast, 3, 25, nan,
		},
		{
			"NaN in the window", base,
			Input{Now: now, Forecast: fromNow(20, 30, nan, 35, 30, 25), Reactive: 25, Peak: nan},
			ReasonBadForecast, 3, 25, nan,
		},
		{
			"+Inf in the window", base,
			Input{Now: now, Forecast: fromNow(20, 30, 40, 35, 30, inf), Reactive: 25, Peak: nan},
			ReasonBadForecast, 3, 25, nan,
		},
		{
			"-Inf in the window", base,
			Input{Now: now, Forecast: fromNow(math.Inf(-1), 30, 40, 35, 30, 25), Reactive: 25, Peak: nan},
			ReasonBadForecast, 3, 25, nan,
		},
		{
			"NaN before Now is ignored", base,
			Input{Now: now, Forecast: fc(now.Add(-2*time.Minute), time.Minute, nan, nan, 20, 30, 40, 35, 30, 25), Reactive: 10, Peak: nan},
			ReasonForecast, 4, 40, 40,
		},
		{
			"NaN after the lead time is ignored", base,
			Input{Now: now, Forecast: fromNow(20, 30, 40, 35, 30, 25, nan), Reactive: 10, Peak: nan},
			ReasonForecast, 4, 40, 40,
		},
		{
			"stale forecast", base,
			Input{Now: now, Forecast: fromNow(20, 30, 40, 35, 30), Reactive: 25, Peak: nan},
			ReasonStaleForecast, 3, 25, nan,
		},
		{
			"stale forecast, all in the past", base,
			Input{Now: now, Forecast: fc(now.Add(-time.Hour), time.Minute, 20, 30), Reactive: 25, Peak: nan},
			ReasonStaleForecast, 3, 25, nan,
		},
		{
			"stale for a longer lead time", with(func(p *Params) { p.LeadTime = 10 * time.Minute }),
			Input{Now: now, Forecast: fromNow(20, 30, 40, 35, 30, 25, 20, 20, 20, 20), Reactive: 25, Peak: nan},
			ReasonStaleForecast, 3, 25, nan,
		},
		{
			"no data: no forecast", base,
			Input{Now: now, Forecast: nil, Reactive: nan, Peak: 50},
			ReasonNoData, 0, nan, nan,
		},
		{
			"no data: stale forecast", base,
			Input{Now: now, Forecast: fromNow(20), Reactive: nan, Peak: 50},
			ReasonNoData, 0, nan, nan,
		},
		{
			"no data: bad forecast", with(func(p *Params) { p.MinReplicas = 2 }),
			Input{Now: now, Forecast: fromNow(nan, 1, 1, 1, 1, 1), Reactive: nan, Peak: 50},
			ReasonNoData, 2, nan, nan,
		},

		// Reactive values that are not a load count as unknown.
		{
			"negative reactive, no forecast", base,
			Input{Now: now, Forecast: nil, Reactive: -1, Peak: nan},
			ReasonNoData, 0, nan, nan,
		},
		{
			"+Inf reactive, no forecast", base,
			Input{Now: now, Forecast: nil, Reactive: inf, Peak: nan},
			ReasonNoData, 0, nan, nan,
		},
		{
			"negative reactive with a forecast", base,
			Input{Now: now, Forecast: fromNow(20, 30, 40, 35, 30, 25), Reactive: -100, Peak: nan},
			ReasonForecast, 4, 40, 40,
		},
		{
			"-Inf reactive with a forecast", base,
			Input{Now: now, Forecast: fromNow(20, 30, 40, 35, 30, 25), Reactive: math.Inf(-1), Peak: nan},
			ReasonForecast, 4, 40, 40,
		},
		{
			"zero reactive is a load", base,
			Input{Now: now, Forecast: nil, Reactive: 0, Peak: nan},
			ReasonNoForecast, 0, 0, nan,
		},

		// Headroom.
		{
			"headroom on the forecast", with(func(p *Params) { p.Headroom = 0.1 }),
			// 100 × 1.1 is 110.00000000000001 in float64: still 11 replicas.
			Input{Now: now, Forecast: fromNow(100, 100, 100, 100, 100, 100), Reactive: 10, Peak: nan},
			ReasonForecast, 11, 110, 100,
		},
		{
			"headroom on the reactive value", with(func(p *Params) { p.Headroom = 0.25 }),
			Input{Now: now, Forecast: fromNow(10, 10, 10, 10, 10, 10), Reactive: 40, Peak: nan},
			ReasonReactive, 5, 50, 10,
		},
		{
			"headroom on a fallback", with(func(p *Params) { p.Headroom = 0.5 }),
			Input{Now: now, Forecast: nil, Reactive: 40, Peak: nan},
			ReasonNoForecast, 6, 60, nan,
		},
		{
			"headroom after the cap", with(func(p *Params) { p.Headroom = 0.5 }),
			Input{Now: now, Forecast: fromNow(100, 100, 100, 100, 100, 100), Reactive: 10, Peak: 50},
			ReasonPeakCap, 9, 90, 100,
		},

		// Replica bounds.
		{
			"min replicas", with(func(p *Params) { p.MinReplicas = 3 }),
			Input{Now: now, Forecast: fromNow(5, 5, 5, 5, 5, 5), Reactive: 1, Peak: nan},
			ReasonMinReplicas, 3, 5, 5,
		},
		{
			"min replicas reached, not raised", with(func(p *Params) { p.MinReplicas = 3 }),
			Input{Now: now, Forecast: fromNow(25, 25, 25, 25, 25, 25), Reactive: 1, Peak: nan},
			ReasonForecast, 3, 25, 25,
		},
		{
			"min replicas keeps the fallback reason", with(func(p *Params) { p.MinReplicas = 3 }),
			Input{Now: now, Forecast: nil, Reactive: 5, Peak: nan},
			ReasonNoForecast, 3, 5, nan,
		},
		{
			"max replicas cuts the load", with(func(p *Params) { p.MinReplicas, p.MaxReplicas = 1, 4 }),
			Input{Now: now, Forecast: fromNow(100, 100, 100, 100, 100, 100), Reactive: 10, Peak: nan},
			ReasonMaxReplicas, 4, 40, 100,
		},
		{
			"max replicas reached, not cut", with(func(p *Params) { p.MaxReplicas = 4 }),
			Input{Now: now, Forecast: fromNow(40, 40, 40, 40, 40, 40), Reactive: 10, Peak: nan},
			ReasonForecast, 4, 40, 40,
		},
		{
			"max replicas after headroom", with(func(p *Params) { p.MaxReplicas = 4; p.Headroom = 0.1 }),
			Input{Now: now, Forecast: fromNow(40, 40, 40, 40, 40, 40), Reactive: 10, Peak: nan},
			ReasonMaxReplicas, 4, 40, 40,
		},
		{
			"max replicas equal to min", with(func(p *Params) { p.MinReplicas, p.MaxReplicas = 2, 2 }),
			Input{Now: now, Forecast: fromNow(100, 100, 100, 100, 100, 100), Reactive: 10, Peak: nan},
			ReasonMaxReplicas, 2, 20, 100,
		},
		{
			"max replicas keeps the fallback reason", with(func(p *Params) { p.MaxReplicas = 4 }),
			Input{Now: now, Forecast: nil, Reactive: 100, Peak: nan},
			ReasonNoForecast, 4, 40, nan,
		},
		{
			"a negative peak caps at zero, never below", base,
			Input{Now: now, Forecast: fromNow(30, 30, 30, 30, 30, 30), Reactive: nan, Peak: -5},
			ReasonPeakCap, 0, 0, 30,
		},
		// A load beyond the int range must give many replicas, not few.
		{
			"huge forecast, no max", with(func(p *Params) { p.MinReplicas = 1; p.TargetPerReplica = 1 }),
			Input{Now: now, Forecast: fromNow(1e19, 1e19, 1e19, 1e19, 1e19, 1e19), Reactive: 1, Peak: nan},
			ReasonForecast, math.MaxInt32, 1e19, 1e19,
		},
		{
			"huge forecast, max replicas", with(func(p *Params) { p.MinReplicas, p.MaxReplicas = 1, 50 }),
			Input{Now: now, Forecast: fromNow(1e300, 1e300, 1e300, 1e300, 1e300, 1e300), Reactive: 1, Peak: nan},
			ReasonMaxReplicas, 50, 500, 1e300,
		},
		{
			"huge reactive value", with(func(p *Params) { p.MinReplicas = 1 }),
			Input{Now: now, Forecast: nil, Reactive: 1e300, Peak: nan},
			ReasonNoForecast, math.MaxInt32, 1e300, nan,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.p, tc.in)
			if d.Reason != tc.reason || d.Replicas != tc.replicas || !same(d.Load, tc.load) || !same(d.Predicted, tc.predicted) {
				t.Errorf("Decide = {Reason: %s, Replicas: %d, Load: %g, Predicted: %g}\nwant   {Reason: %s, Replicas: %d, Load: %g, Predicted: %g}\ndetail: %s",
					d.Reason, d.Replicas, d.Load, d.Predicted, tc.reason, tc.replicas, tc.load, tc.predicted, d.Detail())
			}
			if d.Detail() == "" {
				t.Error("no Detail")
			}
			fmt.Fprintf(&details, "%s\t%s\n", tc.name, d.Detail())
			if got, want := d.Detail(), wantDetail[tc.name]; !*update && got != want {
				t.Errorf("Detail = %q\nwant     %q (testdata/detail.golden; go test -update rewrites it)", got, want)
			}
			if math.IsNaN(d.Load) != (d.Reason == ReasonNoData) {
				t.Errorf("Load %g with reason %s: want NaN exactly for %s", d.Load, d.Reason, ReasonNoData)
			}
		})
	}
	if *update {
		if err := os.WriteFile(detailsFile, []byte(details.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var detailsFile = filepath.Join("testdata", "detail.golden")

// readDetails reads detailsFile: case name → Detail.
func readDetails(t *testing.T) map[string]string {
	t.Helper()
	if *update {
		return nil
	}
	b, err := os.ReadFile(detailsFile)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	m := map[string]string{}
	for line := range strings.Lines(string(b)) {
		name, detail, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if !ok {
			t.Fatalf("%s: line %q has no tab", detailsFile, line)
		}
		m[name] = detail
	}
	return m
}

// same reports whether a and b agree to 1e-9 relative, or are both NaN.
func same(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b))
}

// TestDecideLeadWindow checks which forecast steps make the prediction:
// those in [Now, Now+LeadTime], counting the step in progress at Now and
// no step that is over before Now or starts after Now+LeadTime. Each case
// puts one high value on a single step and says whether it is counted.
func TestDecideLeadWindow(t *testing.T) {
	p := Params{TargetPerReplica: 1, LeadTime: 5 * time.Minute}
	const low, high = 10, 1000
	for _, tc := range []struct {
		name   string
		start  time.Duration // forecast start relative to Now
		step   time.Duration
		n      int
		at     int // index of the high value
		counts bool
	}{
		// A grid through Now: steps at Now-2m, Now-1m, Now, …, Now+6m.
		{"aligned: over before Now", -2 * time.Minute, time.Minute, 9, 0, false},
		{"aligned: ends exactly at Now", -2 * time.Minute, time.Minute, 9, 1, false},
		{"aligned: starts at Now", -2 * time.Minute, time.Minute, 9, 2, true},
		{"aligned: inside", -2 * time.Minute, time.Minute, 9, 4, true},
		{"aligned: starts at Now+LeadTime", -2 * time.Minute, time.Minute, 9, 7, true},
		{"aligned: starts after Now+LeadTime", -2 * time.Minute, time.Minute, 9, 8, false},
		// A grid off Now: steps at Now-2m30s, Now-1m30s, Now-30s, …, Now+5m30s.
		{"offset: over before Now", -150 * time.Second, time.Minute, 9, 1, false},
		{"offset: in progress at Now", -150 * time.Second, time.Minute, 9, 2, true},
		{"offset: last before Now+LeadTime", -150 * time.Second, time.Minute, 9, 7, true},
		{"offset: starts after Now+LeadTime", -150 * time.Second, time.Minute, 9, 8, false},
		// Steps longer than the lead time, at Now-12m, Now+3m and Now+18m:
		// the step in progress and the next one, which starts before
		// Now+LeadTime.
		{"long steps: in progress", -12 * time.Minute, 15 * time.Minute, 3, 0, true},
		{"long steps: next", -12 * time.Minute, 15 * time.Minute, 3, 1, true},
		{"long steps: after", -12 * time.Minute, 15 * time.Minute, 3, 2, false},
		// A forecast that starts after Now: its steps up to Now+LeadTime.
		{"starts after Now: first", 2 * time.Minute, time.Minute, 5, 0, true},
		{"starts after Now: at Now+LeadTime", 2 * time.Minute, time.Minute, 5, 3, true},
		{"starts after Now: after", 2 * time.Minute, time.Minute, 5, 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upper := make([]float64, tc.n)
			for i := range upper {
				upper[i] = low
			}
			upper[tc.at] = high
			d := Decide(p, Input{Now: now, Forecast: fc(now.Add(tc.start), tc.step, upper...), Reactive: math.NaN(), Peak: math.NaN()})
			want := float64(low)
			if tc.counts {
				want = high
			}
			if d.Reason != ReasonForecast || d.Predicted != want {
				t.Errorf("Decide = %s, predicted %g; want %s, predicted %g (%s)", d.Reason, d.Predicted, ReasonForecast, want, d.Detail())
			}
		})
	}
}

func TestReasonFallback(t *testing.T) {
	for _, tc := range []struct {
		r    Reason
		want bool
	}{
		{ReasonForecast, false},
		{ReasonReactive, false},
		{ReasonPeakCap, false},
		{ReasonMaxReplicas, false},
		{ReasonMinReplicas, false},
		{ReasonNoForecast, true},
		{ReasonBadForecast, true},
		{ReasonStaleForecast, true},
		{ReasonNoData, true},
	} {
		if got := tc.r.Fallback(); got != tc.want {
			t.Errorf("%s.Fallback() = %t, want %t", tc.r, got, tc.want)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in, out Params
	}{
		{
			"zero",
			Params{},
			Params{LeadTime: DefaultLeadTime, Quantile: DefaultQuantile, PeakCapFactor: DefaultPeakCapFactor},
		},
		{
			"set fields kept",
			Params{TargetPerReplica: 50, LeadTime: time.Minute, Quantile: 0.95, MinReplicas: 2, MaxReplicas: 9, PeakCapFactor: 2, Headroom: 0.1},
			Params{TargetPerReplica: 50, LeadTime: time.Minute, Quantile: 0.95, MinReplicas: 2, MaxReplicas: 9, PeakCapFactor: 2, Headroom: 0.1},
		},
		{
			"invalid values are not defaults",
			Params{LeadTime: -time.Second, Quantile: -1, PeakCapFactor: 0.5},
			Params{LeadTime: -time.Second, Quantile: -1, PeakCapFactor: 0.5},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.WithDefaults(); got != tc.out {
				t.Errorf("WithDefaults() = %+v, want %+v", got, tc.out)
			}
		})
	}
	if err := (Params{TargetPerReplica: 1}).WithDefaults().Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestValidate(t *testing.T) {
	valid := Params{TargetPerReplica: 10}.WithDefaults()
	with := func(f func(*Params)) Params {
		p := valid
		f(&p)
		return p
	}
	for _, tc := range []struct {
		name string
		p    Params
		want string // "" for valid
	}{
		{"defaults", valid, ""},
		{"all set", Params{TargetPerReplica: 0.5, LeadTime: time.Minute, Quantile: 0.5, MinReplicas: 1, MaxReplicas: 1, PeakCapFactor: 1, Headroom: 0.1}, ""},
		{"zero lead time", with(func(p *Params) { p.LeadTime = 0 }), ""},
		{"max 0 means no bound", with(func(p *Params) { p.MinReplicas, p.MaxReplicas = 5, 0 }), ""},
		{"quantile near 1", with(func(p *Params) { p.Quantile = 0.999 }), ""},
		{"large peak cap", with(func(p *Params) { p.PeakCapFactor = 1e6 }), ""},

		{"zero target", with(func(p *Params) { p.TargetPerReplica = 0 }), "target per replica 0: must be a positive number"},
		{"negative target", with(func(p *Params) { p.TargetPerReplica = -1 }), "target per replica -1: must be a positive number"},
		{"NaN target", with(func(p *Params) { p.TargetPerReplica = math.NaN() }), "target per replica NaN: must be a positive number"},
		{"infinite target", with(func(p *Params) { p.TargetPerReplica = math.Inf(1) }), "target per replica +Inf: must be a positive number"},
		{"negative lead time", with(func(p *Params) { p.LeadTime = -time.Second }), "lead time -1s: must not be negative"},
		{"quantile below 0.5", with(func(p *Params) { p.Quantile = 0.4 }), "quantile 0.4: must be in [0.5, 1)"},
		{"quantile 1", with(func(p *Params) { p.Quantile = 1 }), "quantile 1: must be in [0.5, 1)"},
		{"quantile NaN", with(func(p *Params) { p.Quantile = math.NaN() }), "quantile NaN: must be in [0.5, 1)"},
		{"quantile 0 without defaults", Params{TargetPerReplica: 1, PeakCapFactor: 1}, "quantile 0: must be in [0.5, 1)"},
		{"negative min", with(func(p *Params) { p.MinReplicas = -1 }), "min replicas -1: must not be negative"},
		{"negative max", with(func(p *Params) { p.MaxReplicas = -1 }), "max replicas -1: must be 0 (no bound) or at least min replicas (0)"},
		{"max below min", with(func(p *Params) { p.MinReplicas, p.MaxReplicas = 5, 4 }), "max replicas 4: must be 0 (no bound) or at least min replicas (5)"},
		{"negative headroom", with(func(p *Params) { p.Headroom = -0.1 }), "headroom -0.1: must be in [0, 1)"},
		{"headroom 1", with(func(p *Params) { p.Headroom = 1 }), "headroom 1: must be in [0, 1)"},
		{"headroom NaN", with(func(p *Params) { p.Headroom = math.NaN() }), "headroom NaN: must be in [0, 1)"},
		{"peak cap below 1", with(func(p *Params) { p.PeakCapFactor = 0.9 }), "peak cap factor 0.9: must be at least 1 (1.2 allows 20% above the peak seen)"},
		{"peak cap NaN", with(func(p *Params) { p.PeakCapFactor = math.NaN() }), "peak cap factor NaN: must be at least 1"},
		{"peak cap infinite", with(func(p *Params) { p.PeakCapFactor = math.Inf(1) }), "peak cap factor +Inf: must be at least 1"},
		{"first bad field reported", Params{TargetPerReplica: -1, LeadTime: -1, Quantile: 2}, "target per replica -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func ExampleDecide() {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	p := Params{TargetPerReplica: 50, LeadTime: 3 * time.Minute, MinReplicas: 2, MaxReplicas: 20, Headroom: 0.1}
	// The upper band over the next minutes: a rise to 400 within the lead
	// time, and a higher value after it that does not count yet.
	f := &forecast.Forecast{
		Start: now, Step: time.Minute, Quantile: 0.9,
		Mean:  []float64{210, 260, 310, 360, 410},
		Lower: []float64{180, 220, 260, 300, 340},
		Upper: []float64{240, 300, 350, 400, 480},
	}
	for _, in := range []Input{
		{Now: now, Forecast: f, Reactive: 200, Peak: 500},
		{Now: now, Forecast: f, Reactive: 200, Peak: 300}, // the prediction is capped at 360
		{Now: now, Forecast: f, Reactive: 450, Peak: 300}, // the current load is never capped
		{Now: now, Forecast: nil, Reactive: 200, Peak: 500},
		{Now: now.Add(10 * time.Minute), Forecast: f, Reactive: 200, Peak: 500},
	} {
		d := Decide(p, in)
		fmt.Printf("%-27s load %3.0f -> %2d replicas (fallback: %t)\n", d.Reason, d.Load, d.Replicas, d.Reason.Fallback())
	}
	// Output:
	// forecast                    load 440 ->  9 replicas (fallback: false)
	// peak_cap                    load 396 ->  8 replicas (fallback: false)
	// reactive                    load 495 -> 10 replicas (fallback: false)
	// fallback_no_forecast        load 220 ->  5 replicas (fallback: true)
	// fallback_stale_forecast     load 220 ->  5 replicas (fallback: true)
}

func BenchmarkDecide(b *testing.B) {
	// Decide reads the forecast steps up to Now+LeadTime: its cost grows
	// with the lead time in steps, not with the forecast's length.
	for _, lead := range []time.Duration{5 * time.Minute, time.Hour, 24 * time.Hour} {
		p := Params{TargetPerReplica: 10, LeadTime: lead, MinReplicas: 1, MaxReplicas: 100, Headroom: 0.1}
		upper := make([]float64, int(2*lead/time.Minute)+1)
		for i := range upper {
			upper[i] = 100 + 50*math.Sin(float64(i)/30)
		}
		in := Input{Now: now, Forecast: fc(now, time.Minute, upper...), Reactive: 90, Peak: 160}
		b.Run("lead="+lead.String(), func(b *testing.B) {
			for b.Loop() {
				Decide(p, in)
			}
		})
	}
}
