package anomaly

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

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
	// (forecast.Refit, a twentieth of the cost) before the next full
	// selection (forecast.FitAuto); 0 means 24 (daily, with hourly fits).
	// A history twice as long as the last selection's is selected on again
	// regardless.
	ReselectEvery int
	// RejectAbove is the score above which a value is kept out of the
	// model's state (observed as missing), so that an outage or a flash
	// crowd does not drag the prediction after it; 0 means 2. Rejection
	// stops after MaxRun consecutive values (0 means 60 steps), which is a
	// change of level, not an anomaly: the model then follows it.
	RejectAbove float64
	MaxRun      int
	// Horizon is the forecast horizon, in steps, FitAuto chooses the model
	// family by; 0 means 1: the one-step forecast is what a value is
	// scored against.
	Horizon int
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
	if c.Horizon <= 0 {
		c.Horizon = 1
	}
	return c
}

// HoltWinters scores each value against the one-step forecast of a
// Holt-Winters model fitted by package forecast (FitAuto's screened
// selection, AutoOptions.Screen, chooses the season and the model family
// on the one-step error at a fifth of the full selection's cost; Refit
// refits it),
// with a band whose width follows the current noise:
//
//	yhat = ŷ_{t|t−1},  band = yhat ± Φ⁻¹(q)·σ_{t−1}
//
// where σ_t is the recursive robust τ-scale of the one-step errors
// e_t = y_t − ŷ_{t|t−1} of Gelper, Fried & Croux (2010, "Robust
// forecasting with exponential and Holt-Winters smoothing", J.
// Forecasting 29(3), eq. 9):
//
//	σ²_t = λ·ρ(e_t/σ_{t−1})·σ²_{t−1} + (1 − λ)·σ²_{t−1},
//
// with the bounded biweight ρ(x) = c·(1 − (1 − (x/2)²)³) for |x| ≤ 2 and c
// beyond (c = 2.52, consistent at the normal) and λ = 0.1, so that the band
// is narrow at night and wide at the day's peak, and one outlier widens it
// by at most 15%. σ starts, at each fit, from the interquartile range of
// the model's own in-sample one-step errors (forecast.Model.Predict),
// σ₀ = (Q_{0.75} − Q_{0.25})/1.349, and never falls below
// max(0.25·σ₉₅, 0.01·sd(history)), σ₉₅ being the half-width of the
// model's 95% one-step band over 1.96, so that a flat or quantised series,
// whose one-step errors are mostly exactly 0, does not shrink the band to
// nothing and score its usual small changes in the hundreds.
//
// Between fits the model advances with each value (Model.Observe) without
// refitting; a value scoring above RejectAbove is observed as missing
// instead, and leaves σ as it was: robust Holt-Winters with hard rejection
// in place of Gelper et al.'s Huber cleaning, so that an outage or a flash
// crowd does not drag the prediction and the band after it.
type HoltWinters struct {
	cfg  HoltWintersConfig
	z    float64 // Φ⁻¹(Quantile)
	main banded
	sel  *forecast.Selection
	fits int // since the last selection
	// selectedOn is the length of the history of the last selection.
	selectedOn int
	run        int
	// following is set after MaxRun rejections in a row: the values are
	// accepted until one is back within RejectAbove.
	following bool
}

// NewHoltWinters returns a Holt-Winters detector; it scores 0 until its
// first Fit.
func NewHoltWinters(cfg HoltWintersConfig) (*HoltWinters, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !(cfg.Quantile > 0.5 && cfg.Quantile < 1) {
		return nil, fmt.Errorf("%w: quantile %g must be in (0.5, 1)", ErrBadOption, cfg.Quantile)
	}
	if !(cfg.RejectAbove >= 1) {
		return nil, fmt.Errorf("%w: reject_above %g must be at least 1 (the band's edge)", ErrBadOption, cfg.RejectAbove)
	}
	return &HoltWinters{cfg: cfg, z: distuv.UnitNormal.Quantile(cfg.Quantile)}, nil
}

// Fit fits the model to the history, a full selection every
// ReselectEvery fits and a refit of the selected family otherwise.
func (h *HoltWinters) Fit(history forecast.Series) error {
	// Screen: a week of minutes must select within 10 ms, for 1,000
	// series in 10 s on one core (BenchmarkFitHoltWinters).
	opts := forecast.AutoOptions{Periods: h.cfg.Periods, NoSeason: h.cfg.NoSeason, Horizon: h.cfg.Horizon, ExcludeAnomalies: true, Screen: true}
	var (
		m   *forecast.Model
		err error
	)
	// Select again every ReselectEvery fits, and whenever the history has
	// doubled since the last selection: a model family chosen on the first
	// hours of a series knows nothing of its daily season.
	reselect := h.sel == nil || h.fits%h.cfg.ReselectEvery == 0 || history.Len() >= 2*h.selectedOn
	if !reselect {
		// Between selections, refit the selected family, still leaving
		// out what the anomaly test flags: a refit that smoothed through
		// an outage in its window would learn it (on the shared traces,
		// daily refits without the exclusion scored NAB 88.0, with it
		// 92.4; six-hourly 86.0 and 89.1).
		refit := opts
		m, err = forecast.Refit(history, h.sel, refit)
	}
	if reselect || err != nil {
		var sel *forecast.Selection
		m, sel, err = forecast.FitAuto(history, opts)
		if err == nil {
			h.sel, h.selectedOn, h.fits = sel, history.Len(), 0
		}
	}
	if err != nil {
		return fmt.Errorf("fit Holt-Winters to %d values: %w", history.Len(), err)
	}
	if m == nil {
		return errors.New("fit Holt-Winters: no model")
	}
	main, err := newBanded(m, history.Values)
	if err != nil {
		return err
	}
	h.main, h.run, h.following = main, 0, false
	h.fits++
	return nil
}

