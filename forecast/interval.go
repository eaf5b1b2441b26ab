package forecast

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

const (
	// maxBandOrigins bounds the in-sample forecast origins the band is
	// estimated from; bandMinOrigins is the fewest that give an empirical
	// band rather than a Gaussian one.
	maxBandOrigins = 300
	minBandOrigins = 30
	// maxScoreOrigins bounds the origins of FitAuto's score.
	maxScoreOrigins = 400
)

// errorBands holds the empirical distribution of the model's in-sample
// h-step errors, from which prediction quantiles are read.
//
// The errors are those of forecasts made, with the fitted parameters, from
// up to maxBandOrigins origins spread over the second half of the history,
// each compared with the values that followed: e = y − ŷ for additive
// seasonality and e = y/ŷ − 1 for multiplicative. Being the model's own
// multi-step errors, they carry whatever the Gaussian assumption misses:
// skew, heavy tails and autocorrelated one-step errors. They are kept at
// roughly log-spaced anchor horizons (1, 2, 3, 4, 6, 8, 12, 16, 24, …, and
// the horizon itself); quantiles between anchors are interpolated linearly,
// which keeps a fit's sorting to a dozen small arrays.
type errorBands struct {
	horizon  int
	relative bool
	anchors  []int       // horizons at which errors are kept, ascending, ending at horizon
	errs     [][]float64 // errs[i]: sorted errors at horizon anchors[i]
	origins  int
	gaussian bool
	// sigma is the standard deviation of the one-step error (relative for
	// multiplicative models); growth[h-1] = v_h/σ² = 1 + Σ_{j<h} c_j², the
	// analytic variance ratio of Hyndman et al. (2008, Table 6.1, class 1),
	// with c_j = α(1 + β*·φ_j) + Σ_k γ_k·[j mod m_k = 0].
	sigma  float64
	growth func(h int) float64
}

// finalPass runs the fitted model over y from its initial state, leaving it
// positioned after the last value, and fills the fit statistics and the
// error bands for horizons up to horizon.
//
// With scoreFrom > 0 it also sets m.score: the mean absolute error of the
// 1..horizon-step forecasts from up to maxScoreOrigins origins spread over
// [scoreFrom, n − 1).
func (m *Model) finalPass(y []float64, horizon, scoreFrom int) *errorBands {
	n := len(y)
	c := &m.coef
	st := &m.state
	b := &errorBands{horizon: horizon, relative: c.mult, anchors: anchorHorizons(horizon)}
	b.errs = make([][]float64, len(b.anchors))

	warm := min(max(m.Spec.longestPeriod(), 1), n/2)
	first := max(warm, n/2)
	last := n - 2
	stride := max(1, (last-first+1+maxBandOrigins-1)/maxBandOrigins)
	phiH := make([]float64, horizon+1)
	lambdaH := make([]float64, horizon+1)
	for h := 1; h <= horizon; h++ {
		phiH[h] = phiSum(c.phi, h)
		lambdaH[h] = math.Pow(c.lambda, float64(h))
	}

	scoreStride := max(1, (n-1-scoreFrom+maxScoreOrigins-1)/maxScoreOrigins)
	var scoreSum float64
	scoreN := 0

	var sse, sseRel float64
	valid := 0
	for t, v := range y {
		yhat := st.step(c, v)
		if e := v - yhat; isFinite(e) {
			sse += e * e
			if yhat != 0 {
				sseRel += (e / yhat) * (e / yhat)
			}
			valid++
		}
		if scoreFrom > 0 && t >= scoreFrom && (t-scoreFrom)%scoreStride == 0 {
			for h := 1; h <= horizon && t+h < n; h++ {
				if actual := y[t+h]; isFinite(actual) {
					if f := st.predict(c, h, phiH[h], lambdaH[h]); isFinite(f) {
						scoreSum += math.Abs(actual - f)
						scoreN++
					}
				}
			}
		}
		if t < first || t > last || (t-first)%stride != 0 {
			continue
		}
		b.origins++
		for i, h := range b.anchors {
			if t+h >= n {
				break
			}
			actual := y[t+h]
			if !isFinite(actual) {
				continue
			}
			f := st.predict(c, h, phiH[h], lambdaH[h])
			switch {
			case !b.relative:
				b.errs[i] = append(b.errs[i], actual-f)
			case f > 0:
				b.errs[i] = append(b.errs[i], actual/f-1)
			}
		}
	}
	for _, e := range b.errs {
		slices.Sort(e)
	}

	k := len(c.params.Gamma) + 1
	if c.beta != 0 {
		k++
	}
	if c.phi != 0 && c.phi != 1 {
		k++
	}
	k += len(m.state.season[0]) * m.state.nSeas // initial states count as estimated
	m.Fit.N = valid
	m.Fit.SSE = sse
	m.Fit.RMSE = math.Sqrt(sse / float64(max(valid, 1)))
	m.Fit.AICc = aicc(sse, valid, k+2)

	dof := float64(max(valid-1, 1))
	if b.relative {
		b.sigma = math.Sqrt(sseRel / dof)
	} else {
		b.sigma = math.Sqrt(sse / dof)
	}
	b.growth = varianceGrowth(c, m.Spec)
	m.score = math.NaN()
	if scoreN > 0 {
		m.score = scoreSum / float64(scoreN)
	}
	b.gaussian = b.origins < minBandOrigins
	return b
}

