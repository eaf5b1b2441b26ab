package forecast

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Series is a regularly sampled time series: Values[i] is the value at
// Start + i·Step. A NaN value marks a gap (a missing scrape, an excluded
// outage); the models carry their state across gaps instead of dropping them,
// so the seasonal phase of every later value stays right.
type Series struct {
	Start  time.Time
	Step   time.Duration
	Values []float64
}

// Len returns the number of steps in s, gaps included.
func (s Series) Len() int { return len(s.Values) }

// Time returns the time of the i-th value.
func (s Series) Time(i int) time.Time { return s.Start.Add(time.Duration(i) * s.Step) }

// End returns the time one step after the last value: the time of the first
// forecast step.
func (s Series) End() time.Time { return s.Time(len(s.Values)) }

// Valid returns the number of finite values in s.
func (s Series) Valid() int {
	n := 0
	for _, v := range s.Values {
		if isFinite(v) {
			n++
		}
	}
	return n
}

// Slice returns the values in [i, j) as a series that shares s's storage.
func (s Series) Slice(i, j int) Series {
	return Series{Start: s.Time(i), Step: s.Step, Values: s.Values[i:j:j]}
}

// Clone returns a deep copy of s.
func (s Series) Clone() Series {
	s.Values = slices.Clone(s.Values)
	return s
}

// Window is a half-open time range [Start, End).
type Window struct {
	Start, End time.Time
}

// Contains reports whether t lies in w.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

func (w Window) String() string {
	return w.Start.UTC().Format(time.RFC3339) + "/" + w.End.UTC().Format(time.RFC3339)
}

// Exclude returns a copy of s in which every value whose time falls in one of
// the windows is NaN, and the number of values so removed. Excluded values are
// treated as missing by the models: during the smoothing pass the one-step
// prediction stands in for them and the state carries on without an update.
// They are neither dropped (that would shift the seasonal phase of everything
// after them) nor interpolated.
func (s Series) Exclude(windows []Window) (Series, int) {
	out := s.Clone()
	removed := 0
	if s.Step <= 0 {
		return out, 0
	}
	for _, w := range windows {
		if !w.End.After(w.Start) {
			continue
		}
		first := ceilIndex(w.Start.Sub(s.Start), s.Step)
		last := ceilIndex(w.End.Sub(s.Start), s.Step) // exclusive
		first = max(first, 0)
		last = min(last, len(out.Values))
		for i := first; i < last; i++ {
			if !math.IsNaN(out.Values[i]) {
				removed++
			}
			out.Values[i] = math.NaN()
		}
	}
	return out, removed
}

// ceilIndex returns the smallest i with i·step ≥ d.
func ceilIndex(d, step time.Duration) int {
	if d <= 0 {
		return -int((-d) / step)
	}
	return int((d + step - 1) / step)
}

// Sample is one observation at an arbitrary time.
type Sample struct {
	T time.Time
	V float64
}

// AlignReport says what Align had to do to put samples on a regular grid.
type AlignReport struct {
	// Step is the grid step used: the one asked for, or the median spacing of
	// the samples when none was.
	Step time.Duration
	// OffGrid counts samples that were more than 1% of a step away from the
	// grid point they were assigned to.
	OffGrid int
	// Merged counts samples that shared a grid point with an earlier sample;
	// samples of one grid point are averaged.
	Merged int
	// Missing counts grid points with no sample (NaN in the series).
	Missing int
}

// Irregular reports whether the samples were not already on a regular grid.
func (r AlignReport) Irregular() bool { return r.OffGrid > 0 || r.Merged > 0 }

// Errors returned by Align.
var (
	ErrNoSamples = errors.New("no samples")
	ErrUnsorted  = errors.New("samples are not in ascending time order")
	ErrBadStep   = errors.New("step must be positive")
)

// maxAlignedPoints bounds the grid Align builds (120 MB of work space),
// so that two samples years apart at a one-second step cannot exhaust
// memory: 19 years at one minute, 115 days at one second.
const maxAlignedPoints = 10_000_000

// maxAlignedSpan bounds the time Align's samples may span.
const maxAlignedSpan = 100 * 366 * 24 * time.Hour

// Align puts samples, sorted by time, on a regular grid starting at the first
// sample's time. Each sample goes to the nearest grid point; samples that land
// on the same point are averaged; grid points without a sample are NaN. With
// step 0 the step is the median spacing of the samples, rounded to a whole
// second when it is longer than one.
func Align(samples []Sample, step time.Duration) (Series, AlignReport, error) {
	var rep AlignReport
	if len(samples) == 0 {
		return Series{}, rep, ErrNoSamples
	}
	for i := 1; i < len(samples); i++ {
		if samples[i].T.Before(samples[i-1].T) {
			return Series{}, rep, fmt.Errorf("sample %d (%s) is before sample %d (%s): %w",
				i, samples[i].T.UTC().Format(time.RFC3339), i-1, samples[i-1].T.UTC().Format(time.RFC3339), ErrUnsorted)
		}
	}
	if step < 0 {
		return Series{}, rep, ErrBadStep
	}
	if step == 0 {
		step = medianSpacing(samples)
		if step <= 0 {
			step = time.Minute // a single sample, or all at one instant
		}
	}
	rep.Step = step
	start := samples[0].T
	span := samples[len(samples)-1].T.Sub(start)
	// time.Time.Sub saturates beyond about 292 years, and the grid
	// arithmetic below would overflow near that: no load history spans a
	// century, so such timestamps are wrong.
	if span > maxAlignedSpan {
		return Series{}, rep, fmt.Errorf("the samples span %s to %s, more than a century: check the timestamps (seconds, not milliseconds?)",
			start.UTC().Format(time.RFC3339), samples[len(samples)-1].T.UTC().Format(time.RFC3339))
	}
	if span/step >= maxAlignedPoints {
		return Series{}, rep, fmt.Errorf("%d samples over %s at a step of %s would make more than %d points: use a longer step, or check the timestamps",
			len(samples), span, step, maxAlignedPoints)
	}
	n := int((span+step/2)/step) + 1
	if n > maxAlignedPoints {
		return Series{}, rep, fmt.Errorf("%d samples over %s at a step of %s would make %d points, more than %d: use a longer step",
			len(samples), span, step, n, maxAlignedPoints)
	}
	sum := make([]float64, n)
	count := make([]int32, n)
	tol := step / 100
	for _, smp := range samples {
		d := smp.T.Sub(start)
		i := int((d + step/2) / step)
		if off := d - time.Duration(i)*step; off > tol || off < -tol {
			rep.OffGrid++
		}
		if count[i] > 0 {
			rep.Merged++
		}
		sum[i] += smp.V
		count[i]++
	}
	for i := range sum {
		if count[i] == 0 {
			sum[i] = math.NaN()
			rep.Missing++
			continue
		}
		sum[i] /= float64(count[i])
	}
	return Series{Start: start, Step: step, Values: sum}, rep, nil
}

// medianSpacing returns the median of the positive gaps between consecutive
// samples.
func medianSpacing(samples []Sample) time.Duration {
	gaps := make([]time.Duration, 0, len(samples)-1)
	for i := 1; i < len(samples); i++ {
		if d := samples[i].T.Sub(samples[i-1].T); d > 0 {
			gaps = append(gaps, d)
		}
	}
	if len(gaps) == 0 {
		return 0
	}
	slices.Sort(gaps)
	m := gaps[(len(gaps)-1)/2] // the lower median: two gaps of 1m and 3m give 1m
	if m > time.Second {
		m = m.Round(time.Second)
	}
	return m
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
