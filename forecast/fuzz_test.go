package forecast

import (
	"math"
	"testing"
)

// FuzzFit: whatever the history, Fit and FitAuto return a typed error or a
// model whose forecast and band are finite and ordered. Never a panic, never
// a silent NaN.
func FuzzFit(f *testing.F) {
	f.Add(floatBytes(seasonal(96, 12, 10, 3, 1, 1)), uint8(12), uint8(1))
	f.Add(floatBytes([]float64{1, 1, 1, 1, 2}), uint8(2), uint8(2))
	f.Add(floatBytes([]float64{math.NaN(), 1, math.Inf(-1), 3, 4, 5, -1e300, 1e300}), uint8(3), uint8(0))
	f.Add(floatBytes([]float64{0, 0, 0, 0, 1e-300, 0, 0, 0, 0}), uint8(4), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, period, model uint8) {
		values := bytesFloats(raw)
		if len(values) > 4000 {
			values = values[:4000]
		}
		specs := []Spec{
			{},
			{Trend: TrendDamped, AR: true},
			{Seasonality: SeasonAdditive, Periods: []int{max(2, int(period%50))}},
			{Trend: TrendAdditive, Seasonality: SeasonMultiplicative, Periods: []int{max(2, int(period%50))}, AR: true},
		}
		s := minuteSeries(values)
		m, err := Fit(s, specs[int(model)%len(specs)], FitOptions{Horizon: 10})
		check(t, m, err)
		if err == nil {
			if flags := m.Anomalies(values, 0); len(flags) != len(values) {
				t.Fatalf("%d flags for %d values", len(flags), len(values))
			}
		}
		m, _, err = FitAuto(s, AutoOptions{Horizon: 10, ExcludeAnomalies: model%2 == 1})
		check(t, m, err)
	})
}

func check(t *testing.T, m *Model, err error) {
	t.Helper()
	if err != nil {
		if m != nil {
			t.Fatalf("a model with the error %v", err)
		}
		return
	}
	fc, err := m.Predict(15, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fc.Mean {
		// Values near ±1e308 may overflow to Inf honestly; NaN never.
		if math.IsNaN(fc.Mean[i]) || math.IsNaN(fc.Lower[i]) || math.IsNaN(fc.Upper[i]) {
			t.Fatalf("%s %v: step %d: NaN in %g [%g, %g]", m.Spec, m.Params, i, fc.Mean[i], fc.Lower[i], fc.Upper[i])
		}
	}
}
