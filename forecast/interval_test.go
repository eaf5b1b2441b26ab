package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// The band is calibrated: over many forecasts of a seasonal AR(1) process,
// about a share q of the actual values fall at or below the q-quantile at
// each horizon, and about 1−q below the (1−q)-quantile.
func TestBandCoverage(t *testing.T) {
	const period, horizon, origins = 96, 20, 150
	rng := rand.New(rand.NewPCG(5, 6))
	n := period*30 + origins*horizon
	y := make([]float64, n)
	noise := 0.0
	for i := range y {
		noise = 0.6*noise + rng.NormFloat64()
		y[i] = 100 + 20*math.Sin(2*math.Pi*float64(i)/period) + 3*noise
	}
	train := period * 30
	m, err := Fit(minuteSeries(y[:train]), Spec{Seasonality: SeasonAdditive, Periods: []int{period}, AR: true}, FitOptions{Horizon: horizon})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{0.8, 0.9, 0.95} {
		below, underLower, total := 0, 0, 0
		mc := m.Clone()
		for o := 0; o < origins; o++ {
			f, err := mc.Predict(horizon, q)
			if err != nil {
				t.Fatal(err)
			}
			for h := range horizon {
				actual := y[train+o*horizon+h]
				total++
				if actual <= f.Upper[h] {
					below++
				}
				if actual < f.Lower[h] {
					underLower++
				}
			}
			for h := range horizon {
				mc.Observe(y[train+o*horizon+h])
			}
		}
		upper := float64(below) / float64(total)
		lower := float64(underLower) / float64(total)
		t.Logf("q=%.2f: %.3f at or below the upper band, %.3f below the lower", q, upper, lower)
		if math.Abs(upper-q) > 0.05 || math.Abs(lower-(1-q)) > 0.05 {
			t.Errorf("q=%.2f: coverage %.3f and %.3f, want %.2f and %.2f within 0.05", q, upper, lower, q, 1-q)
		}
	}
}

func TestBandShape(t *testing.T) {
	y := seasonal(24*20, 24, 50, 10, 3, 14)
	for _, spec := range []Spec{
		{},
		{Seasonality: SeasonAdditive, Periods: []int{24}},
		{Seasonality: SeasonMultiplicative, Periods: []int{24}, AR: true},
	} {
		m, err := Fit(minuteSeries(y), spec, FitOptions{Horizon: 30})
		if err != nil {
			t.Fatal(err)
		}
		// Past the estimated horizon too.
		f, err := m.Predict(90, 0.9)
		if err != nil {
			t.Fatal(err)
		}
		for i := range f.Mean {
			if !(f.Lower[i] <= f.Mean[i] && f.Mean[i] <= f.Upper[i]) {
				t.Fatalf("%s step %d: %g outside [%g, %g]", spec, i, f.Mean[i], f.Lower[i], f.Upper[i])
			}
			if i > 0 && f.Upper[i]-f.Mean[i] < f.Upper[i-1]-f.Mean[i-1]-1e-9*math.Abs(f.Mean[i]) && !spec.isMultiplicative() {
				t.Fatalf("%s step %d: the band narrowed", spec, i)
			}
		}
		wide, _ := m.Predict(10, 0.99)
		narrow, _ := m.Predict(10, 0.6)
		if wide.Upper[5] <= narrow.Upper[5] || wide.Lower[5] >= narrow.Lower[5] {
			t.Errorf("%s: the 0.99 band is not wider than the 0.6 band", spec)
		}
		if f.Quantile != 0.9 || !f.Start.Equal(m.Next) || f.Step != m.Step {
			t.Errorf("%s: forecast header %v %v %v", spec, f.Quantile, f.Start, f.Step)
		}
	}
}

func (s Spec) isMultiplicative() bool { return s.Seasonality == SeasonMultiplicative }

func TestPredictBadQuantile(t *testing.T) {
	m, err := Fit(minuteSeries(seasonal(100, 10, 5, 1, 0.5, 15)), Spec{}, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{0, 1, -0.5, 1.5, math.NaN()} {
		if _, err := m.Predict(5, q); !errors.Is(err, ErrBadQuantile) {
			t.Errorf("quantile %g: error %v, want ErrBadQuantile", q, err)
		}
	}
	// Below one half, the two edges swap roles.
	a, _ := m.Predict(5, 0.1)
	b, _ := m.Predict(5, 0.9)
	if a.Upper[2] != b.Upper[2] || a.Quantile != 0.9 {
		t.Errorf("q=0.1 gives upper %g (quantile %g), q=0.9 gives %g", a.Upper[2], a.Quantile, b.Upper[2])
	}
}

func TestAnchorHorizons(t *testing.T) {
	for _, tc := range []struct {
		h    int
		want []int
	}{
		{1, []int{1}},
		{2, []int{1, 2}},
		{5, []int{1, 2, 3, 4, 5}},
		{60, []int{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 60}},
	} {
		got := anchorHorizons(tc.h)
		if len(got) != len(tc.want) {
			t.Errorf("anchorHorizons(%d) = %v, want %v", tc.h, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("anchorHorizons(%d) = %v, want %v", tc.h, got, tc.want)
				break
			}
		}
	}
}
