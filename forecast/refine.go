package forecast

import (
	"math"
	"math/bits"
	"sync"
)

// This file estimates the initial state by least squares for given
// smoothing parameters.
//
// The heuristic initial state (initialState) averages a few cycles; the
// least-squares one minimises the same one-step SSE as the smoothing
// parameters, as statsmodels' default initialization_method="estimated"
// does. statsmodels treats the m + 2 initial states as free parameters of
// a numerical optimiser, which costs m + 2 SSE evaluations per gradient;
// here the problem is solved as least squares with exact derivatives from
// two linear passes over the series.
//
// With x₀ the initial state (ℓ, b and the seasonal components), the
// one-step residuals a_t(x₀) of the additive model are affine in x₀:
// a(x₀ + δ) = a(x₀) + Zδ, where column j of Z is the response of the
// residuals to a unit change of the j-th initial state. The least-squares
// correction solves the normal equations ZᵀZ δ = −Zᵀa by conjugate
// gradients (CGLS, Björck 1996, §7.4), with Zv computed by a forward
// tangent pass of the recurrences and Zᵀw by its adjoint, a backward pass
// (Griewank & Walther 2008, ch. 3): O(n) each, without forming Z. For the
// multiplicative model, a is not affine in x₀, and the same solve gives
// Gauss-Newton steps, each accepted only if the SSE falls.

// refineRounds is the number of Gauss-Newton steps (one suffices for the
// additive model) and cgIterations bounds each conjugate-gradient solve of
// a fit's first estimate of the state; polishIterations, the second, from
// a state already close.
const (
	refineRounds     = 1
	cgIterations     = 10
	polishIterations = 4
	cgTolerance      = 1e-2
)

// trajectory records what the tangent and adjoint passes need of a forward
// pass: for each step, the predicted level B = ℓ + φb, the seasonal
// components used and the one-step error e (NaN when the value is
// missing); and, for the multiplicative model, the derivatives of the
// updates at that point, so that the passes multiply instead of divide.
type trajectory struct {
	c          *coef
	y          []float64
	base, e    []float64
	s0, s1     []float64
	m0, m1     int
	nSeas      int
	nVars      int
	offS0      int
	offS1      int
	startPhase [2]int
	// Multiplicative only, with S = s0·s1: invB = 1/B, inv0 = 1/s0,
	// inv1 = 1/s1, ys = α·y/S².
	invB, inv0, inv1, ys []float64
	// a holds the buffer of the residuals of a spare trajectory
	// (putSpare); nil otherwise.
	a []float64
}

// newTrajectory runs st (not modified) over y, recording the trajectory,
// and returns it with the residuals a_t (0 where y is missing) and their SSE.
func newTrajectory(c *coef, st *state, y []float64) (*trajectory, []float64, float64) {
	return reuseTrajectory(nil, nil, c, st, y)
}

// reuseTrajectory is newTrajectory recording into the buffers of spare and
// spareA, a trajectory and residuals no longer needed (nil: new ones), so
// that a line search does not allocate a trajectory per trial step.
func reuseTrajectory(spare *trajectory, spareA []float64, c *coef, st *state, y []float64) (*trajectory, []float64, float64) {
	n := len(y)
	if spare != nil && spareA == nil {
		spareA = spare.a
	}
	buf := func(old []float64) []float64 {
		if cap(old) >= n {
			return old[:n]
		}
		return make([]float64, n)
	}
	if spare == nil {
		spare = &trajectory{}
	}
	tr := &trajectory{
		c: c, y: y, base: buf(spare.base), e: buf(spare.e),
		s0: buf(spare.s0), s1: buf(spare.s1),
		m0: len(st.season[0]), m1: len(st.season[1]), nSeas: st.nSeas, startPhase: st.phase,
	}
	tr.offS0, tr.offS1, tr.nVars = 2, 2, 2
	if tr.nSeas >= 1 {
		tr.offS1 = 2 + tr.m0
		tr.nVars += tr.m0
	}
	if tr.nSeas == 2 {
		tr.nVars += tr.m1
	}
	if c.mult {
		tr.invB, tr.inv0, tr.inv1, tr.ys = buf(spare.invB), buf(spare.inv0), buf(spare.inv1), buf(spare.ys)
	}
	a := buf(spareA)
	switch {
	case !c.mult && st.nSeas == 0:
		return tr, a, tr.recordLevel(st, a)
	case !c.mult && st.nSeas == 1:
		return tr, a, tr.recordSeason(st, a)
	case c.mult && st.nSeas == 1:
		return tr, a, tr.recordSeasonMult(st, a)
	}
	w := st.clone()
	var sse float64
	for t, v := range y {
		tr.base[t] = w.level + c.phi*w.slope
		tr.s0[t] = w.season[0][w.phase[0]]
		tr.s1[t] = w.season[1][w.phase[1]]
		if c.mult {
			tr.invB[t], tr.inv0[t], tr.inv1[t] = 1/tr.base[t], 1/tr.s0[t], 1/tr.s1[t]
			is := tr.inv0[t] * tr.inv1[t]
			tr.ys[t] = c.alpha * v * is * is
		}
		r := w.resid
		yhat := w.step(c, v) // the prediction adjusted by λ·r
		if isFinite(v) {
			a[t] = v - yhat
			tr.e[t] = a[t] + c.lambda*r
			sse += a[t] * a[t]
		} else {
			a[t], tr.e[t] = 0, math.NaN()
		}
	}
	return tr, a, sse
}

