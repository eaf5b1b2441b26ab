package forecast

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/optimize"
)

// FitOptions tune Fit. The zero value is ready to use.
type FitOptions struct {
	// Horizon is the longest horizon, in steps, whose prediction band is
	// estimated from the model's own in-sample h-step errors. Beyond it the
	// band widens as the analytic variance does. 0 means 60.
	Horizon int
	// Params, if not nil, are used as they are instead of being fitted
	// (statsmodels' optimized=False).
	Params *Params
	// Init, if not nil, is the initial state instead of the heuristic one.
	Init *State
	// MaxEvaluations bounds the objective evaluations of the optimiser.
	// 0 means 300.
	MaxEvaluations int

	// scoreFrom, if positive, makes the final pass score the model's
	// 1..Horizon-step forecasts from origins at or after this index.
	scoreFrom int
	// maxAlpha, if positive, bounds α from above.
	maxAlpha float64
	// warm, if set, are the parameters of the previous fit of the same
	// model, which replace the coarse search (Refit).
	warm *Params
	// initWindow, if positive, limits the least-squares estimate of the
	// initial state to the first initWindow values, so that the scored
	// forecasts come from a state that has not seen them.
	initWindow int
	// coarse, if set, stops a fit after the coarse search and the first
	// least-squares state: parameters good enough to rank candidates by
	// (AutoOptions.Screen), not to forecast with.
	coarse bool
	// quickState, if set, gives both least-squares solves of the state
	// polishIterations instead of cgIterations (AutoOptions.Screen's final
	// fit, which starts from screened parameters): on the crane traces'
	// weeks it halved a seasonal fit's cost, the one-step RMSE within
	// 0.03% (0.8% for one (N,M) fit that was not chosen). A seasonal
	// model's parameters are then polished with coarseSearch's criterion
	// rather than fineSearch's: on 16 weeks of crane-cpu-0, -2 and -8
	// where a seasonal model was chosen, 50 evaluations instead of 93 on
	// average, the one-step RMSE 0.04% higher on average, 0.25% at most.
	// (Non-seasonal models keep fineSearch: their one-parameter simplex
	// stopped after 5 evaluations with it, up to 1.5% worse, and their
	// evaluations are few.)
	quickState bool
}

const (
	defaultHorizon  = 60
	defaultMaxEvals = 300
	// Bounds of the smoothing parameters. α, β* ∈ [ε, 1−ε]; γ ∈ [0, 1−α]
	// (Hyndman et al. 2008, §10.2, so that the seasonal update never
	// outweighs the level's); φ ∈ [0.8, 0.995] as in statsmodels (Hyndman
	// et al. suggest [0.8, 0.98]: below 0.8 damping is indistinguishable
	// from no trend).
	paramEps = 1e-4
	phiLow   = 0.8
	phiHigh  = 0.995
)

