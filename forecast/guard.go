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
	// rejected counts the rejections of the current run; pending holds
	// every value since it began (gaps included), to replay if it is taken
	// back; before and scaleBefore are the state and scale when it began.
	rejected    int
	pending     []float64
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

// rejectFilter returns the filter of m over the history y, on its own copy
// of m's initial state, its scale started at 1.4826 times the median
// absolute one-step error over y; false if m has no initial state to run
// from (a constant model) or y gives no positive scale. maxRun ≤ 0 means
// an eighth of the longest season, or 60 steps without one.
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

// step feeds v and returns its one-step error e (NaN for a gap), whether
// v was rejected, and, when the run grew longer than maxRun and was taken
// back as a change, how many values before v (since the run began, gaps
// included) are now accepted; v is then accepted too. A gap neither
// starts nor ends a run.
func (f *rejectFilter) step(v float64) (e float64, rejected bool, takenBack int) {
	yhat := f.st.predict(f.c, 1, f.phi1, f.c.lambda)
	e = v - yhat
	if !isFinite(e) {
		f.st.step(f.c, v)
		if f.rejected > 0 {
			f.pending = append(f.pending, v)
		}
		return math.NaN(), false, 0
	}
	sigma := math.Sqrt(f.scale2)
	if math.Abs(e) > AnomalyK*sigma && math.Abs(e) > AnomalyMinRelative*math.Abs(yhat) {
		if f.rejected == 0 {
			f.before, f.scaleBefore = f.st.clone(), f.scale2
		}
		if f.rejected < f.maxRun {
			f.rejected++
			f.pending = append(f.pending, v)
			f.st.step(f.c, math.NaN())
			return e, true, 0
		}
		// A change, not an anomaly: take the run back and accept it.
		takenBack = len(f.pending)
		*f.st, f.scale2 = f.before, f.scaleBefore
		for _, w := range f.pending {
			f.st.step(f.c, w)
		}
		f.st.step(f.c, v)
		f.rejected, f.pending = 0, f.pending[:0]
		return e, false, takenBack
	}
	f.rejected, f.pending = 0, f.pending[:0]
	f.scale2 = lambdaSigma*rho(e/sigma)*f.scale2 + (1-lambdaSigma)*f.scale2
	f.st.step(f.c, v)
	return e, false, 0
}

// Verdict is what a Guard did with a value.
type Verdict int

// Verdicts of Guard.Observe.
const (
	// Learnt: the model observed the value.
	Learnt Verdict = iota
	// Held: the value was far below the forecast and observed as missing.
	Held
	// Recovered: a hold ended with a value near the forecast again; the
	// model observed it, and the held values stay unlearnt.
	Recovered
	// Changed: a hold grew longer than MaxRun and was taken back: the
	// model has now learnt every value since it began.
	Changed
)

// Guard screens the values a fitted model observes live, in one
// direction: a value far below the forecast (both more than AnomalyK
// robust standard deviations and AnomalyMinRelative of it: an outage's
// collapse) is observed as missing, so the model's state and forecast
// carry on from what the load was. A hold longer than MaxRun is a change,
// not an outage: it is taken back and learnt. Values above the forecast
// are always learnt: following a surge up only provisions more.
//
// "The forecast" here is that of a reference that runs the same model
// through the two-sided robust filter of Anomalies on its own state, so
// that a surge the model has learnt (a flash crowd) does not make the
// normal load after it look like a collapse.
//
// Without a guard, a model with a small α still drags its level and its
// AR(1) term down within minutes of a collapse, the scaler gives the
// replicas back, and the retry surge that ends an outage meets the
// smallest deployment of the day.
type Guard struct {
	m   *Model
	ref *rejectFilter
	// held counts the values of the current run observed as missing;
	// since holds every value since the run began, and before the model's
	// state then (nil for a run that began before the guard: it cannot be
	// replayed, and its values stay unlearnt if it is taken back).
	held   int
	since  []float64
	before *state
}

// NewGuard returns a guard over m, which was fitted on history and stands
// at its end; from then on, observe m only through the guard. The
// reference runs over history first, so that its scale is not inflated by
// the anomalies history held, and a collapse in progress at its end (a
// refit during an outage) is still held, and counts toward MaxRun. maxRun
// ≤ 0 means Anomalies' default (an eighth of the longest season, 60 steps
// without one). A model without a scale (constant) gets a guard that lets
// every value through.
func NewGuard(m *Model, history []float64, maxRun int) *Guard {
	g := &Guard{m: m}
	ref, ok := m.rejectFilter(history, maxRun)
	if !ok {
		return g
	}
	g.ref = ref
	for _, v := range history {
		e, rejected, _ := ref.step(v)
		switch {
		case rejected && e < 0:
			g.held++
		case !rejected && isFinite(e):
			g.held = 0
		}
	}
	if ref.rejected == 0 {
		g.held = 0
	}
	return g
}

// MaxRun is the longest run of values the guard keeps from the model
// before it takes the run as a change (0: it keeps none).
func (g *Guard) MaxRun() int {
	if g.ref == nil {
		return 0
	}
	return g.ref.maxRun
}

// Held is the number of values of the hold in progress that the model has
// not learnt; 0 when there is none.
func (g *Guard) Held() int { return g.held }

// Observe advances the model by one step with y, or with a missing value
// if y is held, and says which.
func (g *Guard) Observe(y float64) Verdict {
	m := g.m
	if g.ref == nil || m.constant {
		m.Observe(y)
		return Learnt
	}
	m.Next = m.Next.Add(m.Step)
	inRun := g.ref.rejected > 0
	if !inRun {
		g.since, g.before = g.since[:0], nil
	}
	e, rejected, back := g.ref.step(y)
	switch {
	case rejected:
		if !inRun {
			st := m.state.clone()
			g.before, g.held = &st, 0
		}
		g.since = append(g.since, y)
		if e < 0 {
			g.held++
			m.state.step(&m.coef, math.NaN())
			return Held
		}
		m.state.step(&m.coef, y)
		return Learnt
	case back > 0:
		if g.before != nil {
			m.state = g.before.clone()
			for _, w := range g.since {
				m.state.step(&m.coef, w)
			}
		}
		m.state.step(&m.coef, y)
		return g.endRun(Changed)
	case inRun && isFinite(e):
		m.state.step(&m.coef, y)
		return g.endRun(Recovered)
	default: // a gap, or a value outside any run
		if inRun {
			g.since = append(g.since, y)
		}
		m.state.step(&m.coef, y)
		return Learnt
	}
}

// endRun forgets the run that just ended, and returns how: ended if it
// held values, Learnt if it only learnt them (a surge).
func (g *Guard) endRun(ended Verdict) Verdict {
	wasHeld := g.held > 0
	g.held, g.since, g.before = 0, g.since[:0], nil
	if wasHeld {
		return ended
	}
	return Learnt
}
