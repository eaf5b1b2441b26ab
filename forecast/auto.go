package forecast

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// AutoOptions tune FitAuto. The zero value detects the season and scores a
// 60-step horizon.
type AutoOptions struct {
	// Periods fixes the seasonal periods, in steps, instead of detecting
	// them; NoSeason fits non-seasonal models only.
	Periods  []int
	NoSeason bool
	// ExcludeAnomalies refits without the values the chosen model finds
	// wildly off (Model.Anomalies), so that an outage nobody declared does
	// not drag the forecast.
	ExcludeAnomalies bool
	// Horizon is the forecast horizon, in steps, that candidates are
	// scored on and the band is estimated for. 0 means 60.
	Horizon int
	// MaxEvaluations bounds each fit's optimiser; 0 means Fit's default.
	MaxEvaluations int
	// Screen chooses the model the cheap way, for one-step anomaly
	// detection (Horizon 1) on long histories: the widest candidate of each
	// family, fitted on the last three cycles of the history only, and one
	// full fit of the chosen one (see fitScreened). Off by default; its
	// choice is not FitAuto's.
	Screen bool
}

// Candidate is one model FitAuto tried.
type Candidate struct {
	Spec Spec `json:"-"`
	// fixed, if set, are parameters the candidate uses unfitted;
	// maxAlpha, if positive, bounds its α.
	fixed    *Params
	maxAlpha float64
	Model    string `json:"model"`
	Params   string `json:"params,omitempty"`
	// Score is the mean absolute error of its 1..Horizon-step forecasts
	// (see FitAuto); NaN if it could not be fitted.
	Score float64 `json:"score"`
	// Skipped says why it was not fitted, if it was not.
	Skipped string `json:"skipped,omitempty"`
}

// MarshalJSON writes a NaN Score as null.
func (c Candidate) MarshalJSON() ([]byte, error) {
	type plain Candidate
	out := struct {
		plain
		Score *float64 `json:"score"`
	}{plain: plain(c)}
	if isFinite(c.Score) {
		out.Score = &c.Score
	}
	return json.Marshal(out)
}

// Selection reports how FitAuto chose its model.
type Selection struct {
	Season     SeasonReport `json:"season"`
	Candidates []Candidate  `json:"candidates"`
	Chosen     int          `json:"chosen"`
	Criterion  string       `json:"criterion"`
	// ScoredFrom is the first origin (index into the history) of the
	// forecasts the candidates are scored on.
	ScoredFrom int `json:"scored_from"`
	// Anomalies counts the values left out as anomalies, with
	// AutoOptions.ExcludeAnomalies.
	Anomalies int `json:"anomalies"`

	// warm holds the parameters of the last fit of the chosen model, for
	// Refit to start from.
	warm    *Params
	Horizon int `json:"horizon"`
}

