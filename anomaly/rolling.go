package anomaly

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/foresight-aiops/foresight/forecast"
)

// Detector scores the values of one series in time order. Next scores a
// value from what the detector has seen before it (never from the value
// itself), then learns from it; NaN is a missing value, scored NaN and not
// learnt. Fit replaces what the detector has learnt with a history, the
// values just before the next one Next will see. A Detector is not safe
// for concurrent use.
type Detector interface {
	Fit(history forecast.Series) error
	Next(y float64) Estimate
}

// ring is a fixed-size window over the latest finite values, with their
// running mean and sum of squared deviations and, when sorted is set, a
// sorted copy for order statistics.
type ring struct {
	buf        []float64
	head, n    int
	mean, m2   float64
	keepSorted bool
	sorted     []float64
	updates    int
}

func newRing(size int, keepSorted bool) *ring {
	r := &ring{buf: make([]float64, size), keepSorted: keepSorted}
	if keepSorted {
		r.sorted = make([]float64, 0, size)
	}
	return r
}

func (r *ring) reset() {
	r.head, r.n, r.mean, r.m2, r.updates = 0, 0, 0, 0, 0
	r.sorted = r.sorted[:0]
}

// push adds v, dropping the oldest value when the window is full. The mean
// and M2 follow Welford's updates for adding and removing a value (Welford
// 1962, "Note on a method for calculating corrected sums of squares and
// products", Technometrics 4(3)):
//
//	add x:    n ← n+1, δ = x − μ, μ ← μ + δ/n, M2 ← M2 + δ·(x − μ)
//	remove x: n ← n−1, δ = x − μ, μ ← μ − δ/n, M2 ← M2 − δ·(x − μ)
//
// Removal accumulates rounding error, so both are recomputed from the
// window every len(window) updates.
func (r *ring) push(v float64) {
	size := len(r.buf)
	if r.n == size {
		old := r.buf[r.head]
		r.n--
		if r.n == 0 {
			r.mean, r.m2 = 0, 0
		} else {
			d := old - r.mean
			r.mean -= d / float64(r.n)
			r.m2 -= d * (old - r.mean)
		}
		if r.keepSorted {
			i := sort.SearchFloat64s(r.sorted, old)
			r.sorted = slices.Delete(r.sorted, i, i+1)
		}
	}
	r.buf[r.head] = v
	r.head = (r.head + 1) % size
	r.n++
	d := v - r.mean
	r.mean += d / float64(r.n)
	r.m2 += d * (v - r.mean)
	if r.keepSorted {
		i := sort.SearchFloat64s(r.sorted, v)
		r.sorted = slices.Insert(r.sorted, i, v)
	}
	r.updates++
	if r.updates >= size {
		r.recompute()
	}
}

func (r *ring) recompute() {
	r.updates = 0
	var sum float64
	for i := range r.n {
		sum += r.at(i)
	}
	r.mean = sum / float64(r.n)
	r.m2 = 0
	for i := range r.n {
		d := r.at(i) - r.mean
		r.m2 += d * d
	}
}

// at returns the i-th oldest value.
func (r *ring) at(i int) float64 {
	size := len(r.buf)
	return r.buf[(r.head-r.n+i+2*size)%size]
}

func (r *ring) std() float64 {
	if r.n < 2 {
		return 0
	}
	return math.Sqrt(math.Max(r.m2, 0) / float64(r.n-1))
}

// quantile returns the q-quantile of the window by linear interpolation
// between order statistics (Hyndman & Fan 1996, definition 7, as numpy's
// default).
func (r *ring) quantile(q float64) float64 {
	return quantileSorted(r.sorted, q)
}

func quantileSorted(s []float64, q float64) float64 {
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	h := q * float64(n-1)
	i := int(math.Floor(h))
	if i >= n-1 {
		return s[n-1]
	}
	return s[i] + (h-float64(i))*(s[i+1]-s[i])
}

