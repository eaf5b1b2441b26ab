package anomaly

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// The expected values are worked by hand from the doc comments' formulas.
func TestRollingDetectorsHandChecked(t *testing.T) {
	feed := func(d Detector, ys ...float64) {
		for _, y := range ys {
			d.Next(y)
		}
	}
	t.Run("zscore", func(t *testing.T) {
		z, err := NewZScore(RollingConfig{Window: 4, MinPoints: 4})
		if err != nil {
			t.Fatal(err)
		}
		feed(z, 1, 2, 3, 4)
		// μ = 2.5, σ = √(5/3) = 1.290994, band ±3σ = ±3.872983.
		e := z.Next(10)
		if math.Abs(e.Yhat-2.5) > 1e-12 || math.Abs(e.Score-7.5/(3*math.Sqrt(5.0/3))) > 1e-9 {
			t.Errorf("got %+v, want yhat 2.5 and score 1.936492", e)
		}
		// The anomaly entered the window clipped to the band's edge,
		// 2.5 + 3.872983: the window is 2, 3, 4, 6.372983.
		if want := (2 + 3 + 4 + 2.5 + 3*math.Sqrt(5.0/3)) / 4; math.Abs(z.win.mean-want) > 1e-9 {
			t.Errorf("window mean %g, want %g (winsorised)", z.win.mean, want)
		}
	})
	t.Run("mad", func(t *testing.T) {
		m, err := NewMAD(RollingConfig{Window: 5, MinPoints: 5})
		if err != nil {
			t.Fatal(err)
		}
		feed(m, 1, 100, 2, 4, 3)
		// Median 3; |x − 3| = 2, 97, 1, 1, 0: MAD 1, σ̂ = 1.482602, band ±4.447807.
		e := m.Next(10)
		if e.Yhat != 3 || math.Abs(e.Score-7/(3*madConsistency)) > 1e-9 {
			t.Errorf("got %+v, want yhat 3 and score 1.573839", e)
		}
	})
	t.Run("rolling_quantile", func(t *testing.T) {
		r, err := NewRollingQuantile(RollingConfig{Window: 5, MinPoints: 5, Quantile: 0.75})
		if err != nil {
			t.Fatal(err)
		}
		feed(r, 5, 1, 4, 2, 3)
		// Q(0.25) = 2, Q(0.5) = 3, Q(0.75) = 4.
		if e := r.Next(5); e.Yhat != 3 || e.Lower != 2 || e.Upper != 4 || e.Score != 2 {
			t.Errorf("got %+v, want yhat 3 in [2, 4], score 2", e)
		}
	})
	t.Run("warm-up scores 0", func(t *testing.T) {
		z, _ := NewZScore(RollingConfig{Window: 10})
		feed(z, 1, 2, 3)
		if e := z.Next(1000); e.Score != 0 || !math.IsNaN(e.Yhat) {
			t.Errorf("with 3 of the 5 values needed: %+v", e)
		}
	})
}

// TestRingMatchesDirect checks the running mean, deviation and sorted
// copy of the window against direct computation over many updates.
func TestRingMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	r := newRing(17, true)
	var all []float64
	for i := range 1000 {
		v := 1e6 + rng.NormFloat64()*3 // a large mean: the cancellation case
		r.push(v)
		all = append(all, v)
		w := all[max(len(all)-17, 0):]
		var sum float64
		for _, x := range w {
			sum += x
		}
		mean := sum / float64(len(w))
		var ss float64
		for _, x := range w {
			ss += (x - mean) * (x - mean)
		}
		if math.Abs(r.mean-mean) > 1e-7 {
			t.Fatalf("step %d: mean %g, want %g", i, r.mean, mean)
		}
		if len(w) > 1 {
			if want := math.Sqrt(ss / float64(len(w)-1)); math.Abs(r.std()-want) > 1e-6*want+1e-9 {
				t.Fatalf("step %d: std %g, want %g", i, r.std(), want)
			}
		}
		if len(r.sorted) != len(w) {
			t.Fatalf("step %d: %d sorted values, want %d", i, len(r.sorted), len(w))
		}
	}
}

// seasonal returns n minutes of a daily cycle with noise, seeded.
func seasonal(n int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, seed))
	y := make([]float64, n)
	for i := range y {
		phase := 2 * math.Pi * float64(i%1440) / 1440
		y[i] = 100 + 50*math.Sin(phase) + rng.NormFloat64()*3
	}
	return y
}