// FitAuto detects the season (unless told the periods), fits every
// candidate model to the history, and chooses the one whose forecasts have
// the least mean absolute error for horizons 1 to Horizon, from origins
// spread over the part of the history after the cycles the initial states
// were estimated from: the error that matters to a caller who looks that
// far ahead, rather than the one-step error the parameters are fitted on.
// Each forecast uses only the values before its origin, an initial state
// estimated from the values before the first origin, and the fitted
// smoothing parameters (two to four numbers for the whole history), so the
// score is nearly out-of-sample, over days of origins rather than the one
// day a hold-out could spare. The chosen model is then refitted with its
// initial state estimated from the whole history.
//
// The candidates are (N,N), and with a season (N,A) and, for positive
// series, (N,M); each also with Taylor's AR(1) adjustment; the seasonal
// AR(1) models once more with a smooth level (α ≤ SmoothAlpha), where the
// AR term rather than the level carries the latest deviation, and lets it
// fade over the horizon instead of holding it (Taylor's intraday setting;
// on the shared traces it cut the all-day error of the synthetic ones by
// a quarter); and the two naive forecasts as benchmarks, as Holt-Winters with fixed parameters: the
// last value, (N,N) with α = 1, and the value one season earlier, (N,A)
// with α = 0 and γ = 1. Trend models are left out: on minute data a slope
// fitted to the last minutes extrapolates noise over an hour, and the
// level follows real trends anyway; on the shared traces, adding the damped
// trend models made the chosen forecasts worse (Fit still fits them on
// request). A history too short to leave a cycle for scoring gets (N,A)
// when a season is known, (N,N) otherwise, and says so. Hyndman et al.
// (2008, §7.2) choose by AICc, which counts parameters but scores one-step
// errors: on minute data the horizon is what separates the models.
func FitAuto(s Series, opts AutoOptions) (*Model, *Selection, error) {
	if opts.Screen {
		return fitScreened(s, opts)
	}
	if !opts.ExcludeAnomalies {
		return fitAuto(s, opts)
	}
	m, sel, err := fitAuto(s, opts)
	if err != nil {
		return m, sel, err
	}
	// The test is on one-step errors: use the model fitted for them, with
	// the chosen season and Taylor's AR(1) term.
	detector, err := Fit(s, detectorSpec(m, sel), FitOptions{})
	if err != nil {
		m.Notes = append(m.Notes, notef(NoteAnomalies, "no values were left out: the anomaly test could not be fitted: %v", err))
		return m, sel, nil
	}
	flags := detector.Anomalies(s.Values, 0)
	cleaned := s.Clone()
	n := 0
	for i, bad := range flags {
		if bad {
			cleaned.Values[i] = math.NaN()
			n++
		}
	}
	if n == 0 {
		return m, sel, nil
	}
	m, sel, err = fitAuto(cleaned, opts)
	if sel != nil {
		sel.Anomalies = n
	}
	if m != nil {
		m.Notes = append(m.Notes, notef(NoteAnomalies, "%d values the first fit found wildly off were left out and the model refitted", n))
	}
	return m, sel, err
}

// detectorSpec is the model of the anomaly test for a chosen model m:
// (N,A) with the selection's season and AR(1) when m is seasonal, (N,N)
// with AR(1) when it is not. A non-seasonal choice must not carry the
// detected periods: that spec is invalid, and the test was once skipped
// without a word whenever a season was detected but not chosen.
func detectorSpec(m *Model, sel *Selection) Spec {
	if m.Spec.Seasonality == SeasonNone || len(sel.Season.Periods) == 0 {
		return Spec{AR: true}
	}
	return Spec{Seasonality: SeasonAdditive, Periods: sel.Season.Periods, AR: true}
}

func fitAuto(s Series, opts AutoOptions) (*Model, *Selection, error) {
	st, only, onlySel, err := startSelection(s, opts)
	if st == nil {
		return only, onlySel, err
	}
	sel, y, periods, fitOpts, from := st.sel, st.y, st.periods, st.fitOpts, st.from

	fitOpts.scoreFrom, fitOpts.initWindow = from, from
	var best *Model
	for _, c := range candidates(periods, positive(y)) {
		spec := c.Spec
		fo := fitOpts
		fo.Params, fo.maxAlpha = c.fixed, c.maxAlpha
		m, err := Fit(s, spec, fo)
		switch {
		case err != nil:
			c.Skipped = err.Error()
		case !sameSpec(m.Spec, spec):
			c.Skipped = "fell back to " + m.Spec.String()
		default:
			c.Params = m.Params.String()
			c.Score = m.score
		}
		sel.Candidates = append(sel.Candidates, c)
		if !math.IsNaN(c.Score) && (best == nil || c.Score < sel.Candidates[sel.Chosen].Score) {
			best, sel.Chosen = m, len(sel.Candidates)-1
		}
	}
	if best == nil {
		sel.Criterion = "no candidate could be scored; fitted (N,N)"
		return fitOnly(s, Spec{}, FitOptions{Horizon: sel.Horizon}, sel)
	}
	sel.Criterion = fmt.Sprintf("least mean absolute error of 1..%d-step forecasts from origins after step %d", sel.Horizon, from)
	chosen := sel.Candidates[sel.Chosen]
	if chosen.fixed != nil {
		return best, sel, nil // no state was estimated
	}
	// Refit with the initial state estimated from the whole history.
	m, err := Fit(s, chosen.Spec, FitOptions{Horizon: sel.Horizon, MaxEvaluations: opts.MaxEvaluations, maxAlpha: chosen.maxAlpha})
	if err != nil {
		return nil, sel, err
	}
	sel.warm = &m.Params
	return m, sel, nil
}

