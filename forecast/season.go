package forecast

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Season detection thresholds on the adjusted strength of seasonality
// (see SeasonStrength).
const (
	// SeasonThreshold is the adjusted strength a period needs to be
	// detected.
	SeasonThreshold = 0.3
	// SecondSeasonThreshold is the adjusted strength a longer period needs,
	// measured after the first season is removed, to be added as the second
	// season of a double-seasonal model.
	SecondSeasonThreshold = 0.15
	// DivisorMargin: a period that divides the strongest one and scores
	// within this margin of it becomes the first of two seasons.
	DivisorMargin = 0.15
	// ShortSeasonThreshold replaces SeasonThreshold for a period that fits
	// fewer than three times in the history: two cycles of a random walk
	// can look alike by chance, so only a clear season counts.
	ShortSeasonThreshold = 0.6
	// minDetectCycles is the number of full cycles a period needs in the
	// history to be tested: two, as Holt-Winters needs.
	minDetectCycles = 2
)

// CalendarPeriods are the periods detection always tests: an hour, a day
// and a week.
var CalendarPeriods = []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// PeriodScore is the outcome of testing one seasonal period.
type PeriodScore struct {
	Period   int     `json:"period"`   // in steps
	Strength float64 `json:"strength"` // adjusted strength of seasonality, ≤ 1
	Source   string  `json:"source"`   // "calendar" or "autocorrelation"
}

// SeasonReport is the outcome of DetectSeason.
type SeasonReport struct {
	// Periods holds the detected periods in steps, shortest first: none,
	// one, or two where the longer one is a multiple of the shorter.
	Periods []int `json:"periods"`
	// Tested lists every period tried, with its strength.
	Tested []PeriodScore `json:"tested"`
	// Reason says in words why these periods were chosen.
	Reason string `json:"reason"`
}

// DetectSeason finds the seasonal periods of a series with the given step.
//
// Every period p tested must fit twice in the history and is scored by its
// adjusted strength of seasonality F*(p) (SeasonStrength): about 0 for
// noise, random walks and trends, above 0.5 for a clear daily cycle in minute
// data. A period that fits fewer than three times must reach
// ShortSeasonThreshold rather than SeasonThreshold. The steps:
//
//  1. The calendar periods (1 h, 1 d, 1 w) that are whole numbers of steps
//     are scored. If none reaches SeasonThreshold, the lag of the highest
//     peak of the sample autocorrelation function (computed by FFT,
//     Wiener–Khinchin) is scored as well, to catch a job that runs every 37
//     minutes; calendar periods come first because they are what load
//     follows, and a multi-day lag would otherwise shadow the daily cycle.
//  2. The strongest period passing SeasonThreshold is the main one.
//  3. A longer period contains every shorter period that divides it (a week
//     holds seven days). So if a divisor d of the main period also passes
//     and scores within DivisorMargin of it, d becomes the first season, and
//     the main period the second if, with d's season removed, it still
//     scores SecondSeasonThreshold: that tells a weekly pattern on top of
//     the daily one from the daily one repeated.
//  4. Otherwise a calendar multiple L of the main period that scores
//     SecondSeasonThreshold with the main season removed becomes the second
//     season.
func DetectSeason(values []float64, step time.Duration) SeasonReport {
	var rep SeasonReport
	n := len(values)
	maxPeriod := n / minDetectCycles
	if step <= 0 || maxPeriod < 4 {
		rep.Reason = "history too short to test any period (three cycles of at least 4 steps are needed)"
		return rep
	}
	record := func(series []float64, p int, source string) PeriodScore {
		ps := PeriodScore{Period: p, Strength: SeasonStrength(series, p), Source: source}
		rep.Tested = append(rep.Tested, ps)
		return ps
	}
	var calendar []int
	for _, d := range CalendarPeriods {
		if p := int(d / step); d%step == 0 && p >= 4 && p <= maxPeriod {
			calendar = append(calendar, p)
		}
	}
	threshold := func(p int) float64 {
		if n < 3*p {
			return ShortSeasonThreshold
		}
		return SeasonThreshold
	}
	var passing []PeriodScore
	for _, p := range calendar {
		if ps := record(values, p, "calendar"); ps.Strength >= threshold(p) {
			passing = append(passing, ps)
		}
	}
	if len(passing) == 0 {
		if p := acfPeak(values, maxPeriod); p > 0 {
			if ps := record(values, p, "autocorrelation"); ps.Strength >= threshold(p) {
				passing = append(passing, ps)
			}
		}
	}
	if len(passing) == 0 {
		rep.Reason = fmt.Sprintf("no period reaches the seasonal strength threshold %.2g", SeasonThreshold)
		return rep
	}
	main := passing[0]
	for _, ps := range passing[1:] {
		if ps.Strength > main.Strength {
			main = ps
		}
	}
	divisor := -1
	for i, ps := range passing {
		if ps.Period < main.Period && main.Period%ps.Period == 0 && ps.Strength >= main.Strength-DivisorMargin &&
			(divisor < 0 || ps.Strength > passing[divisor].Strength) {
			divisor = i
		}
	}
	const after = "after removing the first season"
	if divisor >= 0 {
		first := passing[divisor].Period
		rep.Periods = []int{first}
		if record(removeSeason(values, first), main.Period, after).Strength >= SecondSeasonThreshold {
			rep.Periods = append(rep.Periods, main.Period)
		}
	} else {
		rep.Periods = []int{main.Period}
		deseason := removeSeason(values, main.Period)
		best := PeriodScore{}
		for _, p := range calendar {
			if p <= main.Period || p%main.Period != 0 {
				continue
			}
			if ps := record(deseason, p, after); ps.Strength >= SecondSeasonThreshold && ps.Strength > best.Strength {
				best = ps
			}
		}
		if best.Period > 0 {
			rep.Periods = append(rep.Periods, best.Period)
		}
	}
	if len(rep.Periods) == 2 {
		rep.Reason = fmt.Sprintf("periods of %d and %d steps: the longer adds a pattern of its own to the shorter", rep.Periods[0], rep.Periods[1])
	} else {
		rep.Reason = fmt.Sprintf("period of %d steps, strength %.2f", rep.Periods[0], main.Strength)
	}
	return rep
}

