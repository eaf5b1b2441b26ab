package anomaly

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/csvseries"
	"github.com/foresight-aiops/foresight/forecast"
)

// weekSeries is a week of minutely load with a daily cycle.
func weekSeries(seed uint64) forecast.Series {
	return forecast.Series{Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Step: time.Minute, Values: seasonal(7*1440, seed)}
}

// BenchmarkScoreOnePoint scores one new value of each of 10,000 series:
// one op is the 10,000 calls of Next (the target: ≤ 100 ms on one core).
func BenchmarkScoreOnePoint(b *testing.B) {
	const series = 10000
	hist := weekSeries(1)
	fitted, err := NewHoltWinters(HoltWintersConfig{Periods: []int{1440}})
	if err != nil {
		b.Fatal(err)
	}
	if err := fitted.Fit(hist); err != nil {
		b.Fatal(err)
	}
	for _, class := range Classes {
		b.Run("model="+class, func(b *testing.B) {
			dets := make([]Detector, series)
			for i := range dets {
				if class == ClassHoltWinters {
					// Each series its own model; cloning one fit keeps
					// the set-up short: scoring does not depend on which.
					h := *fitted
					h.main.model = fitted.main.model.Clone()
					dets[i] = &h
					continue
				}
				d, err := ModelConfig{Class: class}.New(time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				if err := d.Fit(hist); err != nil {
					b.Fatal(err)
				}
				dets[i] = d
			}
			b.ReportAllocs()
			t := 0
			for b.Loop() {
				v := hist.Values[t%len(hist.Values)]
				for _, d := range dets {
					d.Next(v)
				}
				t++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/series, "ns/series")
		})
	}
}

// BenchmarkFitHoltWinters fits one Holt-Winters detector on a week at one
// minute (10,080 values, season detected: one day, 1,440 steps); ×1000
// gives the time of fitting 1,000 models on one core (the target: ≤ 10 s).
// "select" is the detector's full selection (forecast.FitAuto with Screen:
// season detection, every candidate, anomaly exclusion), done daily, on a
// smooth daily cycle, where a non-seasonal model wins at one step, and on
// a daily pattern with minute-to-minute structure, where the seasonal one
// does (the costlier case: its full fit has a state per minute of the
// day); "refit" is the hourly refit of the selected model from its last
// parameters.
func BenchmarkFitHoltWinters(b *testing.B) {
	cases := []struct {
		name     string
		series   func(seed uint64) forecast.Series
		seasonal bool
	}{
		{"week/select", weekSeries, false},
		{"week/select-seasonal", patternWeek, true},
		{"week/refit", weekSeries, false},
		// Real CPU usage (the crane traces; see testdata/traces/README.md):
		// a daily cycle where (N,A) wins, and one where no season does.
		{"week/select-crane-cpu-2", craneWeek(b, "crane-cpu-2.csv.gz"), true},
		{"week/select-crane-cpu-9", craneWeek(b, "crane-cpu-9.csv.gz"), false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h, err := NewHoltWinters(HoltWintersConfig{})
			if err != nil {
				b.Fatal(err)
			}
			if err := h.Fit(c.series(2)); err != nil {
				b.Fatal(err)
			}
			next := c.series(3)
			refit := strings.HasSuffix(c.name, "refit")
			b.ReportAllocs()
			for b.Loop() {
				if refit {
					h.fits = 1
				} else {
					h.fits = 0 // a full selection every time
				}
				if err := h.Fit(next); err != nil {
					b.Fatal(err)
				}
			}
			if got := h.Model().Spec.Seasonality != forecast.SeasonNone; got != c.seasonal {
				b.Fatalf("chose %s: the case is meant to measure a seasonal choice: %v", h.Model().Spec, c.seasonal)
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1000, "s/1000models")
		})
	}
}

// craneWeek returns a function giving a week of a crane trace: the last
// week for seed 3 (the one timed), the week before for others.
func craneWeek(b *testing.B, name string) func(seed uint64) forecast.Series {
	d, err := csvseries.ReadFile(filepath.Join("..", "testdata", "traces", name))
	if err != nil {
		b.Fatal(err)
	}
	s, _, err := forecast.Align(d.Samples, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	const week = 7 * 1440
	return func(seed uint64) forecast.Series {
		end := s.Len()
		if seed != 3 {
			end -= 1440
		}
		return s.Slice(end-week, end)
	}
}

// patternWeek is a week of minutely load whose daily profile has
// structure from one minute to the next (a fixed random pattern, repeated
// each day), plus noise: only a seasonal model predicts it.
func patternWeek(seed uint64) forecast.Series {
	rng := rand.New(rand.NewPCG(1, 1)) // the same pattern for every seed
	pattern := make([]float64, 1440)
	for i := range pattern {
		pattern[i] = 100 + 30*math.Sin(2*math.Pi*float64(i)/1440) + 10*rng.NormFloat64()
	}
	noise := rand.New(rand.NewPCG(seed, seed))
	y := make([]float64, 7*1440)
	for i := range y {
		y[i] = pattern[i%1440] + 2*noise.NormFloat64()
	}
	return forecast.Series{Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Step: time.Minute, Values: y}
}