// Fit fits the Holt-Winters model spec to the series s: the initial state
// comes from the heuristic of initialState, and the smoothing parameters
// minimise the sum of squared one-step-ahead errors within their bounds
// (Nelder-Mead simplex search from gonum/optimize, started from the best
// point of a coarse grid). The seasonal initial states are not free
// parameters of the optimisation, which keeps a fit of a week of one-minute
// data within milliseconds.
//
// Degenerate histories get a typed outcome: ErrNoData or ErrTooShort, or a
// model with a Note explaining the fallback (fewer than two seasons → a
// non-seasonal model; values ≤ 0 with multiplicative seasonality → additive;
// a constant history → a constant forecast; infinite values → missing).
func Fit(s Series, spec Spec, opts FitOptions) (*Model, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if s.Step <= 0 {
		return nil, fmt.Errorf("series step %s: %w", s.Step, ErrBadStep)
	}
	y, notes, err := cleanHistory(s.Values)
	if err != nil {
		return nil, err
	}
	// Work on y/k, k a power of two near the largest magnitude: exact in
	// floating point, and squares of values near 1e308 cannot overflow.
	k := powerOfTwoScale(y)
	for i := range y {
		y[i] /= k
	}
	if opts.Init != nil {
		scaled := scaleState(*opts.Init, 1/k, spec.Seasonality == SeasonMultiplicative)
		opts.Init = &scaled
	}
	m := &Model{Step: s.Step, Next: s.End(), Notes: notes}
	if v, ok := constantValue(y); ok {
		return constantModel(m, spec, v*k, len(y)), nil
	}
	spec, m.Notes = feasibleSpec(spec, y, m.Notes)
	m.Spec = spec

	p := paramSpace{spec: spec, maxAlpha: opts.maxAlpha}
	var params Params
	if opts.Params != nil {
		params = *opts.Params
		params.Gamma = slices.Clone(params.Gamma)
	} else {
		params = p.start()
	}
	if _, err := newCoef(spec, params); err != nil {
		return nil, err
	}
	// The initial state is estimated from the first initWindow values.
	window := y
	if opts.initWindow > 0 && opts.initWindow < len(y) {
		window = y[:opts.initWindow]
	}
	var init State
	if opts.Init != nil {
		init = *opts.Init
	} else {
		init = initialState(spec, window)
	}
	st0, err := newState(spec, init)
	if err != nil {
		return nil, err
	}
	if opts.Params == nil {
		maxEvals := opts.MaxEvaluations
		if maxEvals <= 0 {
			maxEvals = defaultMaxEvals
		}
		if opts.Init != nil {
			params, m.Fit.Evals, m.Fit.Converged = p.minimise(st0, y, maxEvals, nil, fineSearch)
		} else {
			// Parameters for the heuristic state, roughly; the initial
			// state by least squares for them (refine.go); the parameters
			// for that state, finely; the state once more.
			var evals int
			if opts.warm != nil && len(opts.warm.Gamma) == len(params.Gamma) {
				// A refit: the previous parameters stand in for the coarse
				// search.
				params = *opts.warm
			} else {
				params, evals, _ = p.minimise(st0, y, maxEvals, nil, coarseSearch)
			}
			c, _ := newCoef(spec, params)
			if opts.coarse {
				// A state good enough to rank by: a few iterations.
				st0, _ = refineState(&c, st0, window, polishIterations)
				m.Fit.Evals, m.Fit.Converged = evals, true
				return finish(s, m, spec, params, st0, y, k, opts)
			}
			first := cgIterations
			if opts.quickState {
				first = polishIterations
			}
			st0, _ = refineState(&c, st0, window, first)
			conv := fineSearch
			if opts.quickState && spec.Seasonality != SeasonNone {
				conv = coarseSearch
			}
			params, m.Fit.Evals, m.Fit.Converged = p.minimise(st0, y, maxEvals, &params, conv)
			m.Fit.Evals += evals
			c, _ = newCoef(spec, params)
			polish := cgIterations
			if spec.Seasonality == SeasonMultiplicative || opts.quickState {
				// Gauss-Newton passes cost twice the additive ones; the
				// second solve starts close.
				polish = polishIterations
			}
			st0, _ = refineState(&c, st0, window, polish)
		}
		if !m.Fit.Converged {
			m.Notes = append(m.Notes, notef(NoteOptimizer, "the optimiser stopped after %d evaluations without converging; using the best parameters found", m.Fit.Evals))
		}
	} else {
		m.Fit.Converged = true
	}
	return finish(s, m, spec, params, st0, y, k, opts)
}

// finish runs m with params from st0 over y, the values of s divided by k,
// and returns it rescaled, or a simpler model if its state diverged.
func finish(s Series, m *Model, spec Spec, params Params, st0 state, y []float64, k float64, opts FitOptions) (*Model, error) {
	c, err := newCoef(spec, params)
	if err != nil {
		return nil, err
	}
	m.Params, m.coef = params, c
	horizon := opts.Horizon
	if horizon <= 0 {
		horizon = defaultHorizon
	}
	m.init = st0.clone()
	m.state = st0
	m.bands = m.finalPass(y, horizon, opts.scoreFrom)
	if m.bands.gaussian {
		m.Notes = append(m.Notes, notef(NoteGaussianBand, "only %d in-sample forecasts to estimate the band from; using a Gaussian band", m.bands.origins))
	}
	m.rescale(k)
	if !m.state.finite() {
		return divergedFallback(s, spec, opts)
	}
	return m, nil
}

