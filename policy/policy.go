// Package policy turns a load forecast into a replica target: the one pure
// function that both the backtest and the KEDA scaler use, so that what the
// backtest measures is what the scaler serves.
package policy

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// Defaults of Params.
const (
	DefaultLeadTime      = 5 * time.Minute
	DefaultQuantile      = 0.9
	DefaultPeakCapFactor = 1.2
)

// Params configure the policy.
type Params struct {
	// TargetPerReplica is the load one replica serves (requests per second,
	// cores, …): the HPA's target average value. Required.
	TargetPerReplica float64
	// LeadTime is how far ahead replicas must be ready: the pod start-up
	// time. 0 means DefaultLeadTime.
	LeadTime time.Duration
	// Quantile is the forecast quantile provisioned for. 0 means
	// DefaultQuantile.
	Quantile float64
	// MinReplicas and MaxReplicas bound the target; MaxReplicas 0 means no
	// bound of the policy's own (the HPA's maxReplicas still applies).
	MinReplicas, MaxReplicas int
	// PeakCapFactor caps the predicted load at this multiple of the peak
	// seen in the history. 0 means DefaultPeakCapFactor.
	PeakCapFactor float64
	// Headroom inflates the served load by this fraction. Set it to the
	// HPA's tolerance (0.1 by default): the HPA ignores a metric within
	// that fraction of its target, so a predicted rise of less than 10%
	// over the current capacity would otherwise never start a pod. 0 means
	// none; negative is refused.
	Headroom float64
}

// WithDefaults returns p with its zero fields set to the defaults.
func (p Params) WithDefaults() Params {
	if p.LeadTime == 0 {
		p.LeadTime = DefaultLeadTime
	}
	if p.Quantile == 0 {
		p.Quantile = DefaultQuantile
	}
	if p.PeakCapFactor == 0 {
		p.PeakCapFactor = DefaultPeakCapFactor
	}
	return p
}

// Validate reports the first field of p (after WithDefaults) that is out of
// range, saying what would be valid.
func (p Params) Validate() error {
	switch {
	case !(p.TargetPerReplica > 0) || math.IsInf(p.TargetPerReplica, 0):
		return fmt.Errorf("target per replica %g: must be a positive number, the load one replica serves", p.TargetPerReplica)
	case p.LeadTime < 0:
		return fmt.Errorf("lead time %s: must not be negative", p.LeadTime)
	case !(p.Quantile >= 0.5 && p.Quantile < 1):
		return fmt.Errorf("quantile %g: must be in [0.5, 1), e.g. 0.9", p.Quantile)
	case p.MinReplicas < 0:
		return fmt.Errorf("min replicas %d: must not be negative", p.MinReplicas)
	case p.MaxReplicas < 0 || p.MaxReplicas > 0 && p.MaxReplicas < p.MinReplicas:
		return fmt.Errorf("max replicas %d: must be 0 (no bound) or at least min replicas (%d)", p.MaxReplicas, p.MinReplicas)
	case !(p.Headroom >= 0 && p.Headroom < 1):
		return fmt.Errorf("headroom %g: must be in [0, 1), e.g. 0.1 to match the HPA's tolerance", p.Headroom)
	case !(p.PeakCapFactor >= 1) || math.IsInf(p.PeakCapFactor, 0):
		return fmt.Errorf("peak cap factor %g: must be at least 1 (1.2 allows 20%% above the peak seen)", p.PeakCapFactor)
	}
	return nil
}

// Reason says what decided a target. Its values are stable: they label
// metrics.
type Reason string

// Reasons.
const (
	// ReasonForecast: the predicted load, above the current one, decided.
	ReasonForecast Reason = "forecast"
	// ReasonReactive: the current load was at least the prediction.
	ReasonReactive Reason = "reactive"
	// ReasonPeakCap: the prediction was cut to PeakCapFactor × the peak.
	ReasonPeakCap Reason = "peak_cap"
	// ReasonMaxReplicas, ReasonMinReplicas: a replica bound decided.
	ReasonMaxReplicas Reason = "max_replicas"
	ReasonMinReplicas Reason = "min_replicas"
	// ReasonNoForecast, ReasonBadForecast, ReasonStaleForecast: the
	// forecast was missing, NaN or infinite, or did not reach the lead
	// time; the current load was served instead.
	ReasonNoForecast    Reason = "fallback_no_forecast"
	ReasonBadForecast   Reason = "fallback_nonfinite_forecast"
	ReasonStaleForecast Reason = "fallback_stale_forecast"
	// ReasonNoData: neither a forecast nor the current load.
	ReasonNoData Reason = "no_data"
)

