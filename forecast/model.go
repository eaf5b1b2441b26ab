package forecast

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Trend is the trend component of a Holt-Winters model, in the taxonomy of
// Hyndman et al. (2008), "Forecasting with Exponential Smoothing: The State
// Space Approach", Springer, Table 2.1.
type Trend uint8

// Trend components.
const (
	TrendNone     Trend = iota // N: no trend
	TrendAdditive              // A: additive (linear) trend
	TrendDamped                // Ad: additive trend damped by φ
)

func (t Trend) String() string {
	switch t {
	case TrendNone:
		return "N"
	case TrendAdditive:
		return "A"
	case TrendDamped:
		return "Ad"
	}
	return "Trend(" + strconv.Itoa(int(t)) + ")"
}

// Seasonality is the seasonal component of a Holt-Winters model.
type Seasonality uint8

// Seasonal components.
const (
	SeasonNone           Seasonality = iota // N: no season
	SeasonAdditive                          // A: the season adds to the level
	SeasonMultiplicative                    // M: the season multiplies the level
)

func (s Seasonality) String() string {
	switch s {
	case SeasonNone:
		return "N"
	case SeasonAdditive:
		return "A"
	case SeasonMultiplicative:
		return "M"
	}
	return "Seasonality(" + strconv.Itoa(int(s)) + ")"
}

// Spec names one Holt-Winters model: its trend, its seasonality and its
// seasonal periods, in steps. One period gives the classical Holt-Winters
// model; two give Taylor's double-seasonal variant (Taylor 2003), such as a
// daily and a weekly cycle, where the longer period must be a multiple of the
// shorter one.
//
// AR adds Taylor's (2003, §3.2) first-order autoregressive adjustment of the
// one-step residual r_t = y_t − ŷ_{t|t−1}: the h-step forecast becomes
// ŷ_{t+h|t} + λʰ·r_t. On minute-level operational data the residuals of the
// smoothing recurrences are strongly autocorrelated; without the adjustment
// the one-step criterion chases them with α near 1, which leaves the level
// carrying the latest noise into every longer forecast.
type Spec struct {
	Trend       Trend
	Seasonality Seasonality
	Periods     []int
	AR          bool
}

// String gives the model in the (trend, season) notation of Hyndman et al.
// followed by the periods, e.g. "(Ad,A) m=1440" or "(N,N)".
func (s Spec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "(%s,%s)", s.Trend, s.Seasonality)
	if s.Seasonality != SeasonNone {
		b.WriteString(" m=")
		for i, p := range s.Periods {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(p))
		}
	}
	if s.AR {
		b.WriteString(" +AR(1)")
	}
	return b.String()
}

// ErrBadSpec is returned for a Spec that names no valid model.
var ErrBadSpec = errors.New("invalid model specification")

// Validate reports whether s names a model this package implements.
func (s Spec) Validate() error {
	if s.Trend > TrendDamped {
		return fmt.Errorf("%w: unknown trend %d", ErrBadSpec, s.Trend)
	}
	switch s.Seasonality {
	case SeasonNone:
		if len(s.Periods) != 0 {
			return fmt.Errorf("%w: periods %v given without a seasonality", ErrBadSpec, s.Periods)
		}
		return nil
	case SeasonAdditive, SeasonMultiplicative:
	default:
		return fmt.Errorf("%w: unknown seasonality %d", ErrBadSpec, s.Seasonality)
	}
	switch len(s.Periods) {
	case 1, 2:
	default:
		return fmt.Errorf("%w: a seasonal model needs one or two periods, got %d", ErrBadSpec, len(s.Periods))
	}
	for _, p := range s.Periods {
		if p < 2 {
			return fmt.Errorf("%w: a seasonal period must be at least 2 steps, got %d", ErrBadSpec, p)
		}
	}
	if len(s.Periods) == 2 && (s.Periods[1] <= s.Periods[0] || s.Periods[1]%s.Periods[0] != 0) {
		return fmt.Errorf("%w: the second period (%d) must be a multiple of the first (%d)", ErrBadSpec, s.Periods[1], s.Periods[0])
	}
	return nil
}

// longestPeriod returns the longest seasonal period of s, or 0.
func (s Spec) longestPeriod() int {
	if s.Seasonality == SeasonNone || len(s.Periods) == 0 {
		return 0
	}
	return s.Periods[len(s.Periods)-1]
}

