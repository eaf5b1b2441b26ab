package nab

import (
	"math"
	"slices"
	"testing"
)

// Expected values below were computed by hand with Python 3 from the
// formulas in the package comment (σ(x) = 2/(1+e^{5x}) − 1, σ(−1) =
// 0.9866142981514305).

func TestScaledSigmoid(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{
		{-1, 0.9866142981514305},
		{0, 0},
		{-0.5, 0.8482836399575129},
		{1, -0.9866142981514305},
		{3, -1},
		{10, -1},
	} {
		if got := scaledSigmoid(c.x); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("σ(%g) = %.15g, want %.15g", c.x, got, c.want)
		}
	}
}

func TestProbation(t *testing.T) {
	for _, c := range []struct{ n, want int }{{100, 15}, {1000, 150}, {5000, 750}, {40320, 750}, {6, 0}} {
		if got := Probation(c.n); got != c.want {
			t.Errorf("Probation(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}

func TestWindowsAround(t *testing.T) {
	for _, c := range []struct {
		name   string
		n      int
		labels []int
		want   []Window
	}{
		{"one label: a tenth of the file", 1000, []int{500}, []Window{{450, 550}}},
		{"two labels: a twentieth each, merged when they overlap", 1000, []int{140, 100}, []Window{{75, 165}}},
		{"apart", 1000, []int{100, 600}, []Window{{75, 125}, {575, 625}}},
		{"clipped at the edges", 100, []int{0, 99}, []Window{{0, 2}, {97, 99}}},
		{"none", 100, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := WindowsAround(c.n, c.labels); !slices.Equal(got, c.want) {
				t.Errorf("WindowsAround(%d, %v) = %v, want %v", c.n, c.labels, got, c.want)
			}
		})
	}
}

// file100 is a file of 100 rows (probation 15) with one window [50, 59]
// and the given rows scored 1 (the others 0).
func file100(scores map[int]float64) File {
	s := make([]float64, 100)
	for i, v := range scores {
		s[i] = v
	}
	return File{Name: "f.csv", Scores: s, Windows: []Window{{50, 59}}}
}

func TestScoreHandChecked(t *testing.T) {
	for _, c := range []struct {
		name       string
		f          File
		p          Profile
		wantRaw    float64
		wantNorm   float64
		wantThresh float64
		tp, fn, fp int
	}{
		{
			name: "a detection at the window's start earns A_TP: a perfect score",
			f:    file100(map[int]float64{50: 1}), p: Standard,
			wantRaw: 1, wantNorm: 100, wantThresh: 1, tp: 1,
		},
		{
			name: "at its last row, σ(−0.1)/σ(−1) = 0.2482",
			f:    file100(map[int]float64{59: 1}), p: Standard,
			wantRaw: 0.24824154977542992, wantNorm: 62.4120774887715, wantThresh: 1, tp: 1,
		},
		{
			name: "only the earliest detection in a window counts",
			f:    file100(map[int]float64{50: 1, 55: 1, 59: 1}), p: Standard,
			wantRaw: 1, wantNorm: 100, wantThresh: 1, tp: 1,
		},
		{
			name: "a detection in the probationary period is ignored",
			f:    file100(map[int]float64{10: 1, 50: 1}), p: Standard,
			wantRaw: 1, wantNorm: 100, wantThresh: 1, tp: 1,
		},
		{
			name: "the threshold goes down to the true positive and takes the false one (before any window: −A_FP) with it",
			f:    file100(map[int]float64{30: 0.9, 52: 0.8}), p: Standard,
			// σ(−0.8)/σ(−1) − 0.11
			wantRaw: 0.8671068409226045, wantNorm: 93.35534204613023, wantThresh: 0.8, tp: 1, fp: 1,
		},
		{
			name: "low-FP profile: the false positive costs 0.22",
			f:    file100(map[int]float64{30: 0.9, 52: 0.8}), p: LowFP,
			wantRaw: 0.9771068409226045 - 0.22, wantNorm: 100 * (0.9771068409226045 - 0.22 + 1) / 2, wantThresh: 0.8, tp: 1, fp: 1,
		},
		{
			name: "just after the window a false positive is cheap: A_FP·σ(1/9)",
			f:    file100(map[int]float64{52: 0.9, 60: 0.8}), p: Standard,
			// Both thresholds: 0.9 gives 0.97711; 0.8 adds −0.02979. The best is 0.9.
			wantRaw: 0.9771068409226045, wantNorm: 100 * (0.9771068409226045 + 1) / 2, wantThresh: 0.9, tp: 1,
		},
		{
			name: "a missed window: the null score, 0",
			f:    file100(map[int]float64{20: 1}), p: Standard,
			wantRaw: -1, wantNorm: 0, wantThresh: math.Inf(1), fn: 1,
		},
		{
			name: "low-FN profile: a miss costs 2, normalised against −2",
			f:    file100(map[int]float64{59: 1}), p: LowFN,
			wantRaw: 0.24824154977542992, wantNorm: 100 * (0.24824154977542992 + 2) / 3, wantThresh: 1, tp: 1,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Score([]File{c.f}, c.p)
			if math.Abs(r.Raw-c.wantRaw) > 1e-9 || math.Abs(r.Normalized-c.wantNorm) > 1e-9 {
				t.Errorf("raw %.12g, normalised %.12g; want %.12g, %.12g", r.Raw, r.Normalized, c.wantRaw, c.wantNorm)
			}
			if r.Threshold != c.wantThresh {
				t.Errorf("threshold %g, want %g", r.Threshold, c.wantThresh)
			}
			if r.TP != c.tp || r.FN != c.fn || r.FP != c.fp {
				t.Errorf("TP %d FN %d FP %d, want %d %d %d", r.TP, r.FN, r.FP, c.tp, c.fn, c.fp)
			}
		})
	}
}

// TestThresholdIsCorpusWide checks that one threshold serves every file:
// the best for the corpus, not each file's best.
func TestThresholdIsCorpusWide(t *testing.T) {
	a := file100(map[int]float64{50: 0.5}) // its window is found only at 0.5
	b := file100(map[int]float64{50: 0.9, 20: 0.5, 21: 0.5, 22: 0.5})
	b.Name = "g.csv"
	r := Score([]File{a, b}, Standard)
	// At 0.9: 1 − 1 = 0. At 0.5: 1 + 1 − 3·0.11 = 1.67: the corpus takes 0.5
	// although b alone would be better at 0.9.
	if r.Threshold != 0.5 || math.Abs(r.Raw-1.67) > 1e-9 {
		t.Fatalf("threshold %g raw %g, want 0.5 and 1.67", r.Threshold, r.Raw)
	}
	if r.Files[1].FP != 3 || r.Files[0].TP != 1 {
		t.Errorf("per file: %+v", r.Files)
	}
	if math.Abs(r.Normalized-100*(1.67+2)/4) > 1e-9 {
		t.Errorf("normalised %g", r.Normalized)
	}
}

// TestScoreMatchesScoreAt checks the sweep against direct scoring at every
// candidate threshold of a pseudo-random corpus.
func TestScoreMatchesScoreAt(t *testing.T) {
	var files []File
	seed := uint64(1)
	rnd := func() float64 {
		seed = seed*6364136223846793005 + 1442695040888963407
		return float64(seed>>11) / (1 << 53)
	}
	for k := range 3 {
		s := make([]float64, 400)
		for i := range s {
			s[i] = math.Round(rnd()*50) / 50
		}
		files = append(files, File{Name: string(rune('a' + k)), Scores: s, Windows: WindowsAround(400, []int{100 + 50*k, 300})})
	}
	for _, p := range Profiles {
		best := Score(files, p)
		for th := 0.0; th <= 1.0001; th += 0.02 {
			if r := ScoreAt(files, p, th); r.Raw > best.Raw+1e-9 {
				t.Errorf("%s: threshold %g scores %g, above the optimum %g at %g", p.Name, th, r.Raw, best.Raw, best.Threshold)
			}
		}
		if again := ScoreAt(files, p, best.Threshold); math.Abs(again.Raw-best.Raw) > 1e-9 {
			t.Errorf("%s: ScoreAt(optimum) = %g, Score = %g", p.Name, again.Raw, best.Raw)
		}
	}
}
