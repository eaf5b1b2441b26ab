// Package backtest replays a load trace through Foresight's forecast and
// replica policy, walk-forward, and compares the outcome with a reactive
// HPA and with perfect foresight.
package backtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/policy"
)

// Config configures a backtest. Zero fields take the defaults named.
type Config struct {
	// Capacity is the load one replica serves (the HPA target). Required.
	Capacity float64
	// Startup is the pod start-up time, which the policy's lead time
	// covers. 0 means 3 minutes.
	Startup time.Duration
	// MetricLag is the age of the newest value a decision sees (scrape and
	// rate windows). 0 means one step.
	MetricLag time.Duration
	// Tolerance and Stabilization are the HPA's (0 means 0.1 and 5m).
	Tolerance     float64
	Stabilization time.Duration
	// MinReplicas and MaxReplicas bound all three autoscalers (0: 1 and
	// none).
	MinReplicas, MaxReplicas int
	// Quantile of the forecast the policy provisions for, and its peak
	// cap factor (0: the policy's defaults).
	Quantile, PeakCapFactor float64
	// Warmup is the history before the first decision; 0 means 7 days, or
	// half the trace if that is shorter. History is the window each refit
	// uses (0: 7 days). Refit is the time between refits (0: 6 hours).
	Warmup, History, Refit time.Duration
	// Season fixes the seasonal periods (steps); NoSeason turns seasons off;
	// otherwise they are detected at each refit.
	Season   []int
	NoSeason bool
	// ExcludeAnomalies is the scaler's excludeAnomalies: each refit leaves
	// out the values the model finds wildly off, and live values far below
	// the forecast (an outage's collapse) are observed as missing
	// (forecast.Guard), so the forecast holds through an outage.
	ExcludeAnomalies bool
}

func (c Config) withDefaults(step time.Duration, n int) Config {
	if c.Startup == 0 {
		c.Startup = 3 * time.Minute
	}
	if c.MetricLag == 0 {
		c.MetricLag = step
	}
	if c.Tolerance == 0 {
		c.Tolerance = 0.1
	}
	if c.Stabilization == 0 {
		c.Stabilization = 5 * time.Minute
	}
	if c.MinReplicas == 0 {
		c.MinReplicas = 1
	}
	if c.Quantile == 0 {
		c.Quantile = policy.DefaultQuantile
	}
	if c.PeakCapFactor == 0 {
		c.PeakCapFactor = policy.DefaultPeakCapFactor
	}
	if c.History == 0 {
		c.History = 7 * 24 * time.Hour
	}
	if c.Warmup == 0 {
		c.Warmup = min(7*24*time.Hour, time.Duration(n/2)*step)
	}
	if c.Refit == 0 {
		c.Refit = 6 * time.Hour
	}
	return c
}

// Outcome is how one autoscaler served the trace over the evaluation.
type Outcome struct {
	// UnderProvisioned is the share of the demand above the serving
	// capacity: Σ max(0, y_t − ready_t × capacity) / Σ y_t.
	UnderProvisioned float64 `json:"under_provisioned_share"`
	// UnderMinutes is the time during which demand exceeded capacity.
	UnderMinutes float64 `json:"under_provisioned_minutes"`
	// ReplicaMinutes is Σ replicas × step, pods starting included: the
	// cost.
	ReplicaMinutes float64 `json:"replica_minutes"`
}

// Accuracy describes forecast errors against what happened.
type Accuracy struct {
	Horizon int     `json:"horizon_steps"`
	N       int     `json:"n"`
	MAE     float64 `json:"mae"`
	RMSE    float64 `json:"rmse"`
	// MASE is MAE over the in-sample MAE of the seasonal naive forecast
	// (Hyndman & Koehler 2006), period one day, or one step without a
	// daily period.
	MASE float64 `json:"mase"`
	// SMAPE is the symmetric mean absolute percentage error, in percent:
	// 100/n Σ 2|ŷ−y| / (|ŷ|+|y|).
	SMAPE float64 `json:"smape_percent"`
	// Coverage is the share of actual values at or below the upper band.
	Coverage float64 `json:"upper_band_coverage"`
}

