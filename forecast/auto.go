package forecast

import (
	"encoding/json"
	"errors"
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
	// Horizon is the forecast horizon, in steps, that candidates are
	// scored on and the band is estimated for. 0 means 60.
	Horizon int
	// Holdout is the number of final steps held out to score candidates.
	// 0 means the longest seasonal period (one cycle), or a fifth of the
	// history without a season, within [Horizon, n/4].
	Holdout int
	// MaxEvaluations bounds each fit's optimiser; 0 means Fit's default.
	MaxEvaluations int
}

// Candidate is one model FitAuto tried.
type Candidate struct {
	Spec   Spec   `json:"-"`
	Model  string `json:"model"`
	Params string `json:"params,omitempty"`
	// HoldoutMAE is the mean absolute error of its forecasts over the
	// hold-out, for horizons 1 to Horizon; NaN if it could not be fitted.
	HoldoutMAE float64 `json:"holdout_mae"`
	// Skipped says why it was not fitted, if it was not.
	Skipped string `json:"skipped,omitempty"`
}

// MarshalJSON writes a NaN HoldoutMAE as null.
func (c Candidate) MarshalJSON() ([]byte, error) {
	type plain Candidate
	out := struct {
		plain
		HoldoutMAE *float64 `json:"holdout_mae"`
	}{plain: plain(c)}
	if isFinite(c.HoldoutMAE) {
		out.HoldoutMAE = &c.HoldoutMAE
	}
	return json.Marshal(out)
}

// Selection reports how FitAuto chose its model.
type Selection struct {
	Season     SeasonReport `json:"season"`
	Candidates []Candidate  `json:"candidates"`
	Chosen     int          `json:"chosen"`
	Criterion  string       `json:"criterion"`
	Holdout    int          `json:"holdout"`
	Horizon    int          `json:"horizon"`
}

