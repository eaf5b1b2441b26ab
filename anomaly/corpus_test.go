package anomaly

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/anomaly/nab"
	"github.com/foresight-aiops/foresight/forecast"
)

// nabStyleCorpus builds five series in the manner of NAB's corpus: 14 days
// at 5 minutes, each with its own scale and noise, so that one threshold
// must serve them all. Seeded: the same every run.
func nabStyleCorpus(score func([]forecast.Sample) []float64) []nab.File {
	const n = 4032
	rng := rand.New(rand.NewPCG(7, 7))
	type series struct {
		name   string
		y      []float64
		labels []int
	}
	var all []series
	// A quantised CPU gauge with glitches, then a sustained jump.
	y := make([]float64, n)
	for i := range y {
		y[i] = 0.134
		if rng.Float64() < 0.1 {
			y[i] = 0.2
		}
		if i >= 3000 && i < 3100 {
			y[i] = 2.5 + rng.Float64()/2
		}
	}
	all = append(all, series{"flat_jump", y, []int{3000}})
	// A daily hump whose tenth day peaks twice as high.
	y = make([]float64, n)
	for i := range y {
		a := 20.0
		if i/288 == 10 {
			a = 60
		}
		y[i] = 40 + a*math.Max(0, math.Sin(2*math.Pi*float64(i%288)/288)) + rng.NormFloat64()*2
	}
	all = append(all, series{"daily_jumpsup", y, []int{10*288 + 72}})
	// AR(1) noise around a level that shifts, and one spike.
	y = make([]float64, n)
	x := 0.0
	for i := range y {
		x = 0.9*x + rng.NormFloat64()*3
		base := 50.0
		if i >= 2500 {
			base = 80
		}
		y[i] = base + x
		if i == 3500 {
			y[i] += 60
		}
	}
	all = append(all, series{"ar_shift", y, []int{2500, 3500}})
	// A noisy daily cycle with 1% small bumps and no anomaly.
	y = make([]float64, n)
	for i := range y {
		y[i] = 40 + 20*math.Sin(2*math.Pi*float64(i%288)/288) + rng.NormFloat64()*4
		if rng.Float64() < 0.01 {
			y[i] += 15
		}
	}
	all = append(all, series{"noisy_none", y, nil})

	var files []nab.File
	start := time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range all {
		samples := make([]forecast.Sample, len(s.y))
		for i, v := range s.y {
			samples[i] = forecast.Sample{T: start.Add(time.Duration(i) * 5 * time.Minute), V: v}
		}
		files = append(files, nab.File{Name: s.name, Scores: score(samples), Windows: nab.WindowsAround(len(s.y), s.labels)})
	}
	return files
}

// TestNABStyleCorpus scores the default detector on series of different
// scales with one corpus-wide threshold, as NAB does: a detector whose
// score is not comparable across series (a flat series scoring its usual
// glitches in the millions) fails it. Before the floors on σ the
// Holt-Winters detector scored 19.7 here.
func TestNABStyleCorpus(t *testing.T) {
	for _, c := range []struct {
		class string
		min   float64
	}{{ClassHoltWinters, 65}, {ClassMAD, 65}} {
		t.Run(c.class, func(t *testing.T) {
			score := func(samples []forecast.Sample) []float64 {
				est, err := ScoreSamples(ModelConfig{Class: c.class}, samples, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				out := make([]float64, len(est))
				for i, e := range est {
					out[i] = NAB(e.Score)
				}
				return out
			}
			r := nab.Score(nabStyleCorpus(score), nab.Standard)
			t.Logf("%s: NAB standard %.1f (threshold %.3f, found %d, missed %d, false positives %d)", c.class, r.Normalized, r.Threshold, r.TP, r.FN, r.FP)
			if r.Normalized < c.min {
				t.Errorf("NAB standard score %.1f, want at least %g", r.Normalized, c.min)
			}
		})
	}
}