// Row is one decision of the walk-forward.
type Row struct {
	Time     time.Time     `json:"time"`
	Actual   float64       `json:"actual"`
	Forecast float64       `json:"forecast"` // point forecast of Actual made Startup earlier
	Upper    float64       `json:"upper"`    // its upper band
	Load     float64       `json:"load"`     // what the policy served
	Reason   policy.Reason `json:"reason"`
	// Replicas and Ready per autoscaler: reactive, predictive, perfect.
	Replicas [3]int `json:"replicas"`
	Ready    [3]int `json:"ready"`
}

// Refit records one refit.
type Refit struct {
	Time  time.Time `json:"time"`
	Model string    `json:"model"`
	Err   string    `json:"error,omitempty"`
}

// Result is a backtest's outcome.
type Result struct {
	Config      Config        `json:"-"`
	Step        time.Duration `json:"-"`
	StepSeconds float64       `json:"step_seconds"`
	Start       time.Time     `json:"start"` // first decision
	Accuracy    Accuracy      `json:"accuracy"`
	// Reactive is a plain HPA on the current load; Predictive the policy
	// fed by Foresight's forecast; Perfect the same policy fed by the
	// actual future.
	Reactive   Outcome `json:"reactive"`
	Predictive Outcome `json:"predictive"`
	Perfect    Outcome `json:"perfect"`
	Rows       []Row   `json:"-"`
	Refits     []Refit `json:"refits"`
	// Fallbacks counts decisions where the policy fell back to the
	// current load.
	Fallbacks int `json:"fallbacks"`
}

// Arms names the three autoscalers in the order of Row.Replicas.
var Arms = [3]string{"reactive", "predictive", "perfect"}

// ErrTooShort is returned for a trace with no room for an evaluation.
var ErrTooShort = errors.New("trace too short for a backtest")

