package forecast

import (
	"fmt"
	"math"
)

// screenCycles is the number of cycles of the longest period a screened
// selection fits its seasonal candidates on: two to estimate the initial
// state from, one to score the one-step forecasts on.
const screenCycles = 3

// fitScreened is FitAuto with AutoOptions.Screen: a selection for one-step
// anomaly detection at a fifth of FitAuto's cost on a week of minutes,
// where the seasonal candidates, whose least-squares initial state has a
// component per phase, cost ten times the others. It differs from FitAuto
// in four ways.
//
//  1. The non-seasonal candidates are fitted to the whole history and
//     scored as FitAuto scores them, but with the coarse search only
//     (FitOptions.coarse): parameters good enough to rank by.
//  2. The seasonal candidates are the widest of each seasonality, (N,A)
//     and (N,M) with Taylor's AR(1) term, and the seasonal naive forecast:
//     at a one-step horizon the score is the error the parameters are
//     fitted on, so a model nested in another (λ = 0, or α ≤ SmoothAlpha)
//     scores about as well at best. They are fitted, coarsely, to the last
//     screenCycles cycles of the longest period only and scored on the
//     last cycle; the best non-seasonal candidate is scored there too,
//     with its parameters, and a seasonal candidate is chosen only if it
//     beats it there.
//  3. Only the chosen candidate is fitted to the whole history in full,
//     starting from its screened parameters (as Refit does), with shorter
//     least-squares solves of the state (FitOptions.quickState).
//  4. With ExcludeAnomalies, the anomaly test (Model.Anomalies) runs the
//     screened AR(1) model of the chosen seasonality over the whole
//     history (from a heuristic initial state, for a seasonal one) instead
//     of a model fitted for it, the family is chosen on the history with
//     its anomalies, and the chosen model's one full fit is on the history
//     without them.
func fitScreened(s Series, opts AutoOptions) (*Model, *Selection, error) {
	st, only, onlySel, err := startSelection(s, opts)
	if st == nil {
		return only, onlySel, err
	}
	sel, y, periods, fitOpts, n, from := st.sel, st.y, st.periods, st.fitOpts, st.n, st.from

	// The non-seasonal candidates, on the whole history.
	screen := func(c Candidate, on Series, from int, coarse bool) *Model {
		fo := fitOpts
		fo.Params, fo.maxAlpha = c.fixed, c.maxAlpha
		fo.scoreFrom, fo.initWindow, fo.coarse = from, from, coarse
		m, err := Fit(on, c.Spec, fo)
		switch {
		case err != nil:
			c.Skipped = err.Error()
		case !sameSpec(m.Spec, c.Spec):
			c.Skipped = "fell back to " + m.Spec.String()
		default:
			c.Params = m.Params.String()
			c.Score = m.score
		}
		sel.Candidates = append(sel.Candidates, c)
		if c.Skipped != "" {
			return nil
		}
		return m
	}
	var best, detector *Model
	sel.Criterion = fmt.Sprintf("least mean absolute error of 1..%d-step forecasts from origins after step %d", sel.Horizon, from)
	// The seasonal candidates on the last cycles, against the non-seasonal
	// AR(1) model there.
	if len(periods) > 0 {
		m := periods[len(periods)-1]
		w := min(n, screenCycles*m)
		window := s.Slice(n-w, n)
		wfrom := max(initPoints, w/4, initCyclesFor(w, m)*m)
		if w-wfrom >= 2*sel.Horizon {
			sel.Criterion = fmt.Sprintf("seasonal candidates fitted to the last %d steps and scored from step %d against %s there; ", w, n-w+wfrom, Spec{AR: true}) + sel.Criterion
			rival := screen(Candidate{Spec: Spec{AR: true}, Model: Spec{AR: true}.String() + " (screening)", Score: math.NaN()}, window, wfrom, true)
			for _, c := range screenCandidates(periods, positive(y)) {
				if rival == nil {
					break // no yardstick: the non-seasonal candidates decide
				}
				if c.Spec.Seasonality == SeasonMultiplicative && best == nil {
					// (N,M) only if (N,A) beat the non-seasonal model: the
					// two carry the same pattern, scaled with the level or
					// not, and one that does not help added seldom helps
					// multiplied. It saves a third of a screening.
					c.Skipped = "(N,A) did not beat the non-seasonal model"
					sel.Candidates = append(sel.Candidates, c)
					continue
				}
				fitted := screen(c, window, wfrom, true)
				if fitted == nil {
					continue
				}
				if c.fixed == nil && c.Spec.Seasonality == SeasonAdditive {
					detector = fitted // FitAuto's test uses additive seasonality
				}
				if fitted.score < rival.score && (best == nil || fitted.score < best.score) {
					best, sel.Chosen = fitted, len(sel.Candidates)-1
				}
			}
			if best == nil {
				detector = nil
			}
		}
	}
	// Without a season, or if no seasonal candidate won: the non-seasonal
	// candidates on the whole history, as FitAuto fits and scores them.
	if best == nil {
		bestScore := math.Inf(1)
		for _, c := range candidates(nil, false) {
			m := screen(c, s, from, false)
			if m == nil {
				continue
			}
			if c.Spec.AR {
				detector = m
			}
			if m.score < bestScore {
				best, bestScore, sel.Chosen = m, m.score, len(sel.Candidates)-1
			}
		}
	}
	if best == nil {
		sel.Criterion = "no candidate could be scored; fitted (N,N)"
		return fitOnly(s, Spec{}, FitOptions{Horizon: sel.Horizon}, sel)
	}
	chosen := sel.Candidates[sel.Chosen]

	history := s
	var notes []Note
	if opts.ExcludeAnomalies && detector != nil && (detector.Spec.Seasonality == SeasonNone) == (best.Spec.Seasonality == SeasonNone) {
		if cleaned, k := screenAnomalies(s, detector); k > 0 {
			history, sel.Anomalies = cleaned, k
			notes = append(notes, notef(NoteAnomalies, "%d values the screened model found wildly off were left out of the fit", k))
		}
	}
	fo := FitOptions{Horizon: sel.Horizon, MaxEvaluations: opts.MaxEvaluations, Params: chosen.fixed, maxAlpha: chosen.maxAlpha, quickState: true}
	if chosen.fixed == nil {
		fo.warm = &best.Params
	}
	m, err := Fit(history, chosen.Spec, fo)
	if err != nil {
		return nil, sel, err
	}
	if chosen.fixed == nil && sameSpec(m.Spec, chosen.Spec) {
		sel.warm = &m.Params
	}
	m.Notes = append(m.Notes, notes...)
	return m, sel, nil
}

// screenCandidates are fitScreened's seasonal candidates: the AR(1)
// model of each seasonality and the seasonal naive forecast.
func screenCandidates(periods []int, positive bool) []Candidate {
	var out []Candidate
	for _, c := range candidates(periods, positive) {
		if c.Spec.Seasonality != SeasonNone && (c.fixed != nil || c.Spec.AR && c.maxAlpha == 0) {
			out = append(out, c)
		}
	}
	return out
}

// screenAnomalies returns s without the values that detector finds wildly
// off (Model.Anomalies), and how many those are. A detector fitted to the
// end of s only is first run over the whole of s with its parameters, from
// a heuristic initial state.
func screenAnomalies(s Series, detector *Model) (Series, int) {
	d := detector
	if d.Fit.N != s.Valid() {
		var err error
		d, err = Fit(s, detector.Spec, FitOptions{Params: &detector.Params, Horizon: 1})
		if err != nil || !sameSpec(d.Spec, detector.Spec) {
			return s, 0
		}
	}
	cleaned := s.Clone()
	n := 0
	for i, bad := range d.Anomalies(s.Values, 0) {
		if bad {
			cleaned.Values[i] = math.NaN()
			n++
		}
	}
	return cleaned, n
}
