// Package anomaly detects anomalies in time series and scores them with the
// contract of VictoriaMetrics' vmanomaly, so that alerts written for it
// (`anomaly_score > 1 for 5m`) work unchanged:
//
//   - anomaly_score is 0 when the value equals the prediction yhat, rises
//     towards 1 as the value nears the edge of the expected band
//     [yhat_lower, yhat_upper], and exceeds 1 outside it, growing in
//     proportion to the distance (see Options.Score for the formula);
//   - the prediction and the band are published with it (y, yhat,
//     yhat_lower, yhat_upper), so that a score explains itself.
//
// The detectors are the rolling z-score (ZScore), the rolling median and
// median absolute deviation (MAD), rolling quantiles (RollingQuantile) and
// a Holt-Winters forecast band from package forecast (HoltWinters). Each
// scores one series causally: Detector.Next scores a value from what came
// before it, then learns from it. Every detector takes the same
// false-positive controls (Options): an absolute and a relative floor on
// the deviation that can count, a direction, and a scale on the band.
package anomaly

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Direction says which deviations from the prediction count.
type Direction uint8

// Directions, named as vmanomaly's detection_direction.
const (
	Both  Direction = iota // both: above and below
	Above                  // above_expected: only y > yhat (error rates, latency)
	Below                  // below_expected: only y < yhat (throughput, conversions)
)

func (d Direction) String() string {
	switch d {
	case Above:
		return "above_expected"
	case Below:
		return "below_expected"
	}
	return "both"
}

// ErrBadOption is returned for an option out of its range.
var ErrBadOption = errors.New("invalid anomaly detection option")

// ParseDirection reads "both", "above_expected" (or "above") and
// "below_expected" (or "below").
func ParseDirection(s string) (Direction, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "both":
		return Both, nil
	case "above", "above_expected":
		return Above, nil
	case "below", "below_expected":
		return Below, nil
	}
	return Both, fmt.Errorf("%w: detection direction %q: use both, above_expected or below_expected", ErrBadOption, s)
}

// Options are the false-positive controls every detector shares. The zero
// value scores the model's band as it is, in both directions.
type Options struct {
	// MinDev is the absolute floor (vmanomaly's min_dev_from_expected): a
	// deviation |y − yhat| smaller than it never scores above 1, because the
	// band is never narrower than ±MinDev around yhat. In the units of the
	// series (requests per second, say). 0 means no floor.
	MinDev float64
	// MinRelDev is the relative floor (min_rel_dev_from_expected) as a
	// fraction of |yhat| (0.2 = 20%): the band is never narrower than
	// ±MinRelDev·|yhat|. Combined with MinDev, a deviation must exceed both
	// floors to score above 1. 0 means no floor.
	MinRelDev float64
	// Direction says which deviations count; the others score 0.
	Direction Direction
	// ScaleUpper and ScaleLower widen (> 1) or narrow (< 1) the model's
	// band above and below yhat before the floors apply (vmanomaly's
	// scale: [upper, lower]). 0 means 1.
	ScaleUpper, ScaleLower float64
}

// Validate reports an option out of range.
func (o Options) Validate() error {
	for _, c := range []struct {
		name string
		v    float64
	}{{"min_dev_from_expected", o.MinDev}, {"min_rel_dev_from_expected", o.MinRelDev}, {"scale (upper)", o.ScaleUpper}, {"scale (lower)", o.ScaleLower}} {
		if !(c.v >= 0) || math.IsInf(c.v, 0) {
			return fmt.Errorf("%w: %s is %g: it must be a finite number ≥ 0", ErrBadOption, c.name, c.v)
		}
	}
	if o.Direction > Below {
		return fmt.Errorf("%w: unknown direction %d", ErrBadOption, o.Direction)
	}
	return nil
}

// Estimate is a detector's verdict on one value: the value, the
// prediction, the expected band (after scale and floors) and the score.
type Estimate struct {
	Y, Yhat, Lower, Upper float64
	Score                 float64
}

// Anomalous reports whether the score exceeds 1: the value lies outside
// the expected band in a direction that counts.
func (e Estimate) Anomalous() bool { return e.Score > 1 }

// minMargin keeps a band of zero width (a constant history and no floor)
// from dividing by zero: the score of any deviation from a constant is
// then very large, but finite, so that gauges and sums stay usable.
const minMargin = 1e-9

// Score scores the value y against a model's prediction yhat and band
// [lower, upper]:
//
//	u = max(upper − yhat, 0)·ScaleUpper,  l = max(yhat − lower, 0)·ScaleLower
//	f = max(MinDev, MinRelDev·|yhat|),     u' = max(u, f, ε),  l' = max(l, f, ε)
//	score = (y − yhat)/u'  if y ≥ yhat,    (yhat − y)/l'  if y < yhat
//
// with ε = 1e-9·max(1, |yhat|), and score = 0 for a deviation in a
// direction that does not count. The score is therefore 0 at yhat, 1 on
// the edge of the band [yhat − l', yhat + u'] (which is what Estimate
// reports as Lower and Upper), and grows linearly with the deviation
// beyond it: this is the interval form of vmanomaly's score, |y − yhat|
// over the half-width of the band on the deviation's side. Where vmanomaly
// sets the score of a deviation under min_dev_from_expected to 0, Score
// widens the band to the floor instead: alerts on score > 1 fire alike,
// and the published band shows why a deviation did not count.
//
// A value that is NaN or infinite scores NaN (vmanomaly does the same); a
// prediction that is not finite (a detector still warming up) scores 0.
func (o Options) Score(y, yhat, lower, upper float64) Estimate {
	e := Estimate{Y: y, Yhat: yhat, Lower: lower, Upper: upper}
	if !finite(yhat) {
		e.Score = 0
		if !finite(y) {
			e.Score = math.NaN()
		}
		return e
	}
	su, sl := o.ScaleUpper, o.ScaleLower
	if su == 0 {
		su = 1
	}
	if sl == 0 {
		sl = 1
	}
	u := math.Max(upper-yhat, 0) * su
	l := math.Max(yhat-lower, 0) * sl
	if !finite(u) {
		u = 0
	}
	if !finite(l) {
		l = 0
	}
	f := math.Max(math.Max(o.MinDev, o.MinRelDev*math.Abs(yhat)), minMargin*math.Max(1, math.Abs(yhat)))
	u, l = math.Max(u, f), math.Max(l, f)
	e.Lower, e.Upper = yhat-l, yhat+u
	if !finite(y) {
		e.Score = math.NaN()
		return e
	}
	d := y - yhat
	switch {
	case d > 0 && o.Direction != Below:
		e.Score = d / u
	case d < 0 && o.Direction != Above:
		e.Score = -d / l
	}
	return e
}

// NAB maps a score from [0, ∞) onto [0, 1) for the Numenta Anomaly
// Benchmark, whose detectors report a likelihood in [0, 1]:
//
//	nab = s / (1 + s)
//
// It is monotonic, so NAB's threshold optimisation ranks the points as the
// raw score does; the band's edge (s = 1) maps to 0.5, and s = 3 (three
// band half-widths out) to 0.75. NaN (a missing value) maps to 0.
func NAB(s float64) float64 {
	switch {
	case math.IsNaN(s) || s <= 0:
		return 0
	case math.IsInf(s, 1):
		return 1
	}
	return s / (1 + s)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