// recordLevel is the loop of reuseTrajectory for the additive model
// without a season: state.step's recurrences with the seasonal terms,
// which stay 0, left out, so that a non-seasonal fit's passes cost a
// fraction of the generic step's (the values are the same: x + 0 = x).
func (tr *trajectory) recordLevel(st *state, a []float64) float64 {
	c := tr.c
	level, slope, resid := st.level, st.slope, st.resid
	alpha, ab, phi, lambda := c.alpha, c.alpha*c.beta, c.phi, c.lambda
	var sse float64
	for t, v := range tr.y {
		trend := phi * slope
		base := level + trend
		tr.base[t], tr.s0[t], tr.s1[t] = base, 0, 0
		r := resid
		if isFinite(v) {
			e := v - base
			resid = e
			level = base + alpha*e
			slope = trend + ab*e
			a[t] = v - (base + lambda*r)
			tr.e[t] = a[t] + lambda*r
			sse += a[t] * a[t]
		} else {
			level, slope = base, trend
			resid *= lambda
			a[t], tr.e[t] = 0, math.NaN()
		}
	}
	return sse
}

// recordSeason is the loop of reuseTrajectory for the additive model with
// one season: state.step's recurrences with the second season, whose one
// placeholder component stays 0 (γ = 0), left out, and the seasonal
// components updated in a scratch copy instead of a clone of st. The
// operations on the values that remain are state.step's, in its order, so
// the trajectory is the generic loop's to the last bit: ŷ = (B + s0) + 0
// is B + s0, and x − x = 0 tests for a finite value as isFinite does.
func (tr *trajectory) recordSeason(st *state, a []float64) float64 {
	c := tr.c
	season := scratch(tr.m0)
	defer release(season)
	copy(season, st.season[0])
	j, m := st.phase[0], tr.m0
	level, slope, resid := st.level, st.slope, st.resid
	alpha, ab, phi, lambda, g := c.alpha, c.alpha*c.beta, c.phi, c.lambda, c.gamma[0]
	var sse float64
	for t, v := range tr.y {
		trend := phi * slope
		base := level + trend
		s := season[j]
		tr.base[t], tr.s0[t], tr.s1[t] = base, s, 0
		yhat := base + s
		r := resid
		adjusted := yhat + lambda*r
		if v-v == 0 { // finite
			e := v - yhat
			resid = e
			level = base + alpha*e
			slope = trend + ab*e
			season[j] = s + g*e
			a[t] = v - adjusted
			tr.e[t] = a[t] + lambda*r
			sse += a[t] * a[t]
		} else {
			level, slope = base, trend
			resid *= lambda
			a[t], tr.e[t] = 0, math.NaN()
		}
		if j++; j == m {
			j = 0
		}
	}
	return sse
}