// divergedFallback refits a simpler model after spec's state left the
// floating-point range (values spanning hundreds of orders of magnitude):
// additive instead of multiplicative seasonality, then (N,N).
func divergedFallback(s Series, spec Spec, opts FitOptions) (*Model, error) {
	simpler := Spec{}
	if spec.Seasonality == SeasonMultiplicative {
		simpler = spec
		simpler.Seasonality = SeasonAdditive
	}
	if sameSpec(simpler, spec) || opts.Params != nil || opts.Init != nil {
		return nil, fmt.Errorf("%s: %w", spec, ErrDiverged)
	}
	m, err := Fit(s, simpler, opts)
	if err != nil {
		return nil, err
	}
	m.Notes = append(m.Notes, notef(NoteDiverged, "the state of %s left the floating-point range on this history; fitted %s instead", spec, m.Spec))
	return m, nil
}

// powerOfTwoScale returns the largest power of two not above the largest
// finite magnitude in y (1 for zeros): finite even for values near the
// largest float.
func powerOfTwoScale(y []float64) float64 {
	var big float64
	for _, v := range y {
		if isFinite(v) {
			big = max(big, math.Abs(v))
		}
	}
	if big == 0 {
		return 1
	}
	_, e := math.Frexp(big) // big = f·2^e with f in [½, 1)
	return math.Ldexp(1, e-1)
}

// scaleState multiplies the level, slope and additive seasonal components
// of st by k.
func scaleState(st State, k float64, mult bool) State {
	out := State{Level: st.Level * k, Slope: st.Slope * k}
	for _, s := range st.Season {
		c := slices.Clone(s)
		if !mult {
			for i := range c {
				c[i] *= k
			}
		}
		out.Season = append(out.Season, c)
	}
	return out
}

// rescale turns a model fitted on y/k into the model of y.
func (m *Model) rescale(k float64) {
	if k == 1 {
		return
	}
	for _, st := range []*state{&m.state, &m.init} {
		st.level, st.slope, st.resid = st.level*k, st.slope*k, st.resid*k
		if !m.coef.mult {
			for i := range st.nSeas {
				for j := range st.season[i] {
					st.season[i][j] *= k
				}
			}
		}
	}
	if b := m.bands; !b.relative {
		b.sigma *= k
		for _, e := range b.errs {
			for i := range e {
				e[i] *= k
			}
		}
	}
	m.score *= k
	m.Fit.SSE *= k * k
	m.Fit.RMSE *= k
	m.Fit.AICc += float64(m.Fit.N) * math.Log(k*k)
}

// cleanHistory copies y, turning infinite values into NaN, and checks there
// is enough left to fit.
func cleanHistory(values []float64) ([]float64, []Note, error) {
	y := make([]float64, len(values))
	var notes []Note
	inf, missing, valid := 0, 0, 0
	for i, v := range values {
		switch {
		case math.IsInf(v, 0):
			inf++
			v = math.NaN()
		case math.IsNaN(v):
			missing++
		default:
			valid++
		}
		y[i] = v
	}
	if inf > 0 {
		notes = append(notes, notef(NoteNonFinite, "%d infinite values treated as missing", inf))
	}
	if missing > 0 {
		notes = append(notes, notef(NoteMissing, "%d of %d values missing or excluded; the model's own predictions stand in for them", missing, len(values)))
	}
	switch {
	case valid == 0:
		return nil, notes, ErrNoData
	case valid < MinPoints:
		return nil, notes, fmt.Errorf("%d finite values, at least %d needed: %w", valid, MinPoints, ErrTooShort)
	}
	return y, notes, nil
}