// fitOnly fits spec, records it as the one candidate, chosen, and returns it.
func fitOnly(s Series, spec Spec, opts FitOptions, sel *Selection) (*Model, *Selection, error) {
	m, err := Fit(s, spec, opts)
	if err != nil {
		return nil, sel, err
	}
	sel.Candidates = append(sel.Candidates, Candidate{Spec: m.Spec, Model: m.Spec.String(), Params: m.Params.String(), Score: math.NaN()})
	sel.Chosen = len(sel.Candidates) - 1
	return m, sel, nil
}

func sameSpec(a, b Spec) bool {
	return a.Trend == b.Trend && a.Seasonality == b.Seasonality && a.AR == b.AR && slices.Equal(a.Periods, b.Periods)
}

// candidates lists the models FitAuto tries: fitted ones, smooth-level
// variants (α ≤ SmoothAlpha) of the seasonal AR(1) ones, and the naive
// benchmarks with fixed parameters.
func candidates(periods []int, positive bool) []Candidate {
	var out []Candidate
	add := func(spec Spec, fixed *Params, maxAlpha float64) {
		c := Candidate{Spec: spec, Model: spec.String(), Score: math.NaN(), fixed: fixed, maxAlpha: maxAlpha}
		switch {
		case fixed != nil:
			c.Model += " " + fixed.String() + " (naive)"
		case maxAlpha > 0:
			c.Model += fmt.Sprintf(" alpha<=%g", maxAlpha)
		}
		out = append(out, c)
	}
	fitted := func(s Seasonality, p []int) {
		add(Spec{Seasonality: s, Periods: p}, nil, 0)
		add(Spec{Seasonality: s, Periods: p, AR: true}, nil, 0)
	}
	fitted(SeasonNone, nil)
	add(Spec{}, &Params{Alpha: 1}, 0)
	if len(periods) > 0 {
		fitted(SeasonAdditive, periods)
		add(Spec{Seasonality: SeasonAdditive, Periods: periods, AR: true}, nil, SmoothAlpha)
		if positive {
			fitted(SeasonMultiplicative, periods)
			add(Spec{Seasonality: SeasonMultiplicative, Periods: periods, AR: true}, nil, SmoothAlpha)
		}
		add(Spec{Seasonality: SeasonAdditive, Periods: periods[len(periods)-1:]}, &Params{Alpha: 0, Gamma: []float64{1}}, 0)
	}
	return out
}

// SmoothAlpha bounds α in FitAuto's smooth-level candidates.
var SmoothAlpha = 0.1

func positive(y []float64) bool {
	for _, v := range y {
		if isFinite(v) && v <= 0 {
			return false
		}
	}
	return true
}

