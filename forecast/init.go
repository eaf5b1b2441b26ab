package forecast

import "math"

// scoreCycles bounds the cycles of the longest period that FitAuto keeps
// for estimating initial states before the forecasts it scores.
const scoreCycles = 4

// initCyclesFor returns the number of cycles of period m that FitAuto's
// candidates estimate their initial state from, in an n-step history: at
// most scoreCycles, at least two, and otherwise one fewer than the history
// holds, so that at least one cycle is left to score forecasts on that the
// initial state has not seen.
func initCyclesFor(n, m int) int {
	return max(2, min(n/m-1, scoreCycles))
}

// initPoints is the number of leading values a non-seasonal model's initial
// level and slope are estimated from.
const initPoints = 24

// initialState returns the starting state of spec for the history y by a
// classical decomposition of its first cycles (Hyndman et al. 2008, §2.6.1,
// extended to more cycles and to gaps):
//
//  1. The trend T_t is the centred moving average of the longest period m
//     (a 2×m average when m is even) over the full cycles of y; missing
//     values are left out of each average.
//  2. The seasonal index of phase j is the mean of y_t − T_t (y_t / T_t for
//     multiplicative seasonality) over the t ≡ j (mod m) where T_t exists;
//     phases with no value at all (an outage excluded from every cycle
//     seen) are interpolated linearly from the phases around them, along
//     the cycle. The indices are then centred on 0 (on 1). With two periods m₁ | m₂, the m₁ component
//     is the mean of the m₂ pattern over phases j ≡ i (mod m₁), and the m₂
//     component what is left.
//  3. Level and slope come from a least-squares line a + b·t through T_t:
//     with a trend, b₀ = b and ℓ₀ = a − b, the line one step before the
//     first value; without one, ℓ₀ = a.
//
// A non-seasonal model takes the line through its first initPoints values.
// The caller guarantees at least two full cycles of the longest period.
func initialState(spec Spec, y []float64) State {
	mult := spec.Seasonality == SeasonMultiplicative
	m := spec.longestPeriod()
	var st State
	var a, b float64
	if m == 0 {
		n := min(len(y), initPoints)
		a, b = lineFit(y[:n])
	} else {
		w := y[:len(y)/m*m]
		trend := centredMovingAverage(w, m)
		pattern := make([]float64, m)
		count := make([]int, m)
		for t, v := range w {
			tr := trend[t]
			if !isFinite(v) || math.IsNaN(tr) || mult && tr <= 0 {
				continue
			}
			if mult {
				pattern[t%m] += v / tr
			} else {
				pattern[t%m] += v - tr
			}
			count[t%m]++
		}
		for j := range pattern {
			if count[j] > 0 {
				pattern[j] /= float64(count[j])
			} else {
				pattern[j] = math.NaN()
			}
		}
		interpolateCircular(pattern)
		centre(pattern, mult)
		pattern = smoothCircular(pattern, smoothWidth(m))
		if len(spec.Periods) == 2 {
			short := foldPattern(pattern, spec.Periods[0], mult)
			for j := range pattern {
				if mult {
					pattern[j] /= short[j%len(short)]
				} else {
					pattern[j] -= short[j%len(short)]
				}
			}
			centre(pattern, mult)
			st.Season = [][]float64{short, pattern}
		} else {
			st.Season = [][]float64{pattern}
		}
		a, b = lineFit(trend)
		if math.IsNaN(a) {
			a, b = meanFinite(y), 0
		}
	}
	if math.IsNaN(a) {
		a, b = meanFinite(y), 0
	}
	st.Level = a
	if spec.Trend != TrendNone {
		st.Level, st.Slope = a-b, b
	}
	return st
}