// constantValue reports whether every finite value of y is the same (to
// within a relative 1e-12), and that value.
func constantValue(y []float64) (float64, bool) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range y {
		if isFinite(v) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return lo, hi-lo <= 1e-12*max(math.Abs(lo), math.Abs(hi))
}

func constantModel(m *Model, spec Spec, v float64, n int) *Model {
	m.Spec = Spec{Trend: TrendNone, Seasonality: SeasonNone}
	m.Params = Params{Alpha: 0}
	m.constant = true
	m.coef = coef{}
	m.state, _ = newState(m.Spec, State{Level: v})
	m.bands = &errorBands{}
	m.Fit = FitStats{N: n, Converged: true}
	m.Notes = append(m.Notes, notef(NoteConstant, "the history is constant at %g; forecasting that value with a zero-width band instead of fitting %s", v, spec))
	return m
}

// feasibleSpec degrades spec to what the history supports: seasonal models
// need two full cycles of each period, multiplicative ones positive values.
func feasibleSpec(spec Spec, y []float64, notes []Note) (Spec, []Note) {
	if spec.Seasonality == SeasonNone {
		return spec, notes
	}
	n := len(y)
	if len(spec.Periods) == 2 && n < 2*spec.Periods[1] {
		notes = append(notes, notef(NoteShortHistory, "%d values are fewer than two cycles of period %d; fitting period %d alone", n, spec.Periods[1], spec.Periods[0]))
		spec.Periods = spec.Periods[:1]
	}
	if n < 2*spec.Periods[0] {
		notes = append(notes, notef(NoteShortHistory, "%d values are fewer than two cycles of period %d; fitting a non-seasonal model", n, spec.Periods[0]))
		return Spec{Trend: spec.Trend, Seasonality: SeasonNone}, notes
	}
	if spec.Seasonality == SeasonMultiplicative {
		for _, v := range y {
			if isFinite(v) && v <= 0 {
				notes = append(notes, notef(NoteNonPositive, "multiplicative seasonality needs positive values, found %g; fitting additive seasonality", v))
				spec.Seasonality = SeasonAdditive
				break
			}
		}
	}
	spec.Periods = slices.Clone(spec.Periods)
	return spec, notes
}

// paramSpace maps the free smoothing parameters of a spec to an
// unconstrained vector z, each parameter being lo + (hi − lo)·σ(z_i) with
// the logistic σ, so that an unconstrained optimiser respects the bounds.
type paramSpace struct {
	spec     Spec
	maxAlpha float64 // upper bound of α; 0 means 1 − ε
}

func (p paramSpace) alphaHigh() float64 {
	if p.maxAlpha > 0 {
		return p.maxAlpha
	}
	return 1 - paramEps
}

