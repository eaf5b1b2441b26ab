package forecast

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SeasonSetting is a user's choice of seasonality: detect it, none, or
// given periods.
type SeasonSetting struct {
	Auto    bool
	None    bool
	Periods []time.Duration
}

// ErrBadSetting is wrapped by the parse errors of this file.
var ErrBadSetting = errors.New("invalid setting")

// ParseSeason reads "auto", "none", or one or two periods separated by a
// comma, each a Go duration with d (day) and w (week) allowed: "1d",
// "1d,1w", "1h", "30m".
func ParseSeason(s string) (SeasonSetting, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return SeasonSetting{Auto: true}, nil
	case "none", "off":
		return SeasonSetting{None: true}, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > 2 {
		return SeasonSetting{}, fmt.Errorf("%w: season %q: at most two periods, e.g. 1d,1w", ErrBadSetting, s)
	}
	var out SeasonSetting
	for _, p := range parts {
		d, err := ParseDuration(p)
		if err != nil {
			return SeasonSetting{}, fmt.Errorf("%w: season %q: %w; use auto, none, or periods such as 1d or 1d,1w", ErrBadSetting, s, err)
		}
		if d <= 0 {
			return SeasonSetting{}, fmt.Errorf("%w: season %q: periods must be positive", ErrBadSetting, s)
		}
		out.Periods = append(out.Periods, d)
	}
	slices.Sort(out.Periods)
	return out, nil
}

// Steps converts the periods to steps of the given length.
func (ss SeasonSetting) Steps(step time.Duration) ([]int, error) {
	var out []int
	for _, d := range ss.Periods {
		if step <= 0 || d%step != 0 {
			return nil, fmt.Errorf("%w: season period %s is not a whole number of %s steps", ErrBadSetting, FormatDuration(d), step)
		}
		out = append(out, int(d/step))
	}
	if len(out) == 2 && out[1]%out[0] != 0 {
		return nil, fmt.Errorf("%w: season periods %s and %s: the longer must be a multiple of the shorter", ErrBadSetting, FormatDuration(ss.Periods[0]), FormatDuration(ss.Periods[1]))
	}
	return out, nil
}

// ParseDuration is time.ParseDuration with the units d (24h) and w (7d),
// which load histories need: "7d", "1w", "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var total time.Duration
	rest := s
	for _, u := range []struct {
		suffix byte
		unit   time.Duration
	}{{'w', 7 * 24 * time.Hour}, {'d', 24 * time.Hour}} {
		i := strings.IndexByte(rest, u.suffix)
		if i < 0 {
			continue
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("duration %q: %q is not a whole number of %c", s, rest[:i], u.suffix)
		}
		if n > int(math.MaxInt64/u.unit) || total > math.MaxInt64-time.Duration(n)*u.unit {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += time.Duration(n) * u.unit
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("duration %q: use units such as 30s, 5m, 1h, 1d, 1w", s)
		}
		if d > 0 && total > math.MaxInt64-d {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += d
	}
	if s == "" {
		return 0, errors.New("empty duration: use units such as 30s, 5m, 1h, 1d, 1w")
	}
	return total, nil
}

// FormatDuration writes d with d and w units where they fit: 1w, 1d, 90m.
func FormatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d > 0 && d%(7*day) == 0:
		return fmt.Sprintf("%dw", d/(7*day))
	case d > 0 && d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

// ParseWindow reads a time range START/END in RFC 3339, e.g.
// 2026-03-10T14:00:00Z/2026-03-10T15:30:00Z.
func ParseWindow(s string) (Window, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Window{}, fmt.Errorf("%w: window %q: expected START/END in RFC 3339, e.g. 2026-03-10T14:00:00Z/2026-03-10T15:30:00Z", ErrBadSetting, s)
	}
	start, err := time.Parse(time.RFC3339, strings.TrimSpace(a))
	if err != nil {
		return Window{}, fmt.Errorf("%w: window %q: start: %w", ErrBadSetting, s, err)
	}
	end, err := time.Parse(time.RFC3339, strings.TrimSpace(b))
	if err != nil {
		return Window{}, fmt.Errorf("%w: window %q: end: %w", ErrBadSetting, s, err)
	}
	if !end.After(start) {
		return Window{}, fmt.Errorf("%w: window %q: the end must be after the start", ErrBadSetting, s)
	}
	return Window{Start: start, End: end}, nil
}