// banded is a fitted model with the running scale of its one-step errors.
type banded struct {
	model           *forecast.Model
	sigma, sigmaMin float64
}

// newBanded starts σ from the model's in-sample one-step errors:
// σ₀ = IQR/1.349, floored at max(0.25·σ₉₅, 0.01·sd(history)) with σ₉₅ the
// half-width of the 95% band over 1.96. The floor keeps σ from decaying
// to nothing over a run of exact predictions (a flat or quantised series),
// after which any change would score in the millions and drown the scores
// of other series.
func newBanded(m *forecast.Model, history []float64) (banded, error) {
	f, err := m.Predict(1, 0.75)
	if err != nil {
		return banded{}, fmt.Errorf("fit Holt-Winters: the band of the fitted model: %w", err)
	}
	wide, err := m.Predict(1, 0.975)
	if err != nil {
		return banded{}, fmt.Errorf("fit Holt-Winters: the band of the fitted model: %w", err)
	}
	b := banded{model: m, sigma: (f.Upper[0] - f.Lower[0]) / (2 * iqrToSigma)}
	if !(b.sigma > 0) || math.IsInf(b.sigma, 0) {
		b.sigma = 0
	}
	sigma95 := (wide.Upper[0] - wide.Lower[0]) / (2 * z975)
	if !finite(sigma95) {
		sigma95 = 0
	}
	b.sigmaMin = math.Max(0.25*sigma95, 0.01*stddev(history))
	b.sigma = math.Max(b.sigma, b.sigmaMin)
	return b, nil
}

// predict returns the one-step forecast.
func (b *banded) predict() float64 {
	// Predict allocates its three slices of one; forecast has no
	// allocation-free one-step forecast yet.
	f, err := b.model.Predict(1, 0.75)
	if err != nil { // 0.75 is a valid quantile: not reached
		return math.NaN()
	}
	return f.Mean[0]
}

// Model returns the fitted model, or nil before the first fit.
func (h *HoltWinters) Model() *forecast.Model { return h.main.model }

// Next scores y against the model's one-step forecast, then advances the
// model with it (or with a gap, for a value scoring above RejectAbove).
func (h *HoltWinters) Next(y float64) Estimate {
	if h.main.model == nil {
		return h.cfg.Score(y, math.NaN(), math.NaN(), math.NaN())
	}
	// Rejection looks at deviations in both directions: an outage must not
	// drag the model of a detector that only alerts on surges.
	both := h.cfg.Options
	both.Direction = Both
	yhat := h.main.predict()
	half := h.z * h.main.sigma
	e := h.cfg.Score(y, yhat, yhat-half, yhat+half)
	switch far := both.Score(y, yhat, yhat-half, yhat+half).Score > h.cfg.RejectAbove; {
	case far && !h.following && h.run < h.cfg.MaxRun:
		h.run++
		h.main.model.Observe(math.NaN())
		return e
	case far && !h.following:
		h.following = true
	case !far:
		h.run, h.following = 0, false
	}
	h.main.observe(y, yhat)
	return e
}

// Constants of the τ-scale recursion.
const (
	iqrToSigma  = 0.6744897501960817 // Φ⁻¹(0.75): the half-IQR of a unit normal
	z975        = 1.959963984540054  // Φ⁻¹(0.975)
	scaleLambda = 0.1
	biweightK   = 2.0
	biweightC   = 2.52
)

// observe advances the model with y and σ with its one-step error
// y − yhat (Gelper et al. 2010).
func (b *banded) observe(y, yhat float64) {
	b.model.Observe(y)
	e := y - yhat
	if !finite(e) {
		return
	}
	if b.sigma == 0 {
		b.sigma = math.Abs(e)
		return
	}
	x := e / b.sigma
	rho := biweightC
	if math.Abs(x) <= biweightK {
		u := 1 - (x/biweightK)*(x/biweightK)
		rho = biweightC * (1 - u*u*u)
	}
	b.sigma = math.Max(b.sigma*math.Sqrt(scaleLambda*rho+1-scaleLambda), b.sigmaMin)
}

// stddev returns the standard deviation of the finite values of y, or 0.
func stddev(y []float64) float64 {
	var n, mean, m2 float64
	for _, v := range y {
		if !finite(v) {
			continue
		}
		n++
		d := v - mean
		mean += d / n
		m2 += d * (v - mean)
	}
	if n < 2 {
		return 0
	}
	return math.Sqrt(m2 / (n - 1))
}
