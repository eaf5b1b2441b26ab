package forecast

// Defaults of anomaly rejection.
const (
	// AnomalyK is how many robust standard deviations of the one-step error
	// make a point an anomaly; AnomalyMinRelative is how far, as a share of
	// the prediction, it must also be: a collapse to near zero, a surge to
	// one and a half times the load. The floor keeps a weekday pattern on a
	// weekend, a few standard deviations off for hours, from counting.
	AnomalyK           = 5.0
	AnomalyMinRelative = 0.5
)

// Anomalies returns, for each value of y (the history the model was fitted
// on, from its start), whether the model finds it wildly off: an outage's
// collapse, a retry storm, a flash crowd. Use a model fitted for its
// one-step error (Fit, not a smooth-level variant): the test is on the
// one-step error.
//
// It follows robust Holt-Winters (Gelper, Fried & Croux 2010, "Robust
// forecasting with exponential and Holt-Winters smoothing", J. Forecasting
// 29(3)) with a hard rejection in place of their Huber cleaning: running
// the model's recurrences from its initial state, a value whose one-step
// error e_t exceeds both AnomalyK·σ_{t−1} and AnomalyMinRelative·|ŷ_t| is
// treated as missing, so the state
// carries on from its prediction and the next values of an outage stay far
// from it and are rejected too. The scale follows their recursive τ-scale,
// which adapts to a load whose noise grows with it:
//
//	σ²_t = λσ·ρ(e_t/σ_{t−1})·σ²_{t−1} + (1 − λσ)·σ²_{t−1},
//
// with the bounded biweight ρ(x) = c·(1 − (1 − (x/2)²)³) for |x| ≤ 2, c
// beyond (c = 2.52, consistent at the normal), λσ = 0.1, started at 1.4826
// times the median absolute one-step error. A run of more than maxRun
// rejections is a change, not an anomaly: the run is taken back and its
// values accepted, so that the state follows the new level; gaps within a
// run neither end it nor count toward maxRun, and are replayed with it so
// that the season keeps its phase. maxRun ≤ 0 means an eighth of the
// longest season, or 60 steps without one.
func (m *Model) Anomalies(y []float64, maxRun int) []bool {
	flags := make([]bool, len(y))
	f, ok := m.rejectFilter(y, maxRun)
	if !ok {
		return flags
	}
	for t, v := range y {
		_, rejected, back := f.step(v)
		flags[t] = rejected
		clear(flags[t-back : t])
	}
	return flags
}

// nthSmallest returns the k-th smallest (from 0) of x, which must hold no
// NaN, reordering x: the value slices.Sort would put at x[k], found by
// Hoare's selection (quickselect, median-of-three pivots) in O(n) expected
// time instead of a sort's O(n log n).
func nthSmallest(x []float64, k int) float64 {
	lo, hi := 0, len(x)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Median of three as the pivot, so that sorted input stays linear.
		if x[mid] < x[lo] {
			x[mid], x[lo] = x[lo], x[mid]
		}
		if x[hi] < x[lo] {
			x[hi], x[lo] = x[lo], x[hi]
		}
		if x[hi] < x[mid] {
			x[hi], x[mid] = x[mid], x[hi]
		}
		pivot := x[mid]
		i, j := lo, hi
		for i <= j {
			for x[i] < pivot {
				i++
			}
			for pivot < x[j] {
				j--
			}
			if i <= j {
				x[i], x[j] = x[j], x[i]
				i++
				j--
			}
		}
		// Now x[lo..j] ≤ pivot ≤ x[i..hi], and x[j+1..i−1] equal the pivot.
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return x[k]
		}
	}
	return x[k]
}