// FitAuto detects the season (unless told the periods), fits the candidate
// models on the history minus a hold-out, and chooses the one whose
// forecasts over the hold-out have the least mean absolute error for
// horizons 1 to Horizon: the error that matters to a caller who looks that
// far ahead, rather than the one-step error the parameters are fitted on.
// The chosen model is then refitted on the whole history.
//
// The candidates are (N,N) and (Ad,N), and with a season (N,A), (Ad,A),
// and, for positive series, (N,M) and (Ad,M); each also with Taylor's AR(1)
// adjustment. Hyndman et al. (2008, §7.2) choose by AICc, which counts
// parameters but scores one-step errors; a hold-out scores the horizon
// itself, which on minute data is what separates the models.
func FitAuto(s Series, opts AutoOptions) (*Model, *Selection, error) {
	if s.Step <= 0 {
		return nil, nil, fmt.Errorf("series step %s: %w", s.Step, ErrBadStep)
	}
	sel := &Selection{Horizon: opts.Horizon, Chosen: -1}
	if sel.Horizon <= 0 {
		sel.Horizon = defaultHorizon
	}
	fitOpts := FitOptions{Horizon: sel.Horizon, MaxEvaluations: opts.MaxEvaluations}
	y, _, err := cleanHistory(s.Values)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := constantValue(y); ok {
		m, err := Fit(s, Spec{}, fitOpts)
		sel.Criterion = "constant history: no choice to make"
		return m, sel, err
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
	longest := 0
	if len(periods) > 0 {
		longest = periods[len(periods)-1]
	}
	hold := opts.Holdout
	if hold <= 0 {
		hold = longest
		if hold == 0 {
			hold = n / 5
		}
	}
	hold = min(max(hold, sel.Horizon), n/4)
	sel.Holdout = hold

	specs := candidateSpecs(periods, positive(y))
	train := s.Slice(0, n-hold)
	train.Values = y[:n-hold]
	best := -1
	for _, spec := range specs {
		c := Candidate{Spec: spec, Model: spec.String(), HoldoutMAE: math.NaN()}
		if longest > 0 && spec.Seasonality != SeasonNone && n-hold < 2*longest {
			c.Skipped = fmt.Sprintf("the history before the hold-out (%d steps) is shorter than two cycles of %d", n-hold, longest)
			sel.Candidates = append(sel.Candidates, c)
			continue
		}
		m, err := Fit(train, spec, fitOpts)
		if err != nil {
			c.Skipped = err.Error()
			sel.Candidates = append(sel.Candidates, c)
			continue
		}
		if !sameSpec(m.Spec, spec) {
			c.Skipped = "fell back to " + m.Spec.String() + " on the shorter history"
			sel.Candidates = append(sel.Candidates, c)
			continue
		}
		c.Params = m.Params.String()
		c.HoldoutMAE = holdoutMAE(m, y[n-hold:], sel.Horizon)
		sel.Candidates = append(sel.Candidates, c)
		if !math.IsNaN(c.HoldoutMAE) && (best < 0 || c.HoldoutMAE < sel.Candidates[best].HoldoutMAE) {
			best = len(sel.Candidates) - 1
		}
	}
	if best < 0 {
		// Too short for a hold-out: fit the simplest model on everything.
		m, err := Fit(s, Spec{}, fitOpts)
		sel.Criterion = "no candidate could be scored on a hold-out; fitted (N,N) on the whole history"
		return m, sel, err
	}
	sel.Chosen = best
	sel.Criterion = fmt.Sprintf("least mean absolute error of 1..%d-step forecasts over the last %d steps", sel.Horizon, hold)
	m, err := Fit(s, sel.Candidates[best].Spec, fitOpts)
	if err != nil {
		return nil, sel, err
	}
	if !sameSpec(m.Spec, sel.Candidates[best].Spec) {
		return nil, sel, errors.New("internal error: the chosen model fell back on the longer history")
	}
	return m, sel, nil
}

func sameSpec(a, b Spec) bool {
	return a.Trend == b.Trend && a.Seasonality == b.Seasonality && a.AR == b.AR && slices.Equal(a.Periods, b.Periods)
}

// candidateSpecs lists the models FitAuto tries.
func candidateSpecs(periods []int, positive bool) []Spec {
	var out []Spec
	add := func(t Trend, s Seasonality, p []int) {
		for _, ar := range []bool{false, true} {
			out = append(out, Spec{Trend: t, Seasonality: s, Periods: p, AR: ar})
		}
	}
	add(TrendNone, SeasonNone, nil)
	add(TrendDamped, SeasonNone, nil)
	if len(periods) > 0 {
		add(TrendNone, SeasonAdditive, periods)
		add(TrendDamped, SeasonAdditive, periods)
		if positive {
			add(TrendNone, SeasonMultiplicative, periods)
			add(TrendDamped, SeasonMultiplicative, periods)
		}
	}
	return out
}

func positive(y []float64) bool {
	for _, v := range y {
		if isFinite(v) && v <= 0 {
			return false
		}
	}
	return true
}

// holdoutMAE moves a clone of m through the held-out values and returns the
// mean absolute error of its 1..horizon-step forecasts from origins spread
// over them.
func holdoutMAE(m *Model, hold []float64, horizon int) float64 {
	mc := m.Clone()
	const maxOrigins = 100
	stride := max(1, len(hold)/maxOrigins)
	var sum float64
	count := 0
	phiH := make([]float64, horizon+1)
	lambdaH := make([]float64, horizon+1)
	for h := 1; h <= horizon; h++ {
		phiH[h] = phiSum(mc.coef.phi, h)
		lambdaH[h] = math.Pow(mc.coef.lambda, float64(h))
	}
	for t := range hold {
		if t%stride == 0 {
			for h := 1; h <= horizon && t+h-1 < len(hold); h++ {
				actual := hold[t+h-1]
				if !isFinite(actual) {
					continue
				}
				if f := mc.state.predict(&mc.coef, h, phiH[h], lambdaH[h]); isFinite(f) {
					sum += math.Abs(actual - f)
					count++
				}
			}
		}
		mc.Observe(hold[t])
	}
	if count == 0 {
		return math.NaN()
	}
	return sum / float64(count)
}
