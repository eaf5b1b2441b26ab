package backtest

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// Protocol is a rolling-origin evaluation of point forecasts (Tashman
// 2000): forecasts from Origins origins Every apart, the last one Every
// before the end of the series, each from the History before it, over
// Horizon.
type Protocol struct {
	Origins int
	Every   time.Duration
	History time.Duration
	Horizon time.Duration
	// Season is the period of the seasonal naive forecast that scales
	// MASE and is one of the baselines.
	Season time.Duration
	// Auto tunes the forecaster; its Horizon is set from Horizon.
	Auto forecast.AutoOptions
}

// DefaultProtocol is the evaluation of the accuracy report: origins every
// 24 h over the last 6 days, 7 days of history, a 60-minute horizon, MASE
// against the in-sample seasonal naive of one day.
var DefaultProtocol = Protocol{
	Origins: 6, Every: 24 * time.Hour, History: 7 * 24 * time.Hour, Horizon: time.Hour, Season: 24 * time.Hour,
}

// Forecasters compared by EvaluateAccuracy.
const (
	Foresight     = "foresight"      // FitAuto's model
	NaiveLast     = "naive_last"     // the last value held
	NaiveSeasonal = "naive_seasonal" // the value one season earlier
)

// OriginResult is the outcome at one origin.
type OriginResult struct {
	Origin time.Time `json:"origin"`
	Model  string    `json:"model"`
	// MASE per forecaster: the mean absolute error over the horizon
	// divided by the in-sample mean absolute error of the seasonal naive
	// forecast (Hyndman & Koehler 2006).
	MASE map[string]float64 `json:"mase"`
}

// AccuracyReport is the outcome of EvaluateAccuracy.
type AccuracyReport struct {
	Origins []OriginResult `json:"origins"`
	// MASE per forecaster, averaged over the origins.
	MASE map[string]float64 `json:"mase"`
}

// EvaluateAccuracy runs the protocol on s.
func EvaluateAccuracy(ctx context.Context, s forecast.Series, p Protocol) (*AccuracyReport, error) {
	every := int(p.Every / s.Step)
	hist := int(p.History / s.Step)
	horizon := int(p.Horizon / s.Step)
	season := int(p.Season / s.Step)
	n := s.Len()
	if every <= 0 || horizon <= 0 || season <= 0 || hist <= 0 {
		return nil, fmt.Errorf("protocol %+v does not fit a step of %s", p, s.Step)
	}
	if first := n - p.Origins*every; first < 2*season || first-season < 0 {
		return nil, fmt.Errorf("%d steps leave %d before the first origin, fewer than two seasons of %d: %w", n, first, season, ErrTooShort)
	}
	opts := p.Auto
	opts.Horizon = horizon
	rep := &AccuracyReport{MASE: map[string]float64{}}
	y := s.Values
	for k := p.Origins; k >= 1; k-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		o := n - k*every
		from := max(0, o-hist)
		history := s.Slice(from, o)
		actual := y[o : o+horizon]
		scale := naiveMAE(history.Values, season)
		res := OriginResult{Origin: s.Time(o), MASE: map[string]float64{}}

		m, _, err := forecast.FitAuto(history, opts)
		if err != nil {
			return nil, fmt.Errorf("origin %s: %w", s.Time(o).UTC().Format(time.RFC3339), err)
		}
		res.Model = m.Spec.String()
		f, err := m.Predict(horizon, 0.9)
		if err != nil {
			return nil, err
		}
		last := make([]float64, horizon)
		for i := range last {
			last[i] = y[o-1]
		}
		res.MASE[Foresight] = meanAbsError(f.Mean, actual) / scale
		res.MASE[NaiveLast] = meanAbsError(last, actual) / scale
		res.MASE[NaiveSeasonal] = meanAbsError(y[o-season:o-season+horizon], actual) / scale
		for name, v := range res.MASE {
			rep.MASE[name] += v / float64(p.Origins)
		}
		rep.Origins = append(rep.Origins, res)
	}
	return rep, nil
}

func meanAbsError(f, actual []float64) float64 {
	var sum float64
	n := 0
	for i, a := range actual {
		if d := a - f[i]; isFinite(d) {
			sum += math.Abs(d)
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}
