package forecast

import "math"

// rejectFilter is the robust filter shared by Anomalies and Guard: it runs
// a model's recurrences over values one at a time, and treats a value
// whose one-step error is wildly off as missing, with the recursive
// τ-scale of Gelper, Fried & Croux (2010). Anomalies states the rule.
type rejectFilter struct {
	c      *coef
	st     *state
	phi1   float64
	scale2 float64
	maxRun int
	// belowOnly rejects only values below the one-step forecast.
	belowOnly bool
	// run holds the values of the current run of rejections; before and
	// scaleBefore are the state and scale from when it began, to take the
	// run back once it is longer than maxRun.
	run         []float64
	before      state
	scaleBefore float64
}

// The scale recursion's weight λσ and the biweight ρ's constants.
const (
	lambdaSigma = 0.1
	biweightK   = 2.0
	biweightC   = 2.52
)

// rho is the bounded biweight ρ(x) = c·(1 − (1 − (x/k)²)³) for |x| ≤ k,
// c beyond (k = 2, c = 2.52: consistent at the normal).
func rho(x float64) float64 {
	if math.Abs(x) > biweightK {
		return biweightC
	}
	u := 1 - (x/biweightK)*(x/biweightK)
	return biweightC * (1 - u*u*u)
}

// rejectFilter returns the filter of m over the history y, positioned at
// m's initial state, its scale started at 1.4826 times the median absolute
// one-step error over y; false if m has no initial state to run from (a
// constant model) or y gives no positive scale. maxRun ≤ 0 means an
// eighth of the longest season, or 60 steps without one.
func (m *Model) rejectFilter(y []float64, maxRun int) (*rejectFilter, bool) {
	if m.constant || m.init.season[0] == nil {
		return nil, false
	}
	if maxRun <= 0 {
		maxRun = 60
		if p := m.Spec.longestPeriod(); p > 0 {
			maxRun = max(p/8, 1)
		}
	}
	st := m.init.clone()
	errs := make([]float64, 0, len(y))
	for _, v := range y {
		if e := v - st.step(&m.coef, v); isFinite(e) {
			errs = append(errs, math.Abs(e))
		}
	}
	if len(errs) == 0 {
		return nil, false
	}
	scale2 := math.Pow(1.4826*nthSmallest(errs, len(errs)/2), 2)
	if !(scale2 > 0) {
		return nil, false
	}
	st = m.init.clone()
	return &rejectFilter{c: &m.coef, st: &st, phi1: phiSum(m.coef.phi, 1), scale2: scale2, maxRun: maxRun}, true
}

// step feeds v. It reports whether v was rejected, and how many values
// before it, rejected until now, were taken back (accepted) because the
// run grew longer than maxRun; v is then accepted too.
func (f *rejectFilter) step(v float64) (rejected bool, takenBack int) {
	yhat := f.st.predict(f.c, 1, f.phi1, f.c.lambda)
	e := v - yhat
	if !isFinite(e) {
		f.st.step(f.c, v)
		return false, 0
	}
	sigma := math.Sqrt(f.scale2)
	if (!f.belowOnly || e < 0) && math.Abs(e) > AnomalyK*sigma && math.Abs(e) > AnomalyMinRelative*math.Abs(yhat) {
		if len(f.run) == 0 {
			f.before, f.scaleBefore = f.st.clone(), f.scale2
		}
		if len(f.run) < f.maxRun {
			f.run = append(f.run, v)
			f.st.step(f.c, math.NaN())
			return true, 0
		}
		// A change, not an anomaly: take the run back and accept it.
		takenBack = len(f.run)
		*f.st, f.scale2 = f.before, f.scaleBefore
		for _, w := range f.run {
			f.st.step(f.c, w)
		}
		f.st.step(f.c, v)
		f.run = f.run[:0]
		return false, takenBack
	}
	f.run = f.run[:0]
	f.scale2 = lambdaSigma*rho(e/sigma)*f.scale2 + (1-lambdaSigma)*f.scale2
	f.st.step(f.c, v)
	return false, 0
}

// Guard screens the values a fitted model observes live, as Anomalies
// screens a history, in one direction: a value far below the model's
// one-step forecast (both more than AnomalyK robust standard deviations
// and AnomalyMinRelative of the forecast: an outage's collapse) is
// observed as missing, so the state and the forecast carry on from what
// the load was. A run of more than maxRun such values is a change, not an
// outage: it is taken back and observed, and the state follows the new
// level. Values above the forecast always pass: following a surge up only
// provisions more.
//
// Without it, a model with a small α still drags its level and its AR(1)
// term down within minutes of a collapse, the scaler gives the replicas
// back, and the retry surge that ends an outage meets the smallest
// deployment of the day.
type Guard struct {
	m *Model
	f *rejectFilter
}

// NewGuard returns a guard over m, which was fitted on history and stands
// at its end. Its scale is the robust filter's at the end of history, so
// that anomalies in the history do not inflate it. maxRun ≤ 0 means
// Anomalies' default (an eighth of the longest season). A model without a
// scale (constant) gets a guard that lets every value through.
func NewGuard(m *Model, history []float64, maxRun int) *Guard {
	g := &Guard{m: m}
	f, ok := m.rejectFilter(history, maxRun)
	if !ok {
		return g
	}
	for _, v := range history {
		f.step(v)
	}
	f.st, f.run, f.belowOnly = &m.state, f.run[:0], true
	g.f = f
	return g
}

// MaxRun is the longest run of values the guard keeps from the model
// before it takes the run as a change (0: it keeps none).
func (g *Guard) MaxRun() int {
	if g.f == nil {
		return 0
	}
	return g.f.maxRun
}

// Observe advances the model by one step with y, or with a missing value
// if the guard rejects y, and reports whether it did.
func (g *Guard) Observe(y float64) bool {
	if g.f == nil || g.m.constant {
		g.m.Observe(y)
		return false
	}
	rejected, _ := g.f.step(y)
	g.m.Next = g.m.Next.Add(g.m.Step)
	return rejected
}

// Held is the number of values of the collapse in progress: the run of
// values observed as missing since the last one observed (gaps do not end
// it). 0 when the load is near the forecast again, or once a run longer
// than MaxRun was taken back.
func (g *Guard) Held() int {
	if g.f == nil {
		return 0
	}
	return len(g.f.run)
}
