package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// Source replays the embedded trace as if it were live, for `foresight
// serve --demo`: every query reads the trace, whose first day is laid on
// the UTC day a week before the one the source was made on, so that the
// week before now is history and the trace carries on, in a loop, after.
type Source struct {
	series forecast.Series
	anchor time.Time // wall time of the trace's first value
}

// NewSource returns a Source anchored for a server started at now.
func NewSource(now time.Time) (*Source, error) {
	data, err := Trace()
	if err != nil {
		return nil, err
	}
	s, _, err := forecast.Align(data.Samples, 0)
	if err != nil {
		return nil, fmt.Errorf("embedded demo trace: %w", err)
	}
	day := now.UTC().Truncate(24 * time.Hour)
	return &Source{series: s, anchor: day.Add(-7 * 24 * time.Hour)}, nil
}

// at returns the trace's value for wall time t.
func (s *Source) at(t time.Time) float64 {
	n := s.series.Len()
	i := int(t.Sub(s.anchor) / s.series.Step)
	i %= n
	if i < 0 {
		i += n
	}
	return s.series.Values[i]
}

// Range returns the trace over [start, end] at step; the query is ignored.
func (s *Source) Range(ctx context.Context, _ string, start, end time.Time, step time.Duration) ([]forecast.Sample, error) {
	if step <= 0 {
		return nil, fmt.Errorf("demo source: step %s must be positive", step)
	}
	var out []forecast.Sample
	for t := start; !t.After(end); t = t.Add(step) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out = append(out, forecast.Sample{T: t, V: s.at(t)})
	}
	return out, nil
}

// Instant returns the trace's value at a time; the query is ignored.
func (s *Source) Instant(ctx context.Context, _ string, at time.Time) (float64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	return s.at(at), true, nil
}