// recordSeasonMult is recordSeason for the multiplicative model: state.step's
// multiplicative branch with the second season's placeholder (1, with
// γ = 0) left out, where S = s0·1 is s0, 1/S² is (1/s0)², and its update
// of s0 by γ·e/(B·1) is γ·e/B.
func (tr *trajectory) recordSeasonMult(st *state, a []float64) float64 {
	c := tr.c
	season := scratch(tr.m0)
	defer release(season)
	copy(season, st.season[0])
	j, m := st.phase[0], tr.m0
	level, slope, resid := st.level, st.slope, st.resid
	alpha, beta, phi, lambda, g := c.alpha, c.beta, c.phi, c.lambda, c.gamma[0]
	var sse float64
	for t, v := range tr.y {
		trend := phi * slope
		base := level + trend
		s := season[j]
		i0 := 1 / s
		tr.base[t], tr.s0[t], tr.s1[t] = base, s, 1
		tr.invB[t], tr.inv0[t], tr.inv1[t] = 1/base, i0, 1
		tr.ys[t] = alpha * v * i0 * i0
		yhat := base * s
		r := resid
		adjusted := yhat + lambda*r
		if v-v == 0 { // finite
			e := v - yhat
			resid = e
			if base == 0 || s == 0 {
				level, slope = base, trend
			} else {
				l := alpha*v/s + (1-alpha)*base
				slope = trend + beta*(l-base)
				level = l
				season[j] = s + g*(e/base)
			}
			a[t] = v - adjusted
			tr.e[t] = a[t] + lambda*r
			sse += a[t] * a[t]
		} else {
			level, slope = base, trend
			resid *= lambda
			a[t], tr.e[t] = 0, math.NaN()
		}
		if j++; j == m {
			j = 0
		}
	}
	return sse
}