// Run walks forward through s. At each step t it refits on schedule (on
// the History before t, detecting the season unless told), updates the
// model with the value that became known, and lets three autoscalers
// decide: a reactive HPA on the current load, the policy on Foresight's
// forecast, and the policy on the actual future. Each decision uses only
// values before t − MetricLag + 1.
func Run(ctx context.Context, s forecast.Series, cfg Config) (*Result, error) {
	n := s.Len()
	if s.Step <= 0 {
		return nil, fmt.Errorf("series step %s: must be positive", s.Step)
	}
	cfg = cfg.withDefaults(s.Step, n)
	if !(cfg.Capacity > 0) {
		return nil, fmt.Errorf("capacity %g: give the load one replica serves, e.g. --capacity 50", cfg.Capacity)
	}
	lag := stepsOf(cfg.MetricLag, s.Step, 1)
	lead := stepsOf(cfg.Startup, s.Step, 0)
	warm := stepsOf(cfg.Warmup, s.Step, 1)
	hist := stepsOf(cfg.History, s.Step, 1)
	refitEvery := stepsOf(cfg.Refit, s.Step, 1)
	window := stepsOf(cfg.Stabilization, s.Step, 1)
	if warm < forecast.MinPoints+lag || warm >= n-2*lead-1 {
		return nil, fmt.Errorf("%d steps with a warm-up of %d: %w (it needs a warm-up and some steps to evaluate)", n, warm, ErrTooShort)
	}
	pp := policy.Params{
		TargetPerReplica: cfg.Capacity, LeadTime: time.Duration(lead) * s.Step, Quantile: cfg.Quantile,
		MinReplicas: cfg.MinReplicas, MaxReplicas: cfg.MaxReplicas, PeakCapFactor: cfg.PeakCapFactor,
		Headroom: cfg.Tolerance,
	}
	if err := pp.Validate(); err != nil {
		return nil, err
	}
	res := &Result{Config: cfg, Step: s.Step, StepSeconds: s.Step.Seconds(), Start: s.Time(warm)}
	y := s.Values
	initial := 1
	if v := y[warm-1]; isFinite(v) {
		initial = int(math.Ceil(v / cfg.Capacity))
	}
	scalers := [3]*hpa{}
	for i := range scalers {
		scalers[i] = newHPA(cfg.Capacity, cfg.Tolerance, window, lead, cfg.MinReplicas, cfg.MaxReplicas, initial)
	}

	var model *forecast.Model
	var guard *forecast.Guard
	var peak float64
	known := 0 // values y[:known] are in the model
	nextRefit := warm
	res.Rows = make([]Row, 0, n-warm)
	perfect := forecast.Forecast{Step: s.Step, Quantile: 1}
	var acc accumulator
	// ahead[t] is the forecast for y[t] made lead steps earlier.
	aheadMean, aheadUpper := nanSlice(n), nanSlice(n)
	end := n - lead // the perfect arm needs y[t : t+lead+1]
	for t := warm; t < end; t++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		seen := t - lag + 1 // y[:seen] are known at t
		if t >= nextRefit {
			model, peak = refit(s, seen, hist, cfg, res)
			guard = nil
			if model != nil && cfg.ExcludeAnomalies {
				guard = forecast.NewGuard(model, y[max(0, seen-hist):seen], 0)
			}
			known = seen
			nextRefit = t + refitEvery
		}
		for ; model != nil && known < seen; known++ {
			if guard != nil {
				guard.Observe(y[known])
			} else {
				model.Observe(y[known])
			}
			if v := y[known]; isFinite(v) && !(v <= peak) {
				peak = v
			}
		}
		reactive := y[seen-1]
		row := Row{Time: s.Time(t), Actual: y[t], Forecast: aheadMean[t], Upper: aheadUpper[t]}

		in := policy.Input{Now: s.Time(t), Reactive: reactive, Peak: peak}
		if model != nil {
			f, err := model.Predict(t+lead-seen+1, cfg.Quantile)
			if err == nil {
				in.Forecast = &f
				aheadMean[t+lead], aheadUpper[t+lead] = f.Mean[len(f.Mean)-1], f.Upper[len(f.Upper)-1]
			}
		}
		d := policy.Decide(pp, in)
		row.Load, row.Reason = d.Load, d.Reason
		if d.Reason.Fallback() {
			res.Fallbacks++
		}
		perfect.Start = s.Time(t)
		perfect.Upper = y[t : t+lead+1]
		dp := policy.Decide(pp, policy.Input{Now: s.Time(t), Reactive: reactive, Peak: peak, Forecast: &perfect})

		for i, metric := range [3]float64{reactive, d.Load, dp.Load} {
			scalers[i].sync(t, metric)
			row.Replicas[i] = scalers[i].replicas()
			row.Ready[i] = scalers[i].ready(t)
		}
		acc.add(row)
		res.Rows = append(res.Rows, row)
	}
	res.Reactive, res.Predictive, res.Perfect = outcomes(res.Rows, cfg.Capacity, s.Step)
	res.Accuracy = acc.result(lead, seasonalScale(y[:warm], s.Step))
	return res, nil
}

// refit fits a model on the History before seen and returns it with the
// peak of that history. A failure is recorded and leaves no model: the
// policy then falls back to the current load.
func refit(s forecast.Series, seen, hist int, cfg Config, res *Result) (*forecast.Model, float64) {
	from := max(0, seen-hist)
	window := s.Slice(from, seen)
	peak := math.NaN()
	for _, v := range window.Values {
		if isFinite(v) && !(v <= peak) {
			peak = v
		}
	}
	lead := stepsOf(cfg.Startup, s.Step, 0)
	opts := forecast.AutoOptions{
		Periods: cfg.Season, NoSeason: cfg.NoSeason, Horizon: max(lead+stepsOf(cfg.MetricLag, s.Step, 1), 1),
		ExcludeAnomalies: cfg.ExcludeAnomalies,
	}
	m, _, err := forecast.FitAuto(window, opts)
	r := Refit{Time: s.Time(seen)}
	if err != nil {
		r.Err = err.Error()
		res.Refits = append(res.Refits, r)
		return nil, peak
	}
	r.Model = m.Spec.String() + " " + m.Params.String()
	res.Refits = append(res.Refits, r)
	return m, peak
}