// Params are the smoothing parameters of a Holt-Winters model.
//
// They are those of the recurrence form used by Hyndman et al. (2008, §2.3)
// and by statsmodels' ExponentialSmoothing: Beta is the share of each level
// change that goes into the trend (β* in Hyndman's notation, so the trend's
// gain in error-correction form is α·β), and Gamma[k] smooths the k-th
// seasonal component.
type Params struct {
	Alpha float64   `json:"alpha"`           // level, in (0, 1)
	Beta  float64   `json:"beta,omitempty"`  // trend, in (0, 1); 0 without a trend
	Phi   float64   `json:"phi,omitempty"`   // damping, in [0.8, 0.995] when damped; 1 for an undamped trend, 0 without a trend
	Gamma []float64 `json:"gamma,omitempty"` // one per seasonal period, each in (0, 1-α)
	// Lambda is the AR(1) coefficient of the one-step residual, in [0, 1);
	// 0 without Spec.AR.
	Lambda float64 `json:"lambda,omitempty"`
}

func (p Params) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "alpha=%.4g", p.Alpha)
	if p.Beta != 0 {
		fmt.Fprintf(&b, " beta=%.4g", p.Beta)
	}
	if p.Phi != 0 && p.Phi != 1 {
		fmt.Fprintf(&b, " phi=%.4g", p.Phi)
	}
	for i, g := range p.Gamma {
		fmt.Fprintf(&b, " gamma%d=%.4g", i+1, g)
	}
	if p.Lambda != 0 {
		fmt.Fprintf(&b, " lambda=%.4g", p.Lambda)
	}
	return b.String()
}

// State is the state of a Holt-Winters model before an observation: the
// level ℓ, the slope b, and for each seasonal period m_k the m_k seasonal
// components, Season[k][i] being the one that applies to the i-th observation
// from now (i < m_k). Additive components are zero-centred; multiplicative
// ones are centred on one.
type State struct {
	Level, Slope float64
	Season       [][]float64
}

// Smooth runs the Holt-Winters recurrences of spec with parameters p over y,
// starting from init, and returns the one-step-ahead predictions ŷ_{t|t-1}
// (the fitted values) and the state after the last value. It is the
// reference form of the model: Fit uses the same recurrences. A NaN in y is a
// missing value: the state carries on with the prediction and no update.
//
// With e_t = y_t − ŷ_{t|t−1}, the additive model (seasonal components s⁽ᵏ⁾
// with periods m_k) is
//
//	ŷ_{t|t−1} = ℓ_{t−1} + φ·b_{t−1} + Σ_k s⁽ᵏ⁾_{t−m_k}
//	ℓ_t = ℓ_{t−1} + φ·b_{t−1} + α·e_t
//	b_t = φ·b_{t−1} + α·β·e_t
//	s⁽ᵏ⁾_t = s⁽ᵏ⁾_{t−m_k} + γ_k·e_t
//
// which for one period is the error-correction form of the recurrences
// ℓ_t = α(y_t − s_{t−m}) + (1−α)(ℓ_{t−1} + φb_{t−1}),
// b_t = β(ℓ_t − ℓ_{t−1}) + (1−β)φb_{t−1},
// s_t = γ(y_t − ℓ_{t−1} − φb_{t−1}) + (1−γ)s_{t−m}
// (Hyndman et al. 2008, Table 2.1; statsmodels uses the same). The
// multiplicative model, with S_t = Π_k s⁽ᵏ⁾_{t−m_k} and L = ℓ_{t−1} + φb_{t−1}, is
//
//	ŷ_{t|t−1} = L·S_t
//	ℓ_t = α·y_t/S_t + (1−α)·L
//	b_t = β(ℓ_t − ℓ_{t−1}) + (1−β)φ·b_{t−1}
//	s⁽ᵏ⁾_t = γ_k·y_t/(L·S_t/s⁽ᵏ⁾_{t−m_k}) + (1−γ_k)·s⁽ᵏ⁾_{t−m_k}
//
// With two periods this is Taylor's double-seasonal Holt-Winters (Taylor
// 2003, "Short-term electricity demand forecasting using double seasonal
// exponential smoothing", J. Oper. Res. Soc. 54(8), eqs. 4–7), written in the
// error-correction form above: the seasonal updates use the prior level
// ℓ_{t−1} + φb_{t−1} rather than ℓ_t, as statsmodels does for one season.
// No trend is φ = 0; an undamped trend is φ = 1. With Spec.AR the fitted
// values are ŷ_{t|t−1} + λ·r_{t−1}, while the recurrences run on the
// unadjusted residual r_t.
func Smooth(spec Spec, p Params, init State, y []float64) (fitted []float64, end State, err error) {
	if err := spec.Validate(); err != nil {
		return nil, State{}, err
	}
	c, err := newCoef(spec, p)
	if err != nil {
		return nil, State{}, err
	}
	st, err := newState(spec, init)
	if err != nil {
		return nil, State{}, err
	}
	fitted = make([]float64, len(y))
	for t, v := range y {
		fitted[t] = st.step(&c, v)
	}
	return fitted, st.export(), nil
}

