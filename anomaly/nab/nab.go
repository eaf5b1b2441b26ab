// Package nab scores anomaly detectors with the method of the Numenta
// Anomaly Benchmark (Lavin & Ahmad 2015, "Evaluating Real-time Anomaly
// Detection Algorithms – the Numenta Anomaly Benchmark", IEEE ICMLA; the
// scoring of NAB v1.1, nab/sweeper.py and nab/runner.py):
//
//   - Each labelled anomaly gets a window of rows around it; a detector
//     should flag each window once, early.
//   - The first rows of each file (the probationary period, min(⌊0.15·n⌋,
//     750)) are for learning: detections there are ignored.
//   - A detection at row i inside a window [l, r] earns
//     A_TP·σ(−(r − i + 1)/(r − l + 1))/σ(−1), where σ is the scaled sigmoid
//     σ(x) = 2/(1 + e^{5x}) − 1: A_TP for a detection at the window's
//     start, falling to ≈ 0 at its end. Only the best (earliest) detection
//     of a window counts; a window without one costs A_FN.
//   - A detection outside every window costs A_FP·σ(x) (σ < 0 there), x
//     being its distance past the end of the previous window in that
//     window's widths, (i − r_prev)/(w_prev − 1), or 3 (σ = −1) when no
//     window precedes it: a detection just after a window is nearly free,
//     one far from any costs the full A_FP.
//   - A row is a detection when its score is at least the threshold; the
//     threshold is the one that maximises the raw score over the whole
//     corpus, for each cost profile separately.
//   - The normalised score is 100·(S − S_null)/(S_perfect − S_null), where
//     the null detector flags nothing (S_null = −A_FN per window) and the
//     perfect one flags every window at its start (S_perfect = A_TP per
//     window).
package nab

import (
	"cmp"
	"math"
	"slices"
)

// Profile is a NAB cost profile: the weights of a true positive, a false
// positive and a false negative.
type Profile struct {
	Name       string
	TP, FP, FN float64
}

// The three profiles of NAB's config/profiles.json.
var (
	Standard = Profile{Name: "standard", TP: 1, FP: 0.11, FN: 1}
	LowFP    = Profile{Name: "reward_low_FP_rate", TP: 1, FP: 0.22, FN: 1}
	LowFN    = Profile{Name: "reward_low_FN_rate", TP: 1, FP: 0.11, FN: 2}
	Profiles = []Profile{Standard, LowFP, LowFN}
)

// Window is an anomaly window over the rows of a file, both ends
// included, as NAB's windows are between two timestamps inclusive.
type Window struct{ Start, End int }

// File is one scored series: a detector's score of each row (any
// monotonic scale; NAB's detectors report [0, 1]) and its labelled
// windows, sorted and disjoint.
type File struct {
	Name    string
	Scores  []float64
	Windows []Window
}

// Probation returns the length of the probationary period of a file of n
// rows: min(⌊0.15·n⌋, 750).
func Probation(n int) int {
	return min(int(math.Floor(0.15*float64(n))), 750)
}

// WindowsAround returns NAB's windows around labelled rows of a file of n
// rows (nab/labeler.py): each window is ⌊0.1·n/k⌋ rows wide for k labels,
// centred on its label and clipped to the file, and overlapping windows
// are merged.
func WindowsAround(n int, labels []int) []Window {
	if len(labels) == 0 || n <= 0 {
		return nil
	}
	width := int(0.1 * float64(n) / float64(len(labels)))
	sorted := slices.Clone(labels)
	slices.Sort(sorted)
	var out []Window
	for _, l := range sorted {
		w := Window{Start: max(l-width/2, 0), End: min(l+width/2, n-1)}
		if w.Start > w.End {
			continue
		}
		if k := len(out) - 1; k >= 0 && w.Start <= out[k].End {
			out[k].End = max(out[k].End, w.End)
			continue
		}
		out = append(out, w)
	}
	return out
}

// scaledSigmoid is NAB's σ(x) = 2/(1 + e^{5x}) − 1, and −1 from x = 3 on.
func scaledSigmoid(x float64) float64 {
	if x >= 3 {
		return -1
	}
	return 2/(1+math.Exp(5*x)) - 1
}

// point is one scorable row: its score, the weighted reward or cost of a
// detection there, and its window (a corpus-wide index) or −1.
type point struct {
	score  float64
	weight float64
	window int
}

