package anomaly

import (
	"errors"
	"fmt"
	"math"

	"github.com/foresight-aiops/foresight/forecast"
)

// HoltWintersConfig are the parameters of the HoltWinters detector.
type HoltWintersConfig struct {
	// Quantile is the upper quantile of the one-step prediction band, the
	// lower being 1 − Quantile; 0 means 0.995 (a normal value leaves the
	// band about one time in a hundred).
	Quantile float64
	// Periods fixes the seasonal periods, in steps; NoSeason fits
	// non-seasonal models only. Neither: the season is detected at each
	// selection (forecast.DetectSeason).
	Periods  []int
	NoSeason bool
	// ReselectEvery is how many fits reuse the selected model family
	// (forecast.Refit, a tenth of the cost) before the next full selection
	// (forecast.FitAuto); 0 means 24 (daily, with hourly fits).
	ReselectEvery int
	// RejectAbove is the score above which a value is kept out of the
	// model's state (observed as missing), so that an outage or a flash
	// crowd does not drag the prediction after it; 0 means 2. Rejection
	// stops after MaxRun consecutive values (0 means 60 steps), which is a
	// change of level, not an anomaly: the model then follows it.
	RejectAbove float64
	MaxRun      int
	Options
}

func (c HoltWintersConfig) withDefaults() HoltWintersConfig {
	if c.Quantile == 0 {
		c.Quantile = 0.995
	}
	if c.ReselectEvery <= 0 {
		c.ReselectEvery = 24
	}
	if c.RejectAbove == 0 {
		c.RejectAbove = 2
	}
	if c.MaxRun <= 0 {
		c.MaxRun = 60
	}
	return c
}

// HoltWinters scores each value against the one-step forecast of a
// Holt-Winters model fitted by package forecast (FitAuto chooses the
// season and the model family, Refit refits it), with the model's
// empirical prediction band (forecast.Model.Predict):
//
//	yhat = ŷ_{t|t−1},  band = [Q_{1−q}(ŷ_{t|t−1}), Q_q(ŷ_{t|t−1})]
//
// The quantiles are those of the model's own in-sample one-step errors,
// so the band follows skew and heavy tails and, for a multiplicative
// season, grows with the load. Between fits the model advances with each
// value (Model.Observe) without refitting; a value scoring above
// RejectAbove is observed as missing instead, as in robust Holt-Winters
// (Gelper, Fried & Croux 2010, "Robust forecasting with exponential and
// Holt-Winters smoothing", J. Forecasting 29(3)), with hard rejection in
// place of their Huber cleaning.
type HoltWinters struct {
	cfg   HoltWintersConfig
	model *forecast.Model
	sel   *forecast.Selection
	fits  int
	run   int
	// following is set after MaxRun rejections in a row: the values are
	// accepted until one is back within RejectAbove.
	following bool
}

// NewHoltWinters returns a Holt-Winters detector; it scores 0 until its
// first Fit.
func NewHoltWinters(cfg HoltWintersConfig) (*HoltWinters, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Options.Validate(); err != nil {
		return nil, err
	}
	if !(cfg.Quantile > 0.5 && cfg.Quantile < 1) {
		return nil, fmt.Errorf("%w: quantile %g must be in (0.5, 1)", ErrBadOption, cfg.Quantile)
	}
	if !(cfg.RejectAbove >= 1) {
		return nil, fmt.Errorf("%w: reject_above %g must be at least 1 (the band's edge)", ErrBadOption, cfg.RejectAbove)
	}
	return &HoltWinters{cfg: cfg}, nil
}

// Fit fits the model to the history, a full selection every
// ReselectEvery fits and a refit of the selected family otherwise.
func (h *HoltWinters) Fit(history forecast.Series) error {
	opts := forecast.AutoOptions{Periods: h.cfg.Periods, NoSeason: h.cfg.NoSeason, Horizon: 1, ExcludeAnomalies: true}
	var (
		m   *forecast.Model
		err error
	)
	if h.sel != nil && h.fits%h.cfg.ReselectEvery != 0 {
		m, err = forecast.Refit(history, h.sel, opts)
	}
	if h.sel == nil || h.fits%h.cfg.ReselectEvery == 0 || err != nil {
		var sel *forecast.Selection
		m, sel, err = forecast.FitAuto(history, opts)
		if err == nil {
			h.sel = sel
		}
	}
	if err != nil {
		return fmt.Errorf("fit Holt-Winters to %d values: %w", history.Len(), err)
	}
	if m == nil {
		return errors.New("fit Holt-Winters: no model")
	}
	h.model, h.run, h.following = m, 0, false
	h.fits++
	return nil
}

// Model returns the fitted model, or nil before the first fit.
func (h *HoltWinters) Model() *forecast.Model { return h.model }

// Next scores y against the model's one-step forecast, then advances the
// model with it (or with a gap, for a value scoring above RejectAbove).
func (h *HoltWinters) Next(y float64) Estimate {
	if h.model == nil {
		return h.cfg.Score(y, math.NaN(), math.NaN(), math.NaN())
	}
	f, err := h.model.Predict(1, h.cfg.Quantile)
	if err != nil { // the quantile was validated: not reached
		return h.cfg.Score(y, math.NaN(), math.NaN(), math.NaN())
	}
	e := h.cfg.Score(y, f.Mean[0], f.Lower[0], f.Upper[0])
	// Rejection looks at deviations in both directions: an outage must not
	// drag the model of a detector that only alerts on surges.
	both := h.cfg.Options
	both.Direction = Both
	switch far := both.Score(y, f.Mean[0], f.Lower[0], f.Upper[0]).Score > h.cfg.RejectAbove; {
	case far && !h.following && h.run < h.cfg.MaxRun:
		h.run++
		h.model.Observe(math.NaN())
		return e
	case far && !h.following:
		h.following = true
	case !far:
		h.run, h.following = 0, false
	}
	h.model.Observe(y)
	return e
}