// coef holds the smoothing parameters in the form the kernels use.
type coef struct {
	mult   bool
	alpha  float64
	beta   float64 // β* (share of the level change)
	phi    float64
	lambda float64
	gamma  [2]float64
	nSeas  int
	params Params
}

func newCoef(spec Spec, p Params) (coef, error) {
	c := coef{mult: spec.Seasonality == SeasonMultiplicative, alpha: p.Alpha, params: p}
	if spec.Seasonality != SeasonNone {
		c.nSeas = len(spec.Periods)
		if len(p.Gamma) != c.nSeas {
			return coef{}, fmt.Errorf("%w: %d seasonal periods but %d gamma values", ErrBadSpec, c.nSeas, len(p.Gamma))
		}
		copy(c.gamma[:], p.Gamma)
	}
	switch spec.Trend {
	case TrendAdditive:
		c.beta, c.phi = p.Beta, 1
	case TrendDamped:
		c.beta, c.phi = p.Beta, p.Phi
	}
	if spec.AR {
		c.lambda = p.Lambda
	}
	for _, v := range []float64{p.Alpha, c.beta, c.phi, c.gamma[0], c.gamma[1], c.lambda} {
		if !isFinite(v) {
			return coef{}, fmt.Errorf("%w: non-finite parameter in %v", ErrBadSpec, p)
		}
	}
	return c, nil
}

// state is the running state of a model. season[k] is a ring of m_k
// components; phase[k] indexes the one for the next observation. Unused
// seasonal slots hold a single neutral component (0 or 1) with γ = 0, so the
// kernels need no branches on the number of seasons.
type state struct {
	level, slope float64
	resid        float64 // r_t, the latest one-step residual, for the AR(1) adjustment
	season       [2][]float64
	phase        [2]int
	nSeas        int // seasons in use; the others are neutral placeholders
}

func newState(spec Spec, init State) (state, error) {
	st := state{level: init.Level}
	if spec.Trend != TrendNone {
		st.slope = init.Slope
	}
	neutral := 0.0
	if spec.Seasonality == SeasonMultiplicative {
		neutral = 1
	}
	nSeas := 0
	if spec.Seasonality != SeasonNone {
		nSeas = len(spec.Periods)
		if len(init.Season) != nSeas {
			return state{}, fmt.Errorf("%w: %d seasonal periods but an initial state with %d seasons", ErrBadSpec, nSeas, len(init.Season))
		}
	}
	st.nSeas = nSeas
	for k := range 2 {
		if k < nSeas {
			if len(init.Season[k]) != spec.Periods[k] {
				return state{}, fmt.Errorf("%w: period %d but %d initial seasonal components", ErrBadSpec, spec.Periods[k], len(init.Season[k]))
			}
			st.season[k] = append([]float64(nil), init.Season[k]...)
			continue
		}
		st.season[k] = []float64{neutral}
	}
	return st, nil
}

// export returns the state in the public form, seasons rotated so that
// index 0 is the next observation's.
func (st *state) export() State {
	out := State{Level: st.level, Slope: st.slope}
	for k := range st.nSeas {
		s := st.season[k]
		r := make([]float64, len(s))
		for i := range s {
			r[i] = s[(st.phase[k]+i)%len(s)]
		}
		out.Season = append(out.Season, r)
	}
	return out
}

// finite reports whether every number of the state is finite.
func (st *state) finite() bool {
	if !isFinite(st.level) || !isFinite(st.slope) || !isFinite(st.resid) {
		return false
	}
	for k := range st.nSeas {
		for _, v := range st.season[k] {
			if !isFinite(v) {
				return false
			}
		}
	}
	return true
}

func (st *state) clone() state {
	c := *st
	for k := range 2 {
		c.season[k] = append([]float64(nil), st.season[k]...)
	}
	return c
}

