package anomaly

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// Model classes, as a ModelConfig names them.
const (
	ClassZScore          = "zscore"
	ClassMAD             = "mad"
	ClassHoltWinters     = "holtwinters"
	ClassRollingQuantile = "rolling_quantile"
)

// maxWindow bounds a rolling window, in steps: each series keeps its
// window in memory.
const maxWindow = 100_000

// Classes lists the model classes.
var Classes = []string{ClassHoltWinters, ClassZScore, ClassMAD, ClassRollingQuantile}

// Duration is a time.Duration that reads from YAML as "90s", "1h", "7d" or
// "1w" (forecast.ParseDuration).
type Duration time.Duration

// UnmarshalText reads a duration with its unit.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := forecast.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%w: write a duration with its unit, such as 30s, 1h or 7d", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as forecast.FormatDuration does.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(forecast.FormatDuration(time.Duration(d))), nil
}

// ModelConfig names a detector class and its parameters, in the keys of
// vmanomaly's model section where it has them. Zero values take the
// class's defaults.
type ModelConfig struct {
	// Class is zscore, mad, rolling_quantile or holtwinters.
	Class string `yaml:"class"`
	// Queries are the names of the reader's queries this model scores;
	// empty means all of them (service mode only).
	Queries []string `yaml:"queries,omitempty"`
	// Window is the rolling models' baseline window (zscore, mad,
	// rolling_quantile); 0 means 60 steps.
	Window Duration `yaml:"window,omitempty"`
	// Threshold is z for zscore and k for mad, in (robust) standard
	// deviations; 0 means 3.
	Threshold float64 `yaml:"threshold,omitempty"`
	// Quantile is the band's upper quantile for rolling_quantile (0 means
	// 0.99) and holtwinters (0 means 0.995).
	Quantile float64 `yaml:"quantile,omitempty"`
	// Season is holtwinters' seasonality: auto (default), none, or periods
	// such as 1d or 1d,1w.
	Season string `yaml:"season,omitempty"`
	// MinDevFromExpected, MinRelDevFromExpected (a fraction: 0.2 is 20%),
	// DetectionDirection (both, above_expected, below_expected) and Scale
	// ([upper, lower], or one number for both) are the Options.
	MinDevFromExpected    float64   `yaml:"min_dev_from_expected,omitempty"`
	MinRelDevFromExpected float64   `yaml:"min_rel_dev_from_expected,omitempty"`
	DetectionDirection    string    `yaml:"detection_direction,omitempty"`
	Scale                 []float64 `yaml:"scale,omitempty"`
}

// Options returns the shared false-positive controls of c.
func (c ModelConfig) Options() (Options, error) {
	dir, err := ParseDirection(c.DetectionDirection)
	if err != nil {
		return Options{}, err
	}
	o := Options{MinDev: c.MinDevFromExpected, MinRelDev: c.MinRelDevFromExpected, Direction: dir}
	switch len(c.Scale) {
	case 0:
	case 1:
		o.ScaleUpper, o.ScaleLower = c.Scale[0], c.Scale[0]
	case 2:
		o.ScaleUpper, o.ScaleLower = c.Scale[0], c.Scale[1]
	default:
		return Options{}, fmt.Errorf("%w: scale has %d numbers: give [upper, lower] or one number", ErrBadOption, len(c.Scale))
	}
	for _, s := range c.Scale {
		if !(s > 0) {
			return Options{}, fmt.Errorf("%w: scale %g must be positive", ErrBadOption, s)
		}
	}
	return o, o.Validate()
}

// Validate checks c for a series of the given step.
func (c ModelConfig) Validate(step time.Duration) error {
	_, err := c.New(step)
	return err
}

// New builds the detector c describes for a series sampled every step.
func (c ModelConfig) New(step time.Duration) (Detector, error) {
	o, err := c.Options()
	if err != nil {
		return nil, err
	}
	if step <= 0 {
		return nil, fmt.Errorf("%w: step %s must be positive", ErrBadOption, step)
	}
	if c.Class != ClassHoltWinters && c.Season != "" {
		return nil, fmt.Errorf("%w: season applies to holtwinters only, not %s", ErrBadOption, c.Class)
	}
	rolling := func() (RollingConfig, error) {
		rc := RollingConfig{Threshold: c.Threshold, Quantile: c.Quantile, Options: o}
		if c.Window != 0 {
			w := time.Duration(c.Window)
			if w < 2*step || w%step != 0 {
				return rc, fmt.Errorf("%w: window %s must be a whole number of steps (%s), at least two", ErrBadOption, forecast.FormatDuration(w), step)
			}
			if w/step > maxWindow {
				return rc, fmt.Errorf("%w: window %s is %d steps of %s: at most %d", ErrBadOption, forecast.FormatDuration(w), w/step, step, maxWindow)
			}
			rc.Window = int(w / step)
		}
		return rc, nil
	}
	switch c.Class {
	case ClassZScore, ClassMAD, ClassRollingQuantile:
		rc, err := rolling()
		if err != nil {
			return nil, err
		}
		if c.Class == ClassRollingQuantile && c.Threshold != 0 {
			return nil, fmt.Errorf("%w: threshold applies to zscore and mad; rolling_quantile takes quantile", ErrBadOption)
		}
		if c.Class != ClassRollingQuantile && c.Quantile != 0 {
			return nil, fmt.Errorf("%w: quantile applies to rolling_quantile and holtwinters; %s takes threshold", ErrBadOption, c.Class)
		}
		switch c.Class {
		case ClassZScore:
			return NewZScore(rc)
		case ClassMAD:
			return NewMAD(rc)
		}
		return NewRollingQuantile(rc)
	case ClassHoltWinters:
		if c.Window != 0 || c.Threshold != 0 {
			return nil, fmt.Errorf("%w: window and threshold apply to the rolling models; holtwinters takes quantile and season (its history is the schedule's fit_window)", ErrBadOption)
		}
		hc := HoltWintersConfig{Quantile: c.Quantile, Options: o}
		ss, err := forecast.ParseSeason(c.Season)
		if err != nil {
			return nil, err
		}
		switch {
		case ss.None:
			hc.NoSeason = true
		case !ss.Auto:
			if hc.Periods, err = ss.Steps(step); err != nil {
				return nil, err
			}
		}
		return NewHoltWinters(hc)
	}
	return nil, fmt.Errorf("%w: unknown model class %q: use one of %s", ErrBadOption, c.Class, strings.Join(Classes, ", "))
}