// Fallback reports whether r means the forecast was not used.
func (r Reason) Fallback() bool {
	switch r {
	case ReasonNoForecast, ReasonBadForecast, ReasonStaleForecast, ReasonNoData:
		return true
	}
	return false
}

// Input is what the policy decides on.
type Input struct {
	// Now is the decision time.
	Now time.Time
	// Forecast is the model's forecast with Upper at the policy's quantile,
	// or nil when there is no fitted model.
	Forecast *forecast.Forecast
	// Reactive is the current load, NaN if unknown.
	Reactive float64
	// Peak is the highest load in the history the model was fitted on, NaN
	// if unknown (then the prediction is not capped by it).
	Peak float64
}

// Decision is the policy's answer.
type Decision struct {
	// Load is the load to provision for: what the scaler serves as its
	// metric value. NaN only with ReasonNoData.
	Load float64
	// Replicas is ceil(Load / TargetPerReplica) within the replica bounds.
	Replicas int
	// Predicted is the largest forecast quantile over [Now, Now+LeadTime]
	// before any cap, NaN when the forecast was not used.
	Predicted float64
	// Reason says which of forecast, reactive value, cap, bound or fallback
	// decided.
	Reason Reason
	// Note, if set, is added to Detail: what the caller knows and the
	// policy does not (the scaler: the datasource is unreachable).
	Note string

	// why holds what Detail explains: Decide runs on every request (twice
	// a KEDA poll), an explanation is rarely asked for, so its words are
	// formatted only then.
	why why
}

// why is what decided a Decision, for Detail.
type why struct {
	kind                    whyKind
	fallback                Reason // with whyFallback and whyNoData
	reactive, capped, peak  float64
	leadTime                time.Duration
	peakCapFactor, headroom float64
	minReplicas             int // set when raised to it
	maxReplicas             int // set when held to it
}

type whyKind uint8

const (
	whyNoData whyKind = iota
	whyFallback
	whyForecast
	whyPeakCap
	whyReactive
)

// Detail explains Reason in words for a log line or an explanation.
func (d Decision) Detail() string {
	w := d.why
	var b strings.Builder
	switch w.kind {
	case whyNoData:
		b.WriteString("no forecast (" + string(w.fallback) + ") and no current load")
	case whyFallback:
		fmt.Fprintf(&b, "serving the current load %g: %s", w.reactive, fallbackDetail(w.fallback))
	case whyForecast:
		fmt.Fprintf(&b, "predicted load %g over the next %s", d.Predicted, w.leadTime)
	case whyPeakCap:
		fmt.Fprintf(&b, "predicted load %g capped at %g × the peak %g", d.Predicted, w.peakCapFactor, w.peak)
	case whyReactive:
		fmt.Fprintf(&b, "current load %g is at least the predicted %g", w.reactive, w.capped)
	}
	if w.headroom > 0 {
		fmt.Fprintf(&b, "; plus %g%% headroom", 100*w.headroom)
	}
	if w.minReplicas != 0 {
		fmt.Fprintf(&b, "; raised to min replicas %d", w.minReplicas)
	}
	if w.maxReplicas != 0 {
		fmt.Fprintf(&b, "; held to max replicas %d", w.maxReplicas)
	}
	if d.Note != "" {
		b.WriteString("; " + d.Note)
	}
	return b.String()
}