// predict returns the h-step-ahead point forecast (h ≥ 1):
// ŷ_{t+h|t} = ℓ_t + φ_h·b_t + Σ_k s⁽ᵏ⁾ (additive) or (ℓ_t + φ_h·b_t)·Π_k s⁽ᵏ⁾
// (multiplicative), where φ_h = φ + φ² + … + φʰ and each seasonal component
// is the latest one of the target's phase; plus λʰ·r_t with the AR(1)
// adjustment (lambdaH = λʰ).
func (st *state) predict(c *coef, h int, phiH, lambdaH float64) float64 {
	base := st.level + phiH*st.slope
	s0 := st.season[0][(st.phase[0]+h-1)%len(st.season[0])]
	s1 := st.season[1][(st.phase[1]+h-1)%len(st.season[1])]
	if c.mult {
		return base*s0*s1 + lambdaH*st.resid
	}
	return base + s0 + s1 + lambdaH*st.resid
}

// step returns the one-step prediction for the next observation, then
// updates the state with y (no update when y is NaN or infinite).
func (st *state) step(c *coef, y float64) float64 {
	s0, s1 := st.season[0], st.season[1]
	j0, j1 := st.phase[0], st.phase[1]
	trend := c.phi * st.slope
	base := st.level + trend
	var yhat float64
	if c.mult {
		yhat = base * s0[j0] * s1[j1]
	} else {
		yhat = base + s0[j0] + s1[j1]
	}
	adjusted := yhat + c.lambda*st.resid
	switch {
	case !isFinite(y):
		st.level, st.slope = base, trend
		st.resid *= c.lambda
	case c.mult:
		e := y - yhat
		st.resid = e
		if base == 0 || s0[j0] == 0 || s1[j1] == 0 {
			st.level, st.slope = base, trend
			break
		}
		level := c.alpha*y/(s0[j0]*s1[j1]) + (1-c.alpha)*base
		st.slope = trend + c.beta*(level-base)
		st.level = level
		g0 := e / (base * s1[j1])
		g1 := e / (base * s0[j0])
		s0[j0] += c.gamma[0] * g0
		s1[j1] += c.gamma[1] * g1
	default:
		e := y - yhat
		st.resid = e
		st.level = base + c.alpha*e
		st.slope = trend + c.alpha*c.beta*e
		s0[j0] += c.gamma[0] * e
		s1[j1] += c.gamma[1] * e
	}
	st.advance()
	return adjusted
}

func (st *state) advance() {
	for k := range 2 {
		st.phase[k]++
		if st.phase[k] == len(st.season[k]) {
			st.phase[k] = 0
		}
	}
}

// phiSum returns φ + φ² + … + φʰ.
func phiSum(phi float64, h int) float64 {
	switch phi {
	case 0:
		return 0
	case 1:
		return float64(h)
	}
	return phi * (1 - math.Pow(phi, float64(h))) / (1 - phi)
}

// Model is a fitted Holt-Winters model positioned after the last value it has
// seen. Its methods are not safe for concurrent use when one of them is
// Observe; Clone gives an independent copy.
type Model struct {
	Spec   Spec
	Params Params
	// Step is the series' step; Next is the time of the next observation,
	// the first forecast step.
	Step time.Duration
	Next time.Time
	// Fit describes how well the model fits its history.
	Fit FitStats
	// Notes explain every fallback and adjustment made while fitting.
	Notes []Note

	coef  coef
	state state
	init  state // before the first value, for re-running the history
	bands *errorBands
	// score is the in-sample multi-step error FitAuto chooses by.
	score float64
	// constant is set for a constant history: the forecast is that value
	// with a zero-width band.
	constant bool
}

// FitStats describes a model's fit to its history.
type FitStats struct {
	N         int     // finite values the model was fitted on
	SSE       float64 // sum of squared one-step errors
	RMSE      float64 // root mean squared one-step error
	AICc      float64 // corrected Akaike criterion, Hyndman et al. (2008) eq. 7.3, counting the initial states
	Evals     int     // objective evaluations spent by the optimiser
	Converged bool    // whether the optimiser met its convergence criterion
}

// Clone returns an independent copy of m.
func (m *Model) Clone() *Model {
	c := *m
	c.state = m.state.clone()
	c.Notes = append([]Note(nil), m.Notes...)
	return &c
}

// Observe advances the model by one step with the observed value y (NaN
// for a missing or excluded value) without refitting its parameters.
func (m *Model) Observe(y float64) {
	if !m.constant {
		m.state.step(&m.coef, y)
	}
	m.Next = m.Next.Add(m.Step)
}

// State returns the model's current state.
func (m *Model) State() State {
	return m.state.export()
}