// SeasonStrength returns the adjusted strength of seasonality of period p in
// y. With the classical decomposition y = T + S + R (T the centred moving
// average of p, S the mean of y − T at each phase, centred), the strength of
// Wang, Smith & Hyndman (2006, "Characteristic-based clustering for time
// series data", Data Min. Knowl. Discov. 13) is (with a straight-line trend
// when y holds fewer than three cycles)
//
//	F = max(0, 1 − Var(R) / Var(S + R)).
//
// Phase means of K cycles of pure noise still explain about 1/K of the
// variance, so the strength is adjusted to read 0 for noise:
//
//	F* = (F − 1/K) / (1 − 1/K).
//
// It returns 0 when y is shorter than two cycles or holds fewer than one
// and a half cycles of values.
func SeasonStrength(y []float64, p int) float64 {
	if p < 2 || len(y) < 2*p {
		return 0
	}
	trend := seasonTrend(y, p)
	d := make([]float64, len(y))
	phase := make([]float64, p)
	cnt := make([]int, p)
	for t, v := range y {
		d[t] = v - trend[t]
		if isFinite(d[t]) {
			phase[t%p] += d[t]
			cnt[t%p]++
		}
	}
	for j := range phase {
		if cnt[j] > 0 {
			phase[j] /= float64(cnt[j])
		} else {
			phase[j] = math.NaN()
		}
	}
	centre(phase, false)
	var sd, sd2, sr, sr2 float64
	n := 0
	for t, v := range d {
		if !isFinite(v) {
			continue
		}
		r := v - phase[t%p]
		sd += v
		sd2 += v * v
		sr += r
		sr2 += r * r
		n++
	}
	fn := float64(n)
	if fn < 1.5*float64(p) {
		return 0 // too few values for the phase means to mean anything
	}
	varD := sd2/fn - (sd/fn)*(sd/fn)
	varR := sr2/fn - (sr/fn)*(sr/fn)
	if varD <= 0 || !isFinite(varD) {
		return 0
	}
	f := max(0, 1-varR/varD)
	k := fn / float64(p)
	return (f - 1/k) / (1 - 1/k)
}