// Decide returns the replica target.
//
// The predicted load is the largest forecast quantile over the steps in
// [Now, Now + LeadTime], so that replicas started now are ready for the
// highest load expected before they are. It is capped at PeakCapFactor × the
// peak of the history: a forecast gone wild (a trend extrapolated from a
// retry storm) cannot scale far beyond anything seen. The served load is
// max(predicted, current): the cap never cuts the current load, since a real
// surge beyond the old peak must still be served. A missing, NaN or
// infinite forecast, or one that does not reach Now + LeadTime, falls back to
// the current load. The load is then raised by Headroom. Replicas are
// ceil(load / TargetPerReplica), bounded by MinReplicas and MaxReplicas.
func Decide(p Params, in Input) Decision {
	p = p.WithDefaults()
	d := Decision{Predicted: math.NaN()}
	reactive := in.Reactive
	if !isFinite(reactive) || reactive < 0 {
		reactive = math.NaN()
	}

	predicted, fallback := predictedLoad(p, in)
	switch {
	case fallback != "" && math.IsNaN(reactive):
		d.Load, d.Reason = math.NaN(), ReasonNoData
		d.why = why{kind: whyNoData, fallback: fallback}
		d.Replicas = p.MinReplicas
		return d
	case fallback != "":
		d.Load, d.Reason = reactive, fallback
		d.why = why{kind: whyFallback, fallback: fallback, reactive: reactive}
	default:
		d.Predicted = predicted
		capped := predicted
		capReason := Reason("")
		if limit := p.PeakCapFactor * max(in.Peak, 0); isFinite(limit) && capped > limit {
			capped, capReason = limit, ReasonPeakCap
		}
		switch {
		case math.IsNaN(reactive) || capped > reactive:
			d.Load, d.Reason = capped, ReasonForecast
			d.why = why{kind: whyForecast, leadTime: p.LeadTime}
			if capReason != "" {
				d.Reason = capReason
				d.why = why{kind: whyPeakCap, peakCapFactor: p.PeakCapFactor, peak: in.Peak}
			}
		default:
			d.Load, d.Reason = reactive, ReasonReactive
			d.why = why{kind: whyReactive, reactive: reactive, capped: capped}
		}
	}

	if p.Headroom > 0 {
		d.Load *= 1 + p.Headroom
		d.why.headroom = p.Headroom
	}
	// Bounded before the conversion: int(x) of a float beyond the int range
	// is undefined (math.MinInt64 on amd64), which would turn a huge load
	// into min replicas. Kubernetes counts replicas in an int32.
	d.Replicas = int(min(math.Ceil(d.Load/p.TargetPerReplica-1e-9), math.MaxInt32))
	if d.Replicas < p.MinReplicas {
		d.Replicas = p.MinReplicas
		if !d.Reason.Fallback() {
			d.Reason = ReasonMinReplicas
		}
		d.why.minReplicas = p.MinReplicas
	}
	if p.MaxReplicas > 0 && d.Replicas > p.MaxReplicas {
		d.Replicas = p.MaxReplicas
		d.Load = float64(p.MaxReplicas) * p.TargetPerReplica
		if !d.Reason.Fallback() {
			d.Reason = ReasonMaxReplicas // a fallback stays visible as such
		}
		d.why.maxReplicas = p.MaxReplicas
	}
	return d
}

// predictedLoad returns the largest upper-band value over the forecast
// steps in [Now, Now+LeadTime] (the step in progress at Now included), or the
// reason it cannot.
func predictedLoad(p Params, in Input) (float64, Reason) {
	f := in.Forecast
	if f == nil || len(f.Upper) == 0 || f.Step <= 0 {
		return 0, ReasonNoForecast
	}
	horizon := in.Now.Add(p.LeadTime)
	if last := f.Start.Add(time.Duration(len(f.Upper)-1) * f.Step); last.Before(horizon) {
		return 0, ReasonStaleForecast
	}
	past := in.Now.Add(-f.Step)
	best := math.Inf(-1)
	for i, v := range f.Upper {
		t := f.Start.Add(time.Duration(i) * f.Step)
		if !t.After(past) {
			continue // over before Now
		}
		if t.After(horizon) && !math.IsInf(best, -1) {
			break
		}
		if !isFinite(v) {
			return 0, ReasonBadForecast
		}
		best = max(best, v)
	}
	return max(best, 0), ""
}

func fallbackDetail(r Reason) string {
	switch r {
	case ReasonNoForecast:
		return "no fitted forecast"
	case ReasonBadForecast:
		return "the forecast is NaN or infinite"
	case ReasonStaleForecast:
		return "the forecast does not reach the lead time"
	}
	return string(r)
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