func TestHoltWintersFindsPlantedAnomalies(t *testing.T) {
	y := seasonal(4*1440, 2)
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	hw, err := NewHoltWinters(HoltWintersConfig{Periods: []int{1440}})
	if err != nil {
		t.Fatal(err)
	}
	if err := hw.Fit(forecast.Series{Start: start, Step: time.Minute, Values: y[:3*1440]}); err != nil {
		t.Fatal(err)
	}
	test := y[3*1440:]
	// An outage of 30 minutes at 600, a spike of one at 1000.
	for i := 600; i < 630; i++ {
		test[i] = 2
	}
	test[1000] *= 1.6
	above := 0
	for i, v := range test {
		e := hw.Next(v)
		switch {
		case i == 600 || i == 1000:
			if e.Score <= 3 {
				t.Errorf("planted anomaly at %d scores %g, want > 3 (%+v)", i, e.Score, e)
			}
		case i > 600 && i < 630:
			if e.Score <= 1 {
				t.Errorf("outage minute %d scores %g: the model was dragged down by the outage", i, e.Score)
			}
		case i >= 640 && i < 700:
			if e.Score > 2 {
				t.Errorf("minute %d after the outage scores %g: the outage contaminated the state", i, e.Score)
			}
		default:
			if e.Score > 1 {
				above++
			}
		}
	}
	// A 99% band: about 1% of the quiet minutes outside it.
	if frac := float64(above) / float64(len(test)); frac > 0.03 {
		t.Errorf("%.1f%% of the quiet minutes score above 1, want about 1%%", 100*frac)
	}
}

func TestModelConfigNew(t *testing.T) {
	ok := []ModelConfig{
		{Class: ClassZScore},
		{Class: ClassZScore, Window: Duration(time.Hour), Threshold: 4, DetectionDirection: "above_expected", MinDevFromExpected: 5},
		{Class: ClassMAD, Window: Duration(30 * time.Minute), Scale: []float64{2, 1}},
		{Class: ClassRollingQuantile, Quantile: 0.95},
		{Class: ClassHoltWinters, Season: "1d"},
		{Class: ClassHoltWinters, Season: "none", Quantile: 0.99},
	}
	for _, c := range ok {
		if _, err := c.New(time.Minute); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := []ModelConfig{
		{Class: "prophet"},
		{Class: ClassZScore, Window: Duration(90 * time.Second)},
		{Class: ClassZScore, Season: "1d"},
		{Class: ClassZScore, Quantile: 0.9},
		{Class: ClassRollingQuantile, Threshold: 3},
		{Class: ClassHoltWinters, Window: Duration(time.Hour)},
		{Class: ClassHoltWinters, Season: "90s"},
		{Class: ClassMAD, DetectionDirection: "sideways"},
		{Class: ClassMAD, Scale: []float64{1, 2, 3}},
		{Class: ClassMAD, Scale: []float64{-1}},
		{Class: ClassMAD, MinDevFromExpected: -1},
		{Class: ClassRollingQuantile, Quantile: 0.3},
	}
	for _, c := range bad {
		if _, err := c.New(time.Minute); err == nil {
			t.Errorf("%+v: no error", c)
		} else if !errors.Is(err, ErrBadOption) && !errors.Is(err, forecast.ErrBadSetting) {
			t.Errorf("%+v: %v is neither ErrBadOption nor forecast.ErrBadSetting", c, err)
		}
	}
}

// countingDetector records what a Stream feeds it.
type countingDetector struct {
	fits []int
	seen []float64
}

func (c *countingDetector) Fit(h forecast.Series) error {
	c.fits = append(c.fits, h.Len())
	return nil
}

func (c *countingDetector) Next(y float64) Estimate {
	c.seen = append(c.seen, y)
	return Estimate{Y: y}
}

func TestStreamSchedule(t *testing.T) {
	d := &countingDetector{}
	s := NewStream(d, time.Minute, StreamOptions{FitEvery: 5, FitWindow: 8, MinFit: 3})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 20 {
		at := t0.Add(time.Duration(i) * time.Minute)
		if i == 10 { // two minutes missing before this one
			at = at.Add(2 * time.Minute)
		}
		if i > 10 {
			at = at.Add(2 * time.Minute)
		}
		s.Next(at, float64(i))
	}
	// 22 steps: fits before steps 3, 8, 13, 18 on at most 8 steps.
	if want := []int{3, 8, 8, 8}; !equalInts(d.fits, want) {
		t.Errorf("fits on %v steps, want %v", d.fits, want)
	}
	if len(d.seen) != 22 || !math.IsNaN(d.seen[10]) || !math.IsNaN(d.seen[11]) || d.seen[12] != 10 {
		t.Errorf("values fed: %v, want two gaps before 10", d.seen)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestHoltWintersQuantisedSeries checks the floor on σ: a series that is
// 0.134 nine times in ten and 0.2 otherwise (a CPU gauge at its
// resolution) must not score its usual glitches in the hundreds, while a jump
// to 2.5 scores far above them.
func TestHoltWintersQuantisedSeries(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	y := make([]float64, 3000)
	for i := range y {
		y[i] = 0.134
		if rng.Float64() < 0.1 {
			y[i] = 0.2
		}
	}
	hw, err := NewHoltWinters(HoltWintersConfig{NoSeason: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := hw.Fit(forecast.Series{Start: time.Unix(0, 0), Step: 5 * time.Minute, Values: y[:2000]}); err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for _, v := range y[2000:] {
		worst = math.Max(worst, hw.Next(v).Score)
	}
	jump := hw.Next(2.5).Score
	if worst > 5 || jump < 10*worst {
		t.Errorf("usual glitches score up to %g, a jump to 2.5 scores %g: want ≤ 5 and a jump ten times higher", worst, jump)
	}
}