// Refit fits the model sel chose to a newer history s: the same
// candidate (spec, bounds, fixed parameters) without the selection, and
// from the parameters of its last fit rather than a coarse search: a
// tenth of FitAuto's cost. Use it between selections, which need only be
// made again when the load changes character (daily, say). It records the
// new parameters in sel for the next refit.
func Refit(s Series, sel *Selection, opts AutoOptions) (*Model, error) {
	if sel == nil || sel.Chosen < 0 || sel.Chosen >= len(sel.Candidates) {
		return nil, fmt.Errorf("%w: no chosen candidate to refit", ErrBadSpec)
	}
	c := sel.Candidates[sel.Chosen]
	horizon := opts.Horizon
	if horizon <= 0 {
		horizon = sel.Horizon
	}
	fo := FitOptions{Horizon: horizon, MaxEvaluations: opts.MaxEvaluations, Params: c.fixed, maxAlpha: c.maxAlpha, warm: sel.warm}
	m, err := Fit(s, c.Spec, fo)
	if err == nil && sameSpec(m.Spec, c.Spec) {
		sel.warm = &m.Params
	}
	if err != nil || !opts.ExcludeAnomalies {
		return m, err
	}
	detector, err := Fit(s, detectorSpec(m, sel), FitOptions{})
	if err != nil {
		m.Notes = append(m.Notes, notef(NoteAnomalies, "no values were left out: the anomaly test could not be fitted: %v", err))
		return m, nil
	}
	cleaned := s.Clone()
	n := 0
	for i, bad := range detector.Anomalies(s.Values, 0) {
		if bad {
			cleaned.Values[i] = math.NaN()
			n++
		}
	}
	if n == 0 {
		return m, nil
	}
	m, err = Fit(cleaned, c.Spec, fo)
	if m != nil {
		m.Notes = append(m.Notes, notef(NoteAnomalies, "%d values found wildly off were left out", n))
	}
	return m, err
}

// selectionStart is what FitAuto and its screened variant share before
// they fit candidates: the selection so far, the cleaned history y, the
// seasonal periods to try, the fit options, and the first step scored.
type selectionStart struct {
	sel     *Selection
	y       []float64
	periods []int
	fitOpts FitOptions
	n, from int
}

// startSelection checks s, detects (or takes) the season and decides where
// scoring starts. When there is no choice to make (a constant history, or
// one too short to score candidates on) it fits the one model there is and
// returns a nil start with that model, its selection and its error.
func startSelection(s Series, opts AutoOptions) (*selectionStart, *Model, *Selection, error) {
	if s.Step <= 0 {
		return nil, nil, nil, fmt.Errorf("series step %s: %w", s.Step, ErrBadStep)
	}
	sel := &Selection{Horizon: opts.Horizon, Chosen: -1}
	if sel.Horizon <= 0 {
		sel.Horizon = defaultHorizon
	}
	y, _, err := cleanHistory(s.Values)
	if err != nil {
		return nil, nil, nil, err
	}
	fitOpts := FitOptions{Horizon: sel.Horizon, MaxEvaluations: opts.MaxEvaluations}
	if _, ok := constantValue(y); ok {
		sel.Criterion = "constant history: no choice to make"
		m, sel, err := fitOnly(s, Spec{}, fitOpts, sel)
		return nil, m, sel, err
	}

	periods := opts.Periods
	switch {
	case opts.NoSeason:
		periods = nil
		sel.Season.Reason = "seasonality switched off"
	case len(periods) == 0:
		sel.Season = DetectSeason(y, s.Step)
		periods = sel.Season.Periods
	default:
		sel.Season = SeasonReport{Periods: slices.Clone(periods), Reason: "periods given"}
	}
	n := len(y)
	from := max(initPoints, n/4)
	if len(periods) > 0 {
		m := periods[len(periods)-1]
		from = max(from, initCyclesFor(n, m)*m)
	}
	sel.ScoredFrom = from
	if n-from < 2*sel.Horizon {
		spec := Spec{}
		if len(periods) > 0 {
			spec = Spec{Seasonality: SeasonAdditive, Periods: periods}
		}
		sel.Criterion = fmt.Sprintf("history too short to score candidates (%d steps after the %d that initialise the model, %d needed): fitted %s", n-from, from, 2*sel.Horizon, spec)
		m, sel, err := fitOnly(s, spec, fitOpts, sel)
		return nil, m, sel, err
	}
	return &selectionStart{sel: sel, y: y, periods: periods, fitOpts: fitOpts, n: n, from: from}, nil, nil, nil
}