// tangent returns Zv: the change of each residual a_t for a change v of the
// initial state (ℓ, b, season 0, season 1), in out (length n).
//
// The tangent recurrences, with dB = dℓ + φ·db, are, for the additive model,
//
//	dE = −(dB + ds0 + ds1),  dℓ' = dB + α·dE,  db' = φ·db + αβ·dE,  dsk' = dsk + γk·dE
//
// and for the multiplicative one (S = s0·s1, dS = ds0·s1 + s0·ds1)
//
//	dE  = −(dB·S + B·dS)
//	dℓ' = −αy·dS/S² + (1−α)·dB,  db' = φ·db + β(dℓ' − dB)
//	ds0' = ds0 + γ0/(B·s1)·(dE − e·(dB/B + ds1/s1)), and ds1' likewise;
//
// with dr' = dE and a residual change dE − λ·dr; a missing value gives
// dℓ' = dB, db' = φ·db, dr' = λ·dr.
func (tr *trajectory) tangent(v, out []float64) {
	c := tr.c
	L, B, R := v[0], v[1], 0.0
	s0, s1 := scratch(tr.m0), scratch(tr.m1)
	defer release(s0, s1)
	clear(s0)
	clear(s1)
	if tr.nSeas >= 1 {
		copy(s0, v[tr.offS0:tr.offS0+tr.m0])
	}
	if tr.nSeas == 2 {
		copy(s1, v[tr.offS1:tr.offS1+tr.m1])
	}
	j0, j1 := tr.startPhase[0], tr.startPhase[1]
	alpha, ab, phi, lambda, g0, g1 := c.alpha, c.alpha*c.beta, c.phi, c.lambda, c.gamma[0], c.gamma[1]
	if tr.nSeas == 0 && !c.mult && phi == 0 && ab == 0 {
		// Nor a trend: the slope's terms are 0 too.
		for t := range tr.y {
			if e := tr.e[t]; e != e {
				out[t] = 0
				R = lambda * R
				continue
			}
			dE := -L
			L += alpha * dE
			out[t] = dE - lambda*R
			R = dE
		}
		return
	}
	if tr.nSeas == 0 && !c.mult {
		// Without a season: the default case below without its seasonal
		// terms, which stay 0.
		for t := range tr.y {
			dBase := L + phi*B
			if e := tr.e[t]; e != e {
				out[t] = 0
				L, B, R = dBase, phi*B, lambda*R
				continue
			}
			dE := -dBase
			L = dBase + alpha*dE
			B = phi*B + ab*dE
			out[t] = dE - lambda*R
			R = dE
		}
		return
	}
	if tr.nSeas == 1 && !c.mult && phi == 0 && ab == 0 {
		// One season and no trend: the default case below without the
		// second season's terms and the slope's, which stay 0.
		for t := range tr.y {
			if e := tr.e[t]; e != e {
				out[t] = 0
				R = lambda * R
			} else {
				dE := -(L + s0[j0])
				L += alpha * dE
				s0[j0] += g0 * dE
				out[t] = dE - lambda*R
				R = dE
			}
			if j0++; j0 == tr.m0 {
				j0 = 0
			}
		}
		return
	}
	if tr.nSeas == 1 && !c.mult {
		// One season: the default case below without the second
		// season's terms, which stay 0.
		for t := range tr.y {
			dBase := L + phi*B
			if e := tr.e[t]; e != e {
				out[t] = 0
				L, B, R = dBase, phi*B, lambda*R
			} else {
				dE := -(dBase + s0[j0])
				L = dBase + alpha*dE
				B = phi*B + ab*dE
				s0[j0] += g0 * dE
				out[t] = dE - lambda*R
				R = dE
			}
			if j0++; j0 == tr.m0 {
				j0 = 0
			}
		}
		return
	}
	if tr.nSeas == 1 && c.mult && phi == 0 && c.beta == 0 {
		// One multiplicative season and no trend: the multiplicative case
		// below with S1 = 1, ds1 = 0 and db = 0.
		for t := range tr.y {
			if e := tr.e[t]; e != e {
				out[t] = 0
				R = lambda * R
			} else {
				S0, base, iB := tr.s0[t], tr.base[t], tr.invB[t]
				d0 := s0[j0]
				dE := -(L*S0 + base*d0)
				dL := -tr.ys[t]*d0 + (1-alpha)*L
				s0[j0] = d0 + g0*iB*(dE-e*(L*iB))
				L = dL
				out[t] = dE - lambda*R
				R = dE
			}
			if j0++; j0 == tr.m0 {
				j0 = 0
			}
		}
		return
	}
	for t := range tr.y {
		dBase := L + phi*B
		switch e := tr.e[t]; {
		case e != e: // missing
			out[t] = 0
			L, B, R = dBase, phi*B, lambda*R
		case c.mult:
			S0, S1, base, iB := tr.s0[t], tr.s1[t], tr.base[t], tr.invB[t]
			d0, d1 := s0[j0], s1[j1]
			dS := d0*S1 + S0*d1
			dE := -(dBase*S0*S1 + base*dS)
			dL := -tr.ys[t]*dS + (1-alpha)*dBase
			B = phi*B + c.beta*(dL-dBase)
			L = dL
			u := dBase * iB
			s0[j0] = d0 + g0*iB*tr.inv1[t]*(dE-e*(u+d1*tr.inv1[t]))
			s1[j1] = d1 + g1*iB*tr.inv0[t]*(dE-e*(u+d0*tr.inv0[t]))
			out[t] = dE - lambda*R
			R = dE
		default:
			dE := -(dBase + s0[j0] + s1[j1])
			L = dBase + alpha*dE
			B = phi*B + ab*dE
			s0[j0] += g0 * dE
			s1[j1] += g1 * dE
			out[t] = dE - lambda*R
			R = dE
		}
		if j0++; j0 == tr.m0 {
			j0 = 0
		}
		if j1++; j1 == tr.m1 {
			j1 = 0
		}
	}
}