// sweep returns the scorable rows of f (after its probationary period),
// with window indices starting at base, and the number of windows that
// have scorable rows, each marked in counted.
func sweep(f File, p Profile, base int, counted map[int]bool) []point {
	n := len(f.Scores)
	prob := Probation(n)
	maxTP := scaledSigmoid(-1)
	pts := make([]point, 0, max(n-prob, 0))
	w := 0
	prevEnd, prevWidth := -1, 0
	for i, s := range f.Scores {
		for w < len(f.Windows) && f.Windows[w].End < i {
			prevEnd, prevWidth = f.Windows[w].End, f.Windows[w].End-f.Windows[w].Start+1
			w++
		}
		var pt point
		if w < len(f.Windows) && i >= f.Windows[w].Start {
			win := f.Windows[w]
			width := float64(win.End - win.Start + 1)
			pt = point{weight: scaledSigmoid(-float64(win.End-i+1)/width) * p.TP / maxTP, window: base + w}
		} else {
			x := 3.0
			if prevEnd >= 0 && prevWidth > 1 {
				x = float64(i-prevEnd) / float64(prevWidth-1)
			}
			pt = point{weight: scaledSigmoid(x) * p.FP, window: -1}
		}
		if i < prob {
			continue
		}
		pt.score = s
		if math.IsNaN(pt.score) {
			pt.score = math.Inf(-1)
		}
		if pt.window >= 0 {
			counted[pt.window] = true
		}
		pts = append(pts, pt)
	}
	return pts
}

// Result is a detector's score on a corpus under one profile.
type Result struct {
	Profile Profile
	// Threshold is the score at or above which a row counts as a
	// detection; +Inf when flagging nothing scores best.
	Threshold float64
	// Raw is the sum of the rewards and costs; Null and Perfect are those
	// of the null and the perfect detector.
	Raw, Null, Perfect float64
	// Normalized is 100·(Raw − Null)/(Perfect − Null).
	Normalized float64
	// Windows detected (TP) and missed (FN), and detections outside every
	// window (FP).
	TP, FN, FP int
	// Files holds the raw score of each file at the threshold.
	Files []FileResult
}

// FileResult is one file's share of a Result.
type FileResult struct {
	Name       string
	Raw        float64
	TP, FN, FP int
}

// Score scores the files under profile p at the threshold that maximises
// the corpus's raw score. It considers every distinct score as the
// threshold, exactly, by sweeping the rows from the highest score down.
func Score(files []File, p Profile) Result {
	var pts []point
	counted := map[int]bool{}
	windows := 0
	for _, f := range files {
		pts = append(pts, sweep(f, p, windows, counted)...)
		windows += len(f.Windows)
	}
	null := -p.FN * float64(len(counted))
	best, bestT := null, math.Inf(1)
	slices.SortFunc(pts, func(a, b point) int { return cmp.Compare(b.score, a.score) })
	part := make([]float64, windows)
	for w := range part {
		part[w] = -p.FN
	}
	raw := null
	for i := 0; i < len(pts); {
		s := pts[i].score
		if math.IsInf(s, -1) {
			break // NaN scores never detect
		}
		for ; i < len(pts) && pts[i].score == s; i++ {
			pt := pts[i]
			if pt.window < 0 {
				raw += pt.weight
				continue
			}
			if pt.weight > part[pt.window] {
				raw += pt.weight - part[pt.window]
				part[pt.window] = pt.weight
			}
		}
		if raw > best {
			best, bestT = raw, s
		}
	}
	return ScoreAt(files, p, bestT)
}

// ScoreAt scores the files under profile p at a given threshold. The
// perfect score counts every window, also one inside a probationary period
// (NAB counts every label).
func ScoreAt(files []File, p Profile, threshold float64) Result {
	r := Result{Profile: p, Threshold: threshold}
	counted := map[int]bool{}
	base := 0
	for _, f := range files {
		fr := FileResult{Name: f.Name}
		pts := sweep(f, p, base, counted)
		best := map[int]float64{}
		for _, pt := range pts {
			if !(pt.score >= threshold) {
				continue
			}
			if pt.window < 0 {
				fr.Raw += pt.weight
				fr.FP++
				continue
			}
			if b, ok := best[pt.window]; !ok || pt.weight > b {
				best[pt.window] = pt.weight
			}
		}
		for w := base; w < base+len(f.Windows); w++ {
			if !counted[w] {
				continue
			}
			if b, ok := best[w]; ok {
				fr.Raw += b
				fr.TP++
			} else {
				fr.Raw -= p.FN
				fr.FN++
			}
		}
		base += len(f.Windows)
		r.Raw += fr.Raw
		r.TP += fr.TP
		r.FN += fr.FN
		r.FP += fr.FP
		r.Files = append(r.Files, fr)
	}
	r.Null = -p.FN * float64(len(counted))
	r.Perfect = p.TP * float64(base)
	if d := r.Perfect - r.Null; d > 0 {
		r.Normalized = 100 * (r.Raw - r.Null) / d
	}
	return r
}