// fill replaces the window's content with the last finite values of y.
func (r *ring) fill(y []float64) {
	r.reset()
	start := len(y)
	for k := 0; start > 0 && k < len(r.buf); {
		start--
		if finite(y[start]) {
			k++
		}
	}
	for _, v := range y[start:] {
		if finite(v) {
			r.push(v)
		}
	}
}

// RollingConfig are the parameters of the rolling detectors.
type RollingConfig struct {
	// Window is the number of latest values the baseline is computed
	// from; 0 means 60.
	Window int
	// MinPoints is how many values the window needs before the detector
	// scores (until then scores are 0 and yhat is NaN); 0 means half the
	// window, at least 2.
	MinPoints int
	// Threshold is the band's half-width in standard deviations: z for
	// ZScore (0 means 3), k for MAD (0 means 3).
	Threshold float64
	// Quantile is RollingQuantile's upper quantile, the lower one being
	// 1 − Quantile; 0 means 0.99.
	Quantile float64
	Options
}

func (c RollingConfig) withDefaults() RollingConfig {
	if c.Window <= 0 {
		c.Window = 60
	}
	if c.MinPoints <= 0 {
		c.MinPoints = max(c.Window/2, 2)
	}
	c.MinPoints = min(c.MinPoints, c.Window)
	if c.Threshold == 0 {
		c.Threshold = 3
	}
	if c.Quantile == 0 {
		c.Quantile = 0.99
	}
	return c
}

func (c RollingConfig) validate() error {
	if err := c.Validate(); err != nil {
		return err
	}
	if !(c.Threshold > 0) || math.IsInf(c.Threshold, 0) {
		return fmt.Errorf("%w: threshold %g must be a positive number", ErrBadOption, c.Threshold)
	}
	if !(c.Quantile > 0.5 && c.Quantile < 1) {
		return fmt.Errorf("%w: quantile %g must be in (0.5, 1)", ErrBadOption, c.Quantile)
	}
	return nil
}

// ZScore is the rolling z-score: over the last W values, with mean μ and
// sample standard deviation σ,
//
//	yhat = μ,  band = μ ± z·σ,  so that (inside the floors) score = |y − μ|/(z·σ) = |z-score|/z
//
// A value that scores above 1 enters the window clipped to the band's
// edge (winsorised) rather than as it is, so that an anomaly does not
// inflate σ and hide itself and the ones after it (the baseline
// contamination of a plain rolling z-score), while a lasting change of
// level still moves the mean, a band's width per step, until the window
// has followed it.
//
// σ is floored at the data's resolution, the smallest non-zero change
// between consecutive values seen, so that a window of identical values (a
// quantised gauge at rest) does not make a band of zero width.
type ZScore struct {
	cfg RollingConfig
	win *ring
	// last is the previous finite value; resolution the smallest non-zero
	// change between consecutive values seen, which floors σ.
	last, resolution float64
}

// NewZScore returns a rolling z-score detector.
func NewZScore(cfg RollingConfig) (*ZScore, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &ZScore{cfg: cfg, win: newRing(cfg.Window, false)}, nil
}

// Fit starts afresh and streams the history through Next, so that the
// window holds the last values as Next would have left them (past
// anomalies clipped, not raw: a refit must not let them back into the
// baseline) and the resolution is that of the whole history.
func (z *ZScore) Fit(history forecast.Series) error {
	z.win.reset()
	z.last, z.resolution = 0, 0
	for _, v := range history.Values {
		if finite(v) {
			z.Next(v)
		}
	}
	return nil
}

// Next scores y, then adds it to the window.
func (z *ZScore) Next(y float64) Estimate {
	yhat := math.NaN()
	var half float64
	if z.win.n >= z.cfg.MinPoints {
		yhat = z.win.mean
		half = z.cfg.Threshold * math.Max(z.win.std(), z.resolution)
	}
	e := z.cfg.Score(y, yhat, yhat-half, yhat+half)
	if finite(y) {
		v := y
		if finite(yhat) {
			v = math.Min(math.Max(y, e.Lower), e.Upper)
		}
		z.win.push(v)
		if d := math.Abs(y - z.last); d > 0 && z.win.n > 1 && (z.resolution == 0 || d < z.resolution) {
			z.resolution = d
		}
		z.last = y
	}
	return e
}