func outcomes(rows []Row, capacity float64, step time.Duration) (reactive, predictive, perfect Outcome) {
	var out [3]Outcome
	var demand float64
	minutes := step.Minutes()
	for _, r := range rows {
		if !isFinite(r.Actual) {
			continue
		}
		demand += r.Actual
		for i := range out {
			if short := r.Actual - float64(r.Ready[i])*capacity; short > 0 {
				out[i].UnderProvisioned += short
				out[i].UnderMinutes += minutes
			}
			out[i].ReplicaMinutes += float64(r.Replicas[i]) * minutes
		}
	}
	for i := range out {
		if demand > 0 {
			out[i].UnderProvisioned /= demand
		}
	}
	return out[0], out[1], out[2]
}

// accumulator sums the errors of the forecasts made lead steps ahead (from
// a model that had seen the values up to MetricLag before the decision).
type accumulator struct {
	n                      int
	abs, sq, smape, covers float64
}

func (a *accumulator) add(r Row) {
	if !isFinite(r.Forecast) || !isFinite(r.Actual) {
		return
	}
	e := r.Actual - r.Forecast
	a.n++
	a.abs += math.Abs(e)
	a.sq += e * e
	if den := math.Abs(r.Actual) + math.Abs(r.Forecast); den > 0 {
		a.smape += 2 * math.Abs(e) / den
	}
	if r.Actual <= r.Upper {
		a.covers++
	}
}

func (a *accumulator) result(horizon int, scale float64) Accuracy {
	acc := Accuracy{Horizon: horizon, N: a.n, MAE: math.NaN(), RMSE: math.NaN(), MASE: math.NaN(), SMAPE: math.NaN(), Coverage: math.NaN()}
	if a.n == 0 {
		return acc
	}
	fn := float64(a.n)
	acc.MAE = a.abs / fn
	acc.RMSE = math.Sqrt(a.sq / fn)
	acc.SMAPE = 100 * a.smape / fn
	acc.Coverage = a.covers / fn
	if scale > 0 {
		acc.MASE = acc.MAE / scale
	}
	return acc
}

// seasonalScale returns the in-sample MAE of the seasonal naive forecast
// with a period of one day (of one step if the history is shorter than two
// days or the step does not divide a day).
func seasonalScale(y []float64, step time.Duration) float64 {
	period := 1
	if day := 24 * time.Hour; day%step == 0 && len(y) >= 2*int(day/step) {
		period = int(day / step)
	}
	return naiveMAE(y, period)
}

// naiveMAE returns mean |y_t − y_{t−period}| over the pairs with both
// values.
func naiveMAE(y []float64, period int) float64 {
	var sum float64
	n := 0
	for t := period; t < len(y); t++ {
		if d := y[t] - y[t-period]; isFinite(d) {
			sum += math.Abs(d)
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

func stepsOf(d, step time.Duration, least int) int {
	return max(int((d+step-1)/step), least)
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// MarshalJSON writes NaN measures (no forecasts to measure) as null.
func (a Accuracy) MarshalJSON() ([]byte, error) {
	orNull := func(v float64) *float64 {
		if !isFinite(v) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		Horizon  int      `json:"horizon_steps"`
		N        int      `json:"n"`
		MAE      *float64 `json:"mae"`
		RMSE     *float64 `json:"rmse"`
		MASE     *float64 `json:"mase"`
		SMAPE    *float64 `json:"smape_percent"`
		Coverage *float64 `json:"upper_band_coverage"`
	}{a.Horizon, a.N, orNull(a.MAE), orNull(a.RMSE), orNull(a.MASE), orNull(a.SMAPE), orNull(a.Coverage)})
}