func (p paramSpace) dim() int {
	d := 1
	switch p.spec.Trend {
	case TrendAdditive:
		d++
	case TrendDamped:
		d += 2
	}
	if p.spec.Seasonality != SeasonNone {
		d += len(p.spec.Periods)
	}
	if p.spec.AR {
		d++
	}
	return d
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func logit(p float64) float64 { return math.Log(p / (1 - p)) }

// params decodes z.
func (p paramSpace) params(z []float64) Params {
	var out Params
	i := 0
	next := func(lo, hi float64) float64 {
		v := lo + (hi-lo)*sigmoid(z[i])
		i++
		return v
	}
	out.Alpha = next(paramEps, p.alphaHigh())
	switch p.spec.Trend {
	case TrendAdditive:
		out.Beta, out.Phi = next(paramEps, 1-paramEps), 1
	case TrendDamped:
		out.Beta = next(paramEps, 1-paramEps)
		out.Phi = next(phiLow, phiHigh)
	}
	if p.spec.Seasonality != SeasonNone {
		out.Gamma = make([]float64, len(p.spec.Periods))
		for k := range out.Gamma {
			out.Gamma[k] = next(0, 1-out.Alpha)
		}
	}
	if p.spec.AR {
		out.Lambda = next(0, 1-paramEps)
	}
	return out
}

// encode is the inverse of params.
func (p paramSpace) encode(q Params) []float64 {
	z := make([]float64, 0, p.dim())
	add := func(v, lo, hi float64) {
		u := (v - lo) / (hi - lo)
		u = min(max(u, 1e-6), 1-1e-6)
		z = append(z, logit(u))
	}
	add(q.Alpha, paramEps, p.alphaHigh())
	switch p.spec.Trend {
	case TrendAdditive:
		add(q.Beta, paramEps, 1-paramEps)
	case TrendDamped:
		add(q.Beta, paramEps, 1-paramEps)
		add(q.Phi, phiLow, phiHigh)
	}
	if p.spec.Seasonality != SeasonNone {
		for _, g := range q.Gamma {
			add(g, 0, 1-q.Alpha)
		}
	}
	if p.spec.AR {
		add(q.Lambda, 0, 1-paramEps)
	}
	return z
}

// start returns the parameters the grid search is centred on.
func (p paramSpace) start() Params {
	q := Params{Alpha: 0.5}
	switch p.spec.Trend {
	case TrendAdditive:
		q.Beta, q.Phi = 0.05, 1
	case TrendDamped:
		q.Beta, q.Phi = 0.05, 0.9
	}
	if p.spec.Seasonality != SeasonNone {
		q.Gamma = make([]float64, len(p.spec.Periods))
		for k := range q.Gamma {
			q.Gamma[k] = 0.1
		}
	}
	if p.spec.AR {
		q.Lambda = 0.5
	}
	return q
}

// Grids searched before the simplex: the smoothing parameters of one-minute
// operational data range from a sluggish α ≈ 0.05 to a near random walk.
var (
	gridAlpha = []float64{0.05, 0.2, 0.5, 0.8, 0.95}
	gridGamma = []float64{0.02, 0.2} // as a share of 1 − α
)

// minimise returns the parameters with the least SSE, the evaluations spent
// and whether the simplex converged.
//
// With from set, the simplex starts smaller, at from, without the grid: a
// polish of the previous optimum after the initial state has moved.
func (p paramSpace) minimise(st0 state, y []float64, maxEvals int, from *Params, conv search) (Params, int, bool) {
	work := st0.clone()
	evals := 0
	objective := func(z []float64) float64 {
		evals++
		q := p.params(z)
		c, err := newCoef(p.spec, q)
		if err != nil {
			return math.MaxFloat64
		}
		copyState(&work, &st0)
		sse := sseKernel(&c, &work, y)
		if math.IsNaN(sse) || math.IsInf(sse, 0) {
			return math.MaxFloat64
		}
		return sse
	}

	// Coarse grid over α (and γ), the rest at their start values.
	best := p.start()
	bestF := math.Inf(1)
	simplex := 0.5
	if from != nil {
		best, bestF, simplex = *from, objective(p.encode(*from)), 0.25
	}
	for _, a := range gridAlpha {
		if from != nil {
			break
		}
		for _, g := range gridGamma {
			q := p.start()
			q.Alpha = a
			for k := range q.Gamma {
				q.Gamma[k] = g * (1 - a)
			}
			if f := objective(p.encode(q)); f < bestF {
				best, bestF = q, f
			}
			if p.spec.Seasonality == SeasonNone {
				break
			}
		}
	}

	problem := optimize.Problem{Func: objective}
	settings := &optimize.Settings{
		FuncEvaluations: max(maxEvals-evals, 1),
		Converger: &optimize.FunctionConverge{
			Absolute:   1e-12 * bestF,
			Relative:   conv.relative,
			Iterations: conv.iterations * p.dim(),
		},
		Concurrent: 1,
	}
	res, err := optimize.Minimize(problem, p.encode(best), settings, &optimize.NelderMead{SimplexSize: simplex})
	if err != nil && !errors.Is(err, optimize.ErrLinesearcherFailure) || res == nil {
		return best, evals, false
	}
	q := p.params(res.X)
	if res.F > bestF {
		return best, evals, false
	}
	return q, evals, res.Status == optimize.FunctionConvergence
}

func copyState(dst, src *state) {
	dst.level, dst.slope, dst.resid, dst.phase = src.level, src.slope, src.resid, src.phase
	for k := range 2 {
		copy(dst.season[k], src.season[k])
	}
}

// sseKernel runs the recurrences of Smooth over y from st (which it
// updates) and returns the sum of squared one-step errors. It is the
// optimiser's objective and the hot loop of a fit, so the additive model is
// rewritten to shorten the chain of dependent operations from one step to
// the next. With the predicted level B_t = ℓ_{t−1} + φb_{t−1}, P_t = φb_{t−1}
// and K = α(1 + φβ):
//
//	e_t     = y_t − S_t − B_t
//	B_{t+1} = (1 − K)·B_t + K·(y_t − S_t) + φ·P_t
//	P_{t+1} = φ·P_t + φαβ·e_t
//
// which is Smooth's recurrence with ℓ_t = B_t + αe_t and b_t = P_t + αβe_t
// substituted; B_{t+1} then waits on one multiplication and one addition
// of B_t instead of five operations.
func sseKernel(c *coef, st *state, y []float64) float64 {
	if c.mult {
		return sseMultiplicative(c, st, y)
	}
	s0, s1 := st.season[0], st.season[1]
	j0, j1 := st.phase[0], st.phase[1]
	m0, m1 := len(s0), len(s1)
	phi, g0, g1, lambda := c.phi, c.gamma[0], c.gamma[1], c.lambda
	k := c.alpha * (1 + phi*c.beta)
	oneMinusK := 1 - k
	phiAB := phi * c.alpha * c.beta
	pb := phi * st.slope
	base := st.level + pb
	r := st.resid
	var sse float64
	if phi == 0 && st.nSeas <= 1 {
		// Without a trend (every model FitAuto chooses from), P stays 0.
		sse, base, r, j0 = sseNoTrend(k, lambda, g0, base, r, s0, j0, st.nSeas == 1, y)
		st.level, st.slope, st.resid, st.phase = base, 0, r, [2]int{j0, j1}
		return sse
	}
	// The neutral one-component placeholder of an unused season must not
	// be read and written every step: the store-to-load forwarding would
	// sit on the critical path. Hence the loop per number of seasons.
	switch st.nSeas {
	case 0:
		for _, v := range y {
			if v == v { // not NaN
				e := v - base
				a := e - lambda*r
				sse += a * a
				r = e
				next := oneMinusK*base + (k*v + phi*pb)
				pb = phi*pb + phiAB*e
				base = next
			} else {
				r *= lambda
				pb *= phi
				base += pb
			}
		}
	case 1:
		for _, v := range y {
			u := v - s0[j0]
			if u == u {
				e := u - base
				a := e - lambda*r
				sse += a * a
				r = e
				s0[j0] += g0 * e
				next := oneMinusK*base + (k*u + phi*pb)
				pb = phi*pb + phiAB*e
				base = next
			} else {
				r *= lambda
				pb *= phi
				base += pb
			}
			if j0++; j0 == m0 {
				j0 = 0
			}
		}
	default:
		for _, v := range y {
			u := v - (s0[j0] + s1[j1])
			if u == u {
				e := u - base
				a := e - lambda*r
				sse += a * a
				r = e
				s0[j0] += g0 * e
				s1[j1] += g1 * e
				next := oneMinusK*base + (k*u + phi*pb)
				pb = phi*pb + phiAB*e
				base = next
			} else {
				r *= lambda
				pb *= phi
				base += pb
			}
			if j0++; j0 == m0 {
				j0 = 0
			}
			if j1++; j1 == m1 {
				j1 = 0
			}
		}
	}
	// Back to ℓ and b: P = φb and B = ℓ + P.
	st.level = base - pb
	st.slope = 0
	if phi != 0 {
		st.slope = pb / phi
	}
	st.resid, st.phase = r, [2]int{j0, j1}
	return sse
}

// sseNoTrend is sseKernel's loop for φ = 0 and at most one season: with
// P_t = 0 the recurrence is B_{t+1} = (1 − K)·B_t + K·(y_t − S_t), and B
// waits on one multiplication and one addition of itself, where the
// general loop's path through P adds three operations for every two steps.
// The operations are the general loop's (its φ·P term is an exact 0), so
// the SSE is the same to the last bit. It returns the SSE and the final
// B, r and phase.
func sseNoTrend(k, lambda, g float64, base, r float64, season []float64, j int, seasonal bool, y []float64) (sse, b, rOut float64, jOut int) {
	oneMinusK := 1 - k
	if !seasonal {
		for _, v := range y {
			if v == v { // not NaN
				e := v - base
				a := e - lambda*r
				sse += a * a
				r = e
				base = oneMinusK*base + k*v
			} else {
				r *= lambda
			}
		}
		return sse, base, r, j
	}
	m := len(season)
	for _, v := range y {
		u := v - season[j]
		if u == u {
			e := u - base
			a := e - lambda*r
			sse += a * a
			r = e
			season[j] += g * e
			base = oneMinusK*base + k*u
		} else {
			r *= lambda
		}
		if j++; j == m {
			j = 0
		}
	}
	return sse, base, r, j
}

func sseMultiplicative(c *coef, st *state, y []float64) float64 {
	if st.nSeas != 1 {
		return sseMultiplicativeGeneric(c, st, y)
	}
	// One season: state.step's multiplicative branch, inlined.
	s0 := st.season[0]
	j0, m0 := st.phase[0], len(s0)
	l, b, r := st.level, st.slope, st.resid
	alpha, beta, phi, gamma, lambda := c.alpha, c.beta, c.phi, c.gamma[0], c.lambda
	var sse float64
	if phi == 0 && b == 0 {
		// No trend: the same loop without the slope.
		for _, v := range y {
			if !(l > 0) {
				return math.Inf(1)
			}
			s := s0[j0]
			if v == v {
				vs, vl := v/s, v/l
				e := v - l*s
				a := e - lambda*r
				sse += a * a
				r = e
				l = alpha*vs + (1-alpha)*l
				s0[j0] = s + gamma*(vl-s)
			} else {
				r *= lambda
			}
			if j0++; j0 == m0 {
				j0 = 0
			}
		}
		st.level, st.resid, st.phase[0] = l, r, j0
		return sse
	}
	for _, v := range y {
		trend := phi * b
		base := l + trend
		if !(base > 0) {
			// A non-positive level makes the multiplicative model
			// meaningless: reject these parameters.
			return math.Inf(1)
		}
		s := s0[j0]
		if v == v { // not NaN
			// Neither division waits on the previous step's level, so
			// they overlap with the chain ℓ → B → ℓ (one multiply-add).
			vs, vb := v/s, v/base
			e := v - base*s
			a := e - lambda*r
			sse += a * a
			r = e
			level := alpha*vs + (1-alpha)*base
			b = trend + beta*(level-base)
			l = level
			s0[j0] = s + gamma*(vb-s)
		} else {
			l, b = base, trend
			r *= lambda
		}
		if j0++; j0 == m0 {
			j0 = 0
		}
	}
	st.level, st.slope, st.resid, st.phase[0] = l, b, r, j0
	return sse
}

func sseMultiplicativeGeneric(c *coef, st *state, y []float64) float64 {
	var sse float64
	for _, v := range y {
		if st.level+c.phi*st.slope <= 0 {
			return math.Inf(1)
		}
		if e := v - st.step(c, v); e == e {
			sse += e * e
		}
	}
	return sse
}

// search is a convergence criterion of the simplex: stop when the best SSE
// has not improved by the relative amount in iterations × dim iterations.
type search struct {
	relative   float64
	iterations int
}

var (
	// coarseSearch finds the basin for the heuristic initial state;
	// fineSearch converges (on the shared traces, to within 0.1% of the
	// SSE of a search run to 1e-10).
	coarseSearch = search{relative: 1e-4, iterations: 2}
	fineSearch   = search{relative: 1e-7, iterations: 2}
)