// centredMovingAverage returns the centred moving average of y with window
// m, NaN where the window reaches past y or holds fewer than half its
// weight in finite values. For even m it is the 2×m average, whose end
// points weigh one half, so that it is centred on a sample.
func centredMovingAverage(y []float64, m int) []float64 {
	n := len(y)
	// Prefix sums of the finite values and their count, accumulated in
	// registers (through the arrays, each step would wait on the store of
	// the one before); x − x = 0 tests for a finite value.
	sum, cnt := scratch(n+1), scratch(n+1)
	defer release(sum, cnt)
	var total, count float64
	sum[0], cnt[0] = 0, 0
	for i, v := range y {
		if v-v == 0 {
			total += v
			count++
		}
		sum[i+1], cnt[i+1] = total, count
	}
	out := make([]float64, n)
	nan := math.NaN()
	for t := range out {
		out[t] = nan
	}
	h := m / 2
	half := float64(m) / 2
	for t := h; t+h < n; t++ {
		var s, w float64
		if m%2 == 1 {
			s, w = sum[t+h+1]-sum[t-h], cnt[t+h+1]-cnt[t-h]
		} else {
			s, w = sum[t+h]-sum[t-h+1], cnt[t+h]-cnt[t-h+1]
			if v := y[t-h]; v-v == 0 {
				s += v / 2
				w += 0.5
			}
			if v := y[t+h]; v-v == 0 {
				s += v / 2
				w += 0.5
			}
		}
		if w >= half {
			out[t] = s / w
		}
	}
	return out
}

// foldPattern averages a pattern of length m₂ over the phases of a shorter
// period m₁ that divides it, and centres the result.
func foldPattern(pattern []float64, m1 int, mult bool) []float64 {
	out := make([]float64, m1)
	cnt := make([]int, m1)
	for i, v := range pattern {
		out[i%m1] += v
		cnt[i%m1]++
	}
	for j := range out {
		out[j] /= float64(cnt[j])
	}
	centre(out, mult)
	return out
}

// centre replaces NaN components by the neutral value and shifts (scales)
// the rest to average 0 (1).
func centre(s []float64, mult bool) {
	neutral := 0.0
	if mult {
		neutral = 1
	}
	var sum float64
	n := 0
	for _, v := range s {
		if !math.IsNaN(v) {
			sum += v
			n++
		}
	}
	mean := neutral
	if n > 0 {
		mean = sum / float64(n)
	}
	for j, v := range s {
		switch {
		case math.IsNaN(v):
			s[j] = neutral
		case mult && mean > 0:
			s[j] = v / mean
		case !mult:
			s[j] = v - mean
		}
	}
}

// lineFit returns the least-squares line a + b·t through the finite values
// of y (t = 0, 1, …), or NaN when there are none. One value gives slope 0.
func lineFit(y []float64) (a, b float64) {
	var n, st, sy, stt, sty float64
	for t, v := range y {
		if !isFinite(v) {
			continue
		}
		ft := float64(t)
		n++
		st += ft
		sy += v
		stt += ft * ft
		sty += ft * v
	}
	switch n {
	case 0:
		return math.NaN(), math.NaN()
	case 1:
		return sy, 0
	}
	den := n*stt - st*st
	if den == 0 {
		return sy / n, 0
	}
	b = (n*sty - st*sy) / den
	a = (sy - b*st) / n
	return a, b
}

// meanFinite returns the mean of the finite values of y, or NaN.
func meanFinite(y []float64) float64 {
	var s float64
	n := 0
	for _, v := range y {
		if isFinite(v) {
			s += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

var smoothDiv = 0

func smoothWidth(m int) int {
	if smoothDiv == 0 {
		return 1
	}
	return max(1, m/smoothDiv) | 1
}

// smoothCircular returns the circular moving average of s with an odd window w.
func smoothCircular(s []float64, w int) []float64 {
	if w <= 1 {
		return s
	}
	n := len(s)
	out := make([]float64, n)
	h := w / 2
	var sum float64
	for i := -h; i <= h; i++ {
		sum += s[(i+n)%n]
	}
	for j := range n {
		out[j] = sum / float64(w)
		sum += s[(j+h+1)%n] - s[(j-h+n)%n]
	}
	return out
}

// interpolateCircular fills the NaN runs of a cyclic pattern by linear
// interpolation between the finite values around them, wrapping around the
// end. A pattern with no finite value is left as it is.
func interpolateCircular(s []float64) {
	n := len(s)
	first := -1
	for j, v := range s {
		if !math.IsNaN(v) {
			first = j
			break
		}
	}
	if first < 0 {
		return
	}
	prev := first
	for k := 1; k <= n; k++ {
		j := (first + k) % n
		if math.IsNaN(s[j]) {
			continue
		}
		gap := (j - prev + n) % n
		if gap == 0 {
			gap = n
		}
		for i := 1; i < gap; i++ {
			w := float64(i) / float64(gap)
			s[(prev+i)%n] = s[prev] + w*(s[j]-s[prev])
		}
		prev = j
	}
}