// adjoint returns Zᵀw in out (length nVars): the backward pass of tangent,
// each step's adjoint being the transpose of its tangent map.
func (tr *trajectory) adjoint(w, out []float64) {
	c := tr.c
	n := len(tr.y)
	var L, B, R float64 // adjoints of the state after step t
	s0, s1 := scratch(tr.m0), scratch(tr.m1)
	defer release(s0, s1)
	clear(s0)
	clear(s1)
	j0 := (tr.startPhase[0] + n - 1) % tr.m0
	j1 := (tr.startPhase[1] + n - 1) % tr.m1
	alpha, beta, ab, phi, lambda, g0, g1 := c.alpha, c.beta, c.alpha*c.beta, c.phi, c.lambda, c.gamma[0], c.gamma[1]
	if tr.nSeas == 0 && !c.mult && phi == 0 && ab == 0 {
		// Nor a trend: the slope's terms are 0 too.
		for t := n - 1; t >= 0; t-- {
			if e := tr.e[t]; e != e {
				R = lambda * R
				continue
			}
			bE := w[t] + R + alpha*L
			R = -lambda * w[t]
			L -= bE
		}
		clear(out)
		out[0] = L
		return
	}
	if tr.nSeas == 0 && !c.mult {
		// Without a season: the default case below without its seasonal
		// terms (γ = 0).
		for t := n - 1; t >= 0; t-- {
			if e := tr.e[t]; e != e {
				B, R = phi*(L+B), lambda*R
				continue
			}
			bE := w[t] + R + alpha*L + ab*B
			bBase := L - bE
			R = -lambda * w[t]
			B = phi*bBase + phi*B
			L = bBase
		}
		clear(out)
		out[0], out[1] = L, B
		return
	}
	if tr.nSeas == 1 && !c.mult && phi == 0 && ab == 0 {
		// One season and no trend: the default case below without the
		// second season's terms and the slope's (γ₁ = φ = αβ = 0).
		for t := n - 1; t >= 0; t-- {
			if e := tr.e[t]; e != e {
				R = lambda * R
			} else {
				bE := w[t] + R + alpha*L + g0*s0[j0]
				s0[j0] -= bE
				R = -lambda * w[t]
				L -= bE
			}
			if j0--; j0 < 0 {
				j0 = tr.m0 - 1
			}
		}
		clear(out)
		out[0] = L
		copy(out[tr.offS0:tr.offS0+tr.m0], s0)
		return
	}
	if tr.nSeas == 1 && !c.mult {
		// One season: the default case below without the second
		// season's terms (γ₁ = 0).
		for t := n - 1; t >= 0; t-- {
			if e := tr.e[t]; e != e {
				B, R = phi*(L+B), lambda*R
			} else {
				bE := w[t] + R + alpha*L + ab*B + g0*s0[j0]
				bBase := L - bE
				s0[j0] -= bE
				R = -lambda * w[t]
				B = phi*bBase + phi*B
				L = bBase
			}
			if j0--; j0 < 0 {
				j0 = tr.m0 - 1
			}
		}
		clear(out)
		out[0], out[1] = L, B
		copy(out[tr.offS0:tr.offS0+tr.m0], s0)
		return
	}
	if tr.nSeas == 1 && c.mult && phi == 0 && beta == 0 {
		// One multiplicative season and no trend: the multiplicative case
		// below with S1 = 1 and the terms of s1 and b, which are 0, left out.
		for t := n - 1; t >= 0; t-- {
			if e := tr.e[t]; e != e {
				R = lambda * R
			} else {
				S0, base, iB := tr.s0[t], tr.base[t], tr.invB[t]
				b0 := s0[j0]
				k0 := g0 * iB * b0
				bE := w[t] + R + k0
				bBase := (1-alpha)*L - k0*e*iB - S0*bE
				s0[j0] = b0 + (-tr.ys[t]*L - base*bE)
				R = -lambda * w[t]
				L = bBase
			}
			if j0--; j0 < 0 {
				j0 = tr.m0 - 1
			}
		}
		clear(out)
		out[0] = L
		copy(out[tr.offS0:tr.offS0+tr.m0], s0)
		return
	}
	for t := n - 1; t >= 0; t-- {
		switch e := tr.e[t]; {
		case e != e: // missing: dℓ' = dB, db' = φ·db, dr' = λ·dr
			B, R = phi*(L+B), lambda*R
		case c.mult:
			S0, S1, base, iB, i0, i1 := tr.s0[t], tr.s1[t], tr.base[t], tr.invB[t], tr.inv0[t], tr.inv1[t]
			b0, b1 := s0[j0], s1[j1] // adjoints of ds0', ds1'
			k0, k1 := g0*iB*i1*b0, g1*iB*i0*b1
			bE := w[t] + R + k0 + k1
			bL := L + beta*B // dℓ' feeds ℓ' and b'
			bBase := (1-alpha)*bL - beta*B - (k0+k1)*e*iB - S0*S1*bE
			bS := -tr.ys[t]*bL - base*bE
			s0[j0] = b0 + S1*bS - k1*e*i0
			s1[j1] = b1 + S0*bS - k0*e*i1
			R = -lambda * w[t]
			B = phi*bBase + phi*B
			L = bBase
		default:
			bE := w[t] + R + alpha*L + ab*B + g0*s0[j0] + g1*s1[j1]
			bBase := L - bE
			s0[j0] -= bE
			s1[j1] -= bE
			R = -lambda * w[t]
			B = phi*bBase + phi*B
			L = bBase
		}
		if j0--; j0 < 0 {
			j0 = tr.m0 - 1
		}
		if j1--; j1 < 0 {
			j1 = tr.m1 - 1
		}
	}
	clear(out)
	out[0], out[1] = L, B
	if tr.nSeas >= 1 {
		copy(out[tr.offS0:tr.offS0+tr.m0], s0)
	}
	if tr.nSeas == 2 {
		copy(out[tr.offS1:tr.offS1+tr.m1], s1)
	}
}

