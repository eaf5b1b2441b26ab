package forecast

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// benchSeries returns n steps of a load with a daily cycle of the given
// period, a weekly modulation, AR(1) noise and a few spikes: the shape of
// the request rates the scaler forecasts.
func benchSeries(n, period int, seed uint64) Series {
	rng := rand.New(rand.NewPCG(seed, seed))
	v := make([]float64, n)
	noise := 0.0
	for t := range v {
		phase := 2 * math.Pi * float64(t%period) / float64(period)
		week := 1 + 0.2*math.Sin(2*math.Pi*float64(t)/float64(7*period))
		noise = 0.8*noise + rng.NormFloat64()*4
		v[t] = week*(100+60*math.Sin(phase)+20*math.Sin(2*phase)) + noise
		if rng.Float64() < 0.001 {
			v[t] *= 2
		}
	}
	return Series{Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Step: time.Minute, Values: v}
}

var benchSizes = []struct{ n, period int }{{2016, 288}, {10080, 1440}}

// BenchmarkFit fits one model: (N,A) and (N,M) are what FitAuto chooses
// most on minute data; (Ad,A) is statsmodels' model in the accuracy report,
// with the most parameters.
func BenchmarkFit(b *testing.B) {
	for _, sz := range benchSizes {
		s := benchSeries(sz.n, sz.period, 1)
		for _, spec := range []Spec{
			{Seasonality: SeasonAdditive, Periods: []int{sz.period}},
			{Seasonality: SeasonMultiplicative, Periods: []int{sz.period}},
			{Trend: TrendDamped, Seasonality: SeasonAdditive, Periods: []int{sz.period}},
		} {
			b.Run(fmt.Sprintf("n=%d/%s", sz.n, strings.ReplaceAll(spec.String(), " ", "")), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Fit(s, spec, FitOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkFitAuto(b *testing.B) {
	for _, sz := range benchSizes {
		s := benchSeries(sz.n, sz.period, 1)
		b.Run(fmt.Sprintf("n=%d/m=%d", sz.n, sz.period), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := FitAuto(s, AutoOptions{Periods: []int{sz.period}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSSE(b *testing.B) {
	s := benchSeries(10080, 1440, 1)
	spec := Spec{Trend: TrendDamped, Seasonality: SeasonAdditive, Periods: []int{1440}}
	m, err := Fit(s, spec, FitOptions{})
	if err != nil {
		b.Fatal(err)
	}
	st0, _ := newState(spec, initialState(spec, s.Values))
	work := st0.clone()
	for b.Loop() {
		copyState(&work, &st0)
		sseKernel(&m.coef, &work, s.Values)
	}
}

func BenchmarkForecast(b *testing.B) {
	s := benchSeries(10080, 1440, 1)
	m, err := Fit(s, Spec{Trend: TrendDamped, Seasonality: SeasonAdditive, Periods: []int{1440}}, FitOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Predict(60, 0.9); err != nil {
			b.Fatal(err)
		}
	}
}