// Stream scores a series causally, as the service does on its schedule:
// every FitEvery steps it fits the detector to the last FitWindow steps
// before the next value, and in between it scores each value with
// Detector.Next. The first fit comes once MinFit steps have been seen.
type Stream struct {
	det                       Detector
	step                      time.Duration
	fitEvery, fitWindow, minF int
	hist                      []float64
	start                     time.Time // time of hist[0]
	next                      time.Time // time of the next expected value
	sinceFit                  int
	tried                     bool
	// FitErrors counts fits that failed; the detector keeps its previous
	// state after one.
	FitErrors int
}

// StreamOptions set the schedule of a Stream, in steps.
type StreamOptions struct {
	// FitEvery is the number of steps between fits; 0 means one day's worth
	// of steps.
	FitEvery int
	// FitWindow is the number of steps a fit sees; 0 means one week's worth.
	FitWindow int
	// MinFit is the number of steps before the first fit; 0 means one
	// hour's worth, at least 10.
	MinFit int
}

// NewStream returns a stream over a detector for a series of the given
// step.
func NewStream(det Detector, step time.Duration, o StreamOptions) *Stream {
	perDay := max(int(24*time.Hour/step), 1)
	if o.FitEvery <= 0 {
		o.FitEvery = perDay
	}
	if o.FitWindow <= 0 {
		o.FitWindow = 7 * perDay
	}
	if o.MinFit <= 0 {
		o.MinFit = max(int(time.Hour/step), 10)
	}
	return &Stream{det: det, step: step, fitEvery: o.FitEvery, fitWindow: o.FitWindow, minF: min(o.MinFit, o.FitWindow)}
}

// Next scores the value y observed at t. Values must come in time order;
// steps skipped since the previous value are fed to the detector as gaps.
// A value off the step grid is taken as the nearest grid point's.
func (s *Stream) Next(t time.Time, y float64) Estimate {
	if s.next.IsZero() {
		s.start, s.next = t, t
	}
	gap := int(math.Round(float64(t.Sub(s.next)) / float64(s.step)))
	for range max(gap, 0) {
		s.observe(math.NaN())
	}
	return s.observe(y)
}

func (s *Stream) observe(y float64) Estimate {
	if len(s.hist) >= s.minF && (!s.tried || s.sinceFit >= s.fitEvery) {
		s.tried = true
		from := max(len(s.hist)-s.fitWindow, 0)
		h := forecast.Series{Start: s.start.Add(time.Duration(from) * s.step), Step: s.step, Values: s.hist[from:]}
		if err := s.det.Fit(h); err != nil {
			s.FitErrors++
		}
		s.sinceFit = 0
	}
	e := s.det.Next(y)
	s.hist = append(s.hist, y)
	if over := len(s.hist) - s.fitWindow; over > s.fitWindow {
		// Keep at most two windows: drop the older one in one copy.
		s.hist = slices.Delete(s.hist, 0, over)
		s.start = s.start.Add(time.Duration(over) * s.step)
	}
	s.sinceFit++
	s.next = s.next.Add(s.step)
	return e
}

// ScoreSamples scores samples (in time order) causally through the
// detector c describes, as a Stream fitted every fitEvery on the last
// fitWindow of history (0: one day, one week). The step is the samples'
// median spacing.
func ScoreSamples(c ModelConfig, samples []forecast.Sample, fitEvery, fitWindow time.Duration) ([]Estimate, error) {
	if len(samples) == 0 {
		return nil, nil
	}
	_, rep, err := forecast.Align(samples, 0)
	if err != nil {
		return nil, fmt.Errorf("find the step of the series: %w", err)
	}
	det, err := c.New(rep.Step)
	if err != nil {
		return nil, err
	}
	so := StreamOptions{FitEvery: int(fitEvery / rep.Step), FitWindow: int(fitWindow / rep.Step)}
	s := NewStream(det, rep.Step, so)
	out := make([]Estimate, len(samples))
	for i, x := range samples {
		out[i] = s.Next(x.T, x.V)
	}
	return out, nil
}