// vars returns the initial state of st as a vector (ℓ, b, season 0,
// season 1), and apply writes such a vector back.
func (tr *trajectory) vars(st *state) []float64 {
	x := make([]float64, tr.nVars)
	x[0], x[1] = st.level, st.slope
	if tr.nSeas >= 1 {
		copy(x[tr.offS0:], st.season[0])
	}
	if tr.nSeas == 2 {
		copy(x[tr.offS1:], st.season[1])
	}
	return x
}

func (tr *trajectory) apply(st *state, x []float64) {
	st.level, st.slope = x[0], x[1]
	if tr.nSeas >= 1 {
		copy(st.season[0], x[tr.offS0:tr.offS0+tr.m0])
	}
	if tr.nSeas == 2 {
		copy(st.season[1], x[tr.offS1:tr.offS1+tr.m1])
	}
}

// refineState returns the initial state that minimises the one-step SSE of
// c over y, starting from st0, and that SSE. Steps that do not lower the SSE
// are refused, so the result is never worse than st0.
func refineState(c *coef, st0 state, y []float64, iterations int) (state, float64) {
	best := st0.clone()
	tr, a, bestSSE := reuseTrajectory(getSpare(), nil, c, &best, y)
	spare, spareA := getSpare(), []float64(nil) // buffers for a trial step
	defer func() { putSpare(tr, a); putSpare(spare, spareA) }()
	rounds := refineRounds
	if !c.mult {
		rounds = 1 // affine residuals: one exact solve
	}
	for range rounds {
		delta := cgls(tr, a, iterations)
		if delta == nil {
			break
		}
		x := tr.vars(&best)
		improved := false
		for step := 1.0; step > 1.0/64; step /= 2 {
			cand := best.clone()
			xs := make([]float64, len(x))
			for i := range x {
				xs[i] = x[i] + step*delta[i]
			}
			tr.apply(&cand, xs)
			ntr, na, sse := reuseTrajectory(spare, spareA, c, &cand, y)
			if sse < bestSSE && isFinite(sse) {
				spare, spareA = tr, a
				best, bestSSE, tr, a = cand, sse, ntr, na
				improved = true
				break
			}
			spare, spareA = ntr, na
		}
		if !improved {
			break
		}
	}
	centreState(&best, c.mult)
	return best, bestSSE
}

// spareTrajectories keeps the buffers of the trajectories refineState is
// done with for the next one: a trajectory of a week of minutes is six to
// ten arrays of 10,080 values, and collecting them took a third of a fit's
// time. The trajectory's residuals go with it, in its a field.
var spareTrajectories sync.Pool // of *trajectory

// getSpare returns a trajectory whose buffers may be reused, or nil.
func getSpare() *trajectory {
	tr, _ := spareTrajectories.Get().(*trajectory)
	return tr
}

// putSpare keeps the buffers of tr and its residuals a for reuse.
func putSpare(tr *trajectory, a []float64) {
	if tr == nil {
		return
	}
	spareTrajectories.Put(&trajectory{base: tr.base, e: tr.e, s0: tr.s0, s1: tr.s1, invB: tr.invB, inv0: tr.inv0, inv1: tr.inv1, ys: tr.ys, a: a})
}

// centreState moves the mean of each additive season into the level (for a
// multiplicative season, scales the level and slope by its mean and the
// season by its inverse). Forecasts do not change: ℓ + c with every s − c
// gives the same predictions and updates for ever, and likewise ℓ·c, b·c
// with s/c. But the least-squares solve cannot tell them apart, and when α
// and γ are both near 0 it may wander far along that direction; centring
// keeps the state where the heuristic would put it.
func centreState(st *state, mult bool) {
	for k := range st.nSeas {
		s := st.season[k]
		mean := 0.0
		for _, v := range s {
			mean += v
		}
		mean /= float64(len(s))
		switch {
		case mult && mean > 0 && isFinite(mean):
			for j := range s {
				s[j] /= mean
			}
			st.level *= mean
			st.slope *= mean
		case !mult && isFinite(mean):
			for j := range s {
				s[j] -= mean
			}
			st.level += mean
		}
	}
}