// MAD is the rolling median and median absolute deviation, the robust
// counterpart of ZScore (Hampel 1974; Leys et al. 2013, "Detecting
// outliers: Do not use standard deviation around the mean, use absolute
// deviation around the median", J. Exp. Soc. Psychol. 49(4)): over the
// last W values, with median m,
//
//	yhat = m,  σ̂ = 1.4826·median(|x_i − m|),  band = m ± k·σ̂
//
// 1.4826 = 1/Φ⁻¹(3/4) makes σ̂ consistent with σ for normal data. Half the
// window must be anomalous before the median moves, so no clipping is
// needed. When more than half the window equals its median (a quantised
// gauge) the MAD is 0; the smallest non-zero deviation, the data's
// resolution, stands in for it, so that the usual one-step changes of such
// a series do not score in the millions.
type MAD struct {
	cfg     RollingConfig
	win     *ring
	scratch []float64
}

// NewMAD returns a rolling median/MAD detector.
func NewMAD(cfg RollingConfig) (*MAD, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &MAD{cfg: cfg, win: newRing(cfg.Window, true), scratch: make([]float64, 0, cfg.Window)}, nil
}

// Fit fills the window with the last values of the history.
func (m *MAD) Fit(history forecast.Series) error {
	m.win.fill(history.Values)
	return nil
}

// madConsistency is 1/Φ⁻¹(3/4).
const madConsistency = 1.482602218505602

// Next scores y, then adds it to the window.
func (m *MAD) Next(y float64) Estimate {
	yhat := math.NaN()
	var half float64
	if m.win.n >= m.cfg.MinPoints {
		yhat = m.win.quantile(0.5)
		m.scratch = m.scratch[:0]
		for _, v := range m.win.sorted {
			m.scratch = append(m.scratch, math.Abs(v-yhat))
		}
		slices.Sort(m.scratch)
		mad := quantileSorted(m.scratch, 0.5)
		if mad == 0 {
			// More than half the window equals its median: a quantised
			// series. Take the data's resolution, the smallest non-zero
			// deviation, rather than a band of zero width.
			if i, found := slices.BinarySearchFunc(m.scratch, 0.0, func(a, b float64) int {
				if a <= b {
					return -1
				}
				return 1
			}); !found && i < len(m.scratch) {
				mad = m.scratch[i]
			}
		}
		half = m.cfg.Threshold * madConsistency * mad
	}
	e := m.cfg.Score(y, yhat, yhat-half, yhat+half)
	if finite(y) {
		m.win.push(y)
	}
	return e
}

// RollingQuantile predicts the median of the last W values and expects
// them between their (1−q)- and q-quantiles (interpolated as numpy's
// default, Hyndman & Fan 1996 definition 7):
//
//	yhat = Q(0.5),  band = [Q(1−q), Q(q)]
//
// The band follows the data's own skew (latency, say) without assuming a
// distribution.
type RollingQuantile struct {
	cfg RollingConfig
	win *ring
}

// NewRollingQuantile returns a rolling quantile detector.
func NewRollingQuantile(cfg RollingConfig) (*RollingQuantile, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &RollingQuantile{cfg: cfg, win: newRing(cfg.Window, true)}, nil
}

// Fit fills the window with the last values of the history.
func (r *RollingQuantile) Fit(history forecast.Series) error {
	r.win.fill(history.Values)
	return nil
}

// Next scores y, then adds it to the window.
func (r *RollingQuantile) Next(y float64) Estimate {
	yhat, lo, hi := math.NaN(), math.NaN(), math.NaN()
	if r.win.n >= r.cfg.MinPoints {
		yhat = r.win.quantile(0.5)
		lo, hi = r.win.quantile(1-r.cfg.Quantile), r.win.quantile(r.cfg.Quantile)
	}
	e := r.cfg.Score(y, yhat, lo, hi)
	if finite(y) {
		r.win.push(y)
	}
	return e
}
