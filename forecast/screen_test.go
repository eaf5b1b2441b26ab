package forecast

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestNthSmallest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tt := range []struct {
		name string
		x    []float64
	}{
		{"one", []float64{3}},
		{"sorted", []float64{1, 2, 3, 4, 5, 6, 7, 8}},
		{"reversed", []float64{8, 7, 6, 5, 4, 3, 2, 1}},
		{"equal", []float64{2, 2, 2, 2, 2}},
		{"ties", func() []float64 {
			x := make([]float64, 1001)
			for i := range x {
				x[i] = float64(rng.IntN(7))
			}
			return x
		}()},
		{"normal", whiteNoise(10080, 0, 5)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := slices.Clone(tt.x)
			slices.Sort(want)
			for _, k := range []int{0, len(tt.x) / 2, len(tt.x) - 1} {
				if got := nthSmallest(slices.Clone(tt.x), k); got != want[k] {
					t.Errorf("nthSmallest(k=%d) = %g, want %g", k, got, want[k])
				}
			}
		})
	}
}

// minutePattern is a daily profile with structure from one minute to the
// next (a fixed random pattern) plus noise: only a seasonal model
// predicts it one step ahead.
func minutePattern(days int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(1, 1))
	pattern := make([]float64, 1440)
	for i := range pattern {
		pattern[i] = 100 + 30*math.Sin(2*math.Pi*float64(i)/1440) + 10*rng.NormFloat64()
	}
	noise := rand.New(rand.NewPCG(seed, seed))
	y := make([]float64, days*1440)
	for i := range y {
		y[i] = pattern[i%1440] + 2*noise.NormFloat64()
	}
	return y
}

// TestScreenedSelection checks AutoOptions.Screen: the family it chooses,
// the anomalies it leaves out, and that Refit continues from its choice.
func TestScreenedSelection(t *testing.T) {
	const day = 1440
	trace := loadTrace(t, "synthetic-trace-101-1.csv.gz")
	// A week ending a day after the labelled outage [23429, 23521)
	// (labels-101.json), which a one-step detector must not learn.
	week := trace.Slice(23521+day-7*day, 23521+day)
	// The minute pattern with an outage on the fifth day, and scaled by a
	// level that doubles over the week (a multiplicative season) with one
	// on the third.
	outage := minutePattern(7, 4)
	for i := 5*day + 600; i < 5*day+660; i++ {
		outage[i] = 1
	}
	growing := minutePattern(7, 5)
	for i := range growing {
		growing[i] *= 1 + float64(i)/float64(len(growing))
	}
	for i := 2*day + 600; i < 2*day+660; i++ {
		growing[i] = 1 // before the screening window: (N,M) is still chosen
	}
	tests := []struct {
		name         string
		s            Series
		opts         AutoOptions
		wantSeasonal bool
		// wantSameAs, if set, are the options of a FitAuto whose choice,
		// seasonal or not, the screened selection must make.
		wantSameAs    *AutoOptions
		wantAnomalies bool
		wantSpec      string // if set, the model chosen
	}{
		{"minute pattern: seasonal", minuteSeries(minutePattern(7, 2)), AutoOptions{Horizon: 1}, true, &AutoOptions{Horizon: 1}, false, ""},
		{"smooth cycle: non-seasonal", minuteSeries(seasonal(7*day, day, 100, 50, 3, 2)), AutoOptions{Horizon: 1}, false, nil, false, ""},
		{"trace week with an outage", week, AutoOptions{Horizon: 1, ExcludeAnomalies: true}, false, nil, true, ""},
		{"seasonal, with an outage", minuteSeries(outage), AutoOptions{Horizon: 1, ExcludeAnomalies: true}, true, nil, true, ""},
		{"multiplicative, with an outage", minuteSeries(growing), AutoOptions{Horizon: 1, ExcludeAnomalies: true}, true, nil, true, "(N,M) m=1440 +AR(1)"},
		{"periods given", minuteSeries(minutePattern(4, 3)), AutoOptions{Horizon: 1, Periods: []int{day}}, true, nil, false, ""},
		{"no season", minuteSeries(minutePattern(4, 3)), AutoOptions{Horizon: 1, NoSeason: true}, false, nil, false, ""},
		{"short history", minuteSeries(minutePattern(1, 3)[:300]), AutoOptions{Horizon: 1}, false, nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Screen = true
			m, sel, err := FitAuto(tt.s, opts)
			if err != nil {
				t.Fatal(err)
			}
			chosen := sel.Candidates[sel.Chosen]
			t.Logf("chose %s (%s); %d anomalies left out", chosen.Model, sel.Criterion, sel.Anomalies)
			if got := m.Spec.Seasonality != SeasonNone; got != tt.wantSeasonal {
				t.Errorf("chose %s: seasonal %v, want %v", m.Spec, got, tt.wantSeasonal)
			}
			if !sameSpec(m.Spec, chosen.Spec) {
				t.Errorf("the model is %s but the chosen candidate %s", m.Spec, chosen.Model)
			}
			if tt.wantSameAs != nil {
				_, full, err := FitAuto(tt.s, *tt.wantSameAs)
				if err != nil {
					t.Fatal(err)
				}
				if want := full.Candidates[full.Chosen].Spec; (m.Spec.Seasonality == SeasonNone) != (want.Seasonality == SeasonNone) {
					t.Errorf("chose %s, FitAuto %s: not the same family", m.Spec, want)
				}
			}
			if tt.wantSpec != "" && m.Spec.String() != tt.wantSpec {
				t.Errorf("chose %s, want %s", m.Spec, tt.wantSpec)
			}
			if got := sel.Anomalies > 0; got != tt.wantAnomalies {
				t.Errorf("%d anomalies left out, want some: %v", sel.Anomalies, tt.wantAnomalies)
			}
			// Refit from the selection: the same model, fitted again.
			r, err := Refit(tt.s, sel, AutoOptions{Horizon: 1})
			if err != nil {
				t.Fatalf("Refit from the screened selection: %v", err)
			}
			if !sameSpec(r.Spec, m.Spec) {
				t.Errorf("Refit fitted %s, the selection %s", r.Spec, m.Spec)
			}
		})
	}
}