// aicc is the corrected Akaike information criterion of a fit with k
// estimated parameters and Gaussian errors:
// n·ln(SSE/n) + 2k + 2k(k+1)/(n−k−1) (Hyndman et al. 2008, eq. 7.2–7.3).
func aicc(sse float64, n, k int) float64 {
	if n-k-1 <= 0 || sse <= 0 {
		return math.Inf(1)
	}
	fn, fk := float64(n), float64(k)
	return fn*math.Log(sse/fn) + 2*fk + 2*fk*(fk+1)/(fn-fk-1)
}

// varianceGrowth returns h ↦ v_h/σ² for the additive model of c.
func varianceGrowth(c *coef, spec Spec) func(h int) float64 {
	alpha, beta, phi := c.alpha, c.beta, c.phi
	gamma := c.gamma
	periods := spec.Periods
	if spec.Seasonality == SeasonNone {
		periods = nil
	}
	return func(h int) float64 {
		v := 1.0
		for j := 1; j < h; j++ {
			cj := alpha * (1 + beta*phiSum(phi, j))
			for k, m := range periods {
				if j%m == 0 {
					cj += gamma[k]
				}
			}
			v += cj * cj
		}
		return v
	}
}

// errQuantile returns the q-quantile of the h-step error.
func (b *errorBands) errQuantile(h int, q float64) float64 {
	if b.sigma == 0 && len(b.errs) == 0 {
		return 0 // constant model
	}
	if b.gaussian || h > b.horizon {
		if !b.gaussian && h > b.horizon {
			// Extend the empirical quantile at the horizon as the analytic
			// standard deviation grows.
			return b.empirical(b.horizon, q) * math.Sqrt(b.growth(h)/b.growth(b.horizon))
		}
		return distuv.UnitNormal.Quantile(q) * b.sigma * math.Sqrt(b.growth(h))
	}
	return b.empirical(h, q)
}

// empirical returns the q-quantile of the h-step error, interpolated
// linearly between the anchor horizons around h.
func (b *errorBands) empirical(h int, q float64) float64 {
	i, _ := slices.BinarySearch(b.anchors, h)
	if b.anchors[i] == h || i == 0 {
		return b.anchorQuantile(i, q)
	}
	lo, hi := b.anchors[i-1], b.anchors[i]
	w := float64(h-lo) / float64(hi-lo)
	return (1-w)*b.anchorQuantile(i-1, q) + w*b.anchorQuantile(i, q)
}

// anchorQuantile returns the q-quantile of the sorted errors at the i-th
// anchor, linearly interpolated between order statistics (Hyndman & Fan
// 1996, type 7).
func (b *errorBands) anchorQuantile(i int, q float64) float64 {
	e := b.errs[i]
	if len(e) == 0 {
		h := b.anchors[i]
		return distuv.UnitNormal.Quantile(q) * b.sigma * math.Sqrt(b.growth(h))
	}
	pos := q * float64(len(e)-1)
	j := int(pos)
	if j >= len(e)-1 {
		return e[len(e)-1]
	}
	frac := pos - float64(j)
	return e[j] + frac*(e[j+1]-e[j])
}

// ErrBadQuantile is returned for a quantile outside (0, 1).
var ErrBadQuantile = errors.New("quantile must be between 0 and 1, exclusive")

// Forecast is a point forecast with a prediction band: Mean[i], Lower[i] and
// Upper[i] are for Start + i·Step.
type Forecast struct {
	Start time.Time
	Step  time.Duration
	// Quantile is the quantile of Upper; Lower is the 1 − Quantile one.
	Quantile           float64
	Mean, Lower, Upper []float64
}

// Predict forecasts h steps ahead of the model's last observation with the
// band between the (1−q)- and q-quantiles of the forecast (q = 0.9 gives
// an 80% central band whose upper edge is exceeded one time in ten). The
// band widens with the horizon and never narrows.
func (m *Model) Predict(h int, q float64) (Forecast, error) {
	if !(q > 0 && q < 1) {
		return Forecast{}, fmt.Errorf("quantile %g: %w", q, ErrBadQuantile)
	}
	hi, lo := max(q, 1-q), min(q, 1-q)
	f := Forecast{
		Start: m.Next, Step: m.Step, Quantile: hi,
		Mean: make([]float64, h), Lower: make([]float64, h), Upper: make([]float64, h),
	}
	var up, down float64
	for i := range h {
		step := i + 1
		mean := m.state.predict(&m.coef, step, phiSum(m.coef.phi, step), math.Pow(m.coef.lambda, float64(step)))
		eu, ed := m.bands.errQuantile(step, hi), m.bands.errQuantile(step, lo)
		if i == 0 || eu > up {
			up = eu
		}
		if i == 0 || ed < down {
			down = ed
		}
		f.Mean[i] = mean
		if m.bands.relative {
			f.Upper[i], f.Lower[i] = mean*(1+up), mean*(1+down)
		} else {
			f.Upper[i], f.Lower[i] = mean+up, mean+down
		}
	}
	return f, nil
}

// anchorHorizons returns 1, 2, 3, 4, 6, 8, 12, 16, 24, … (each power of two
// and the midpoint above it) up to and including horizon.
func anchorHorizons(horizon int) []int {
	var out []int
	for p := 1; p < horizon; p *= 2 {
		out = append(out, p)
		if mid := p + p/2; p >= 2 && mid < horizon {
			out = append(out, mid)
		}
	}
	return append(out, horizon)
}