// cgls solves min ‖a + Zδ‖² for δ by conjugate gradients on the normal
// equations, or returns nil if the gradient is already negligible.
//
// The columns of Z differ in scale by orders of magnitude: a change of the
// level moves every prediction, one of a seasonal component one prediction
// a cycle, one of the slope a growing amount. The solve is therefore
// preconditioned by column scaling (Jacobi on ZᵀZ): δ = Du with
// D = diag(1/‖z_j‖), the norms measured by tangent passes for the level,
// the slope and the first component of each season (the seasonal columns
// are shifted copies of one another but for the ends of the series).
func cgls(tr *trajectory, a []float64, iterations int) []float64 {
	n := len(a)
	scale := tr.columnScale()
	r := make([]float64, tr.nVars) // −DZᵀ(a + ZDu)
	tr.adjoint(a, r)
	for i := range r {
		r[i] = -r[i] * scale[i]
	}
	rr := dot(r, r)
	if rr == 0 || !isFinite(rr) {
		return nil
	}
	rr0 := rr
	u := make([]float64, tr.nVars)
	p := append([]float64(nil), r...)
	dp := make([]float64, tr.nVars)
	q := scratch(n) // tangent writes every element
	defer release(q)
	zq := make([]float64, tr.nVars)
	for range iterations {
		for i := range p {
			dp[i] = scale[i] * p[i]
		}
		tr.tangent(dp, q)
		qq := dot(q, q)
		if qq == 0 || !isFinite(qq) {
			break
		}
		step := rr / qq
		for i := range u {
			u[i] += step * p[i]
		}
		tr.adjoint(q, zq)
		for i := range r {
			r[i] -= step * scale[i] * zq[i]
		}
		next := dot(r, r)
		if next <= cgTolerance*cgTolerance*rr0 {
			break
		}
		for i := range p {
			p[i] = r[i] + next/rr*p[i]
		}
		rr = next
	}
	for i := range u {
		u[i] *= scale[i]
	}
	return u
}

// columnScale returns 1/‖z_j‖ for each variable: measured for the level,
// the slope and the first component of each season, and the seasonal
// value for every component of its season; 1 for a column of zeros.
func (tr *trajectory) columnScale() []float64 {
	scale := make([]float64, tr.nVars)
	v := make([]float64, tr.nVars)
	z := scratch(len(tr.y)) // tangent writes every element
	defer release(z)
	norm := func(j int) float64 {
		clear(v)
		v[j] = 1
		tr.tangent(v, z)
		if nn := math.Sqrt(dot(z, z)); nn > 0 && isFinite(nn) {
			return 1 / nn
		}
		return 1
	}
	scale[0], scale[1] = norm(0), 1
	if tr.c.phi != 0 {
		// Without a trend (φ = 0) the slope's column is 0: dB = dℓ + 0·db.
		scale[1] = norm(1)
	}
	for k, off := range []int{tr.offS0, tr.offS1}[:tr.nSeas] {
		m := []int{tr.m0, tr.m1}[k]
		s := norm(off)
		for j := range m {
			scale[off+j] = s
		}
	}
	return scale
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// scratchBuffers keeps the O(n) work arrays that a fit allocates and drops
// many times over (the conjugate-gradient passes, the moving averages of
// the initial state), so that a week of minutes does not cost a collection
// every few fits.
var scratchBuffers sync.Pool // of *[]float64

// scratch returns a slice of n float64s with arbitrary contents. Its
// capacity is a power of two, so that a buffer serves the other lengths of
// a fit (a week, its windows, a season) too.
func scratch(n int) []float64 {
	if p, ok := scratchBuffers.Get().(*[]float64); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float64, n, 1<<bits.Len(uint(n)))
}

// release gives slices from scratch back; they must not be used after.
func release(bufs ...[]float64) {
	for _, b := range bufs {
		scratchBuffers.Put(&b)
	}
}