// seasonTrend returns the trend of the classical decomposition: the centred
// moving average of p, or, with fewer than three cycles (where that average
// would exist only around the middle cycle), the least-squares line.
func seasonTrend(y []float64, p int) []float64 {
	if len(y) >= 3*p {
		return centredMovingAverage(y, p)
	}
	a, b := lineFit(y)
	trend := make([]float64, len(y))
	for t := range trend {
		trend[t] = a + b*float64(t)
	}
	return trend
}

// removeSeason returns y minus its classical seasonal component of period p.
func removeSeason(y []float64, p int) []float64 {
	trend := seasonTrend(y, p)
	phase := make([]float64, p)
	cnt := make([]int, p)
	for t, v := range y {
		if d := v - trend[t]; isFinite(d) {
			phase[t%p] += d
			cnt[t%p]++
		}
	}
	for j := range phase {
		if cnt[j] > 0 {
			phase[j] /= float64(cnt[j])
		}
	}
	centre(phase, false)
	out := make([]float64, len(y))
	for t, v := range y {
		out[t] = v - phase[t%p]
	}
	return out
}

// acfPeak returns the lag in [4, maxLag] of the highest local maximum of the
// sample autocorrelation function of y (gaps filled by linear
// interpolation and a least-squares line removed first) after its first
// negative value, or 0 when there is no positive peak there.
func acfPeak(y []float64, maxLag int) int {
	x := fillLinear(y)
	if x == nil {
		return 0
	}
	a, b := lineFit(x)
	for t := range x {
		x[t] -= a + b*float64(t)
	}
	acf := autocorrelation(x, maxLag+1)
	if acf == nil {
		return 0
	}
	// Skip the decay of short-term correlation: the first peak that counts
	// comes after the function first turns up from below zero.
	k := 1
	for k < maxLag && acf[k] > 0 {
		k++
	}
	best, bestV := 0, 0.0
	for k = max(k, 4); k < maxLag; k++ {
		if acf[k] > acf[k-1] && acf[k] >= acf[k+1] && acf[k] > bestV {
			best, bestV = k, acf[k]
		}
	}
	return best
}

// autocorrelation returns the sample autocorrelation r(0..lags-1) of the
// zero-mean series x, computed as the inverse FFT of the periodogram of x
// zero-padded to a power of two at least 2·len(x), which avoids circular
// wrap-around. It returns nil for a series with no variance.
func autocorrelation(x []float64, lags int) []float64 {
	n := len(x)
	size := 1 << bits.Len(uint(2*n-1))
	fft := fourier.NewFFT(size)
	padded := make([]float64, size)
	copy(padded, x)
	coeff := fft.Coefficients(nil, padded)
	for i, c := range coeff {
		coeff[i] = complex(real(c)*real(c)+imag(c)*imag(c), 0)
	}
	seq := fft.Sequence(nil, coeff)
	if seq[0] <= 0 || !isFinite(seq[0]) {
		return nil
	}
	lags = min(lags, n)
	out := make([]float64, lags)
	for k := range out {
		out[k] = seq[k] / seq[0]
	}
	return out
}

// fillLinear returns a copy of y with its gaps filled by linear
// interpolation (held flat at the ends), or nil when y has no finite value.
// It serves detection only: models never interpolate.
func fillLinear(y []float64) []float64 {
	x := slices.Clone(y)
	prev := -1
	for t, v := range x {
		if !isFinite(v) {
			continue
		}
		switch {
		case prev < 0:
			for i := range t {
				x[i] = v
			}
		case t-prev > 1:
			for i := prev + 1; i < t; i++ {
				w := float64(i-prev) / float64(t-prev)
				x[i] = x[prev] + w*(v-x[prev])
			}
		}
		prev = t
	}
	if prev < 0 {
		return nil
	}
	for i := prev + 1; i < len(x); i++ {
		x[i] = x[prev]
	}
	return x
}
