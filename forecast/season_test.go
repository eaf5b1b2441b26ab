package forecast

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestDetectSeason(t *testing.T) {
	const day, week = 1440, 7 * 1440
	tests := []struct {
		name   string
		values []float64
		want   []int
	}{
		{"white noise, a week", whiteNoise(week, 100, 1), nil},
		{"white noise, two days", whiteNoise(2*day, 100, 2), nil},
		{"random walk, a week", randomWalk(week, 100, 3), nil},
		{"random walk, two days", randomWalk(2*day, 100, 4), nil},
		{"linear trend", linear(week, 10, 0.01), nil},
		{"constant", linear(week, 5, 0), nil},
		{"daily sine, a week", seasonal(week, day, 100, 30, 5, 5), []int{day}},
		{"daily sine, two days", seasonal(2*day, day, 100, 30, 5, 6), []int{day}},
		{"hourly cycle, two days", seasonal(2*day, 60, 100, 30, 5, 7), []int{60}},
		{"daily and weekly, four weeks", dailyWeekly(4*week, 8), []int{day, week}},
		// 1440 = 31·46 + 14: a day later the job is 14 minutes out of
		// phase, so no calendar period holds it.
		{"a 46-minute job", seasonal(3*day, 46, 100, 30, 5, 9), []int{46}},
		{"too short for any period", seasonal(7, 3, 1, 1, 0, 10), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := DetectSeason(tt.values, time.Minute)
			if !slices.Equal(rep.Periods, tt.want) {
				t.Errorf("periods %v, want %v (%s; tested %+v)", rep.Periods, tt.want, rep.Reason, rep.Tested)
			}
			if rep.Reason == "" {
				t.Error("no reason given")
			}
		})
	}
}

// The seasonal traces of testdata are detected as daily over a week of
// history, as Foresight's forecasts use them, and the synthetic ones as
// daily and weekly over their four weeks.
func TestDetectSeasonTraces(t *testing.T) {
	const day, week = 1440, 7 * 1440
	for _, name := range []string{
		"crane-cpu-0.csv.gz", "crane-cpu-2.csv.gz", "crane-cpu-8.csv.gz", "crane-cpu-9.csv.gz",
		"synthetic-trace-101-0.csv.gz", "synthetic-trace-101-1.csv.gz", "synthetic-trace-102-0.csv.gz", "synthetic-trace-102-1.csv.gz",
	} {
		t.Run(name, func(t *testing.T) {
			s := loadTrace(t, name)
			n := s.Len()
			for _, from := range []int{max(0, n-week), max(0, n-2*week)} {
				rep := DetectSeason(s.Values[from:], time.Minute)
				if len(rep.Periods) == 0 || rep.Periods[0] != day {
					t.Errorf("last %d steps: periods %v, want a daily one first (%s; %+v)", n-from, rep.Periods, rep.Reason, rep.Tested)
				}
			}
			if n >= 4*week {
				if rep := DetectSeason(s.Values, time.Minute); !slices.Equal(rep.Periods, []int{day, week}) {
					t.Errorf("four weeks: periods %v, want daily and weekly (%s; %+v)", rep.Periods, rep.Reason, rep.Tested)
				}
			}
		})
	}
}

func TestDetectSeasonStep(t *testing.T) {
	// Five-minute data: a day is 288 steps; an hour, 12.
	v := seasonal(7*288, 288, 100, 30, 5, 11)
	if rep := DetectSeason(v, 5*time.Minute); !slices.Equal(rep.Periods, []int{288}) {
		t.Errorf("periods %v, want [288]: %s", rep.Periods, rep.Reason)
	}
	// A step that divides no calendar period leaves the autocorrelation.
	if rep := DetectSeason(v, 7*time.Minute); !slices.Equal(rep.Periods, []int{288}) {
		t.Errorf("with a 7-minute step: periods %v, want [288] from the autocorrelation: %+v", rep.Periods, rep.Tested)
	}
	if rep := DetectSeason(v, 0); rep.Periods != nil {
		t.Errorf("a zero step detected %v", rep.Periods)
	}
}

func TestSeasonStrength(t *testing.T) {
	noise := whiteNoise(7*1440, 0, 12)
	if s := SeasonStrength(noise, 1440); math.Abs(s) > 0.05 {
		t.Errorf("white noise: strength %.3f, want about 0", s)
	}
	pure := seasonal(7*1440, 1440, 0, 1, 0, 13)
	if s := SeasonStrength(pure, 1440); s < 0.99 {
		t.Errorf("a noiseless sine: strength %.3f, want 1", s)
	}
	gappy := slices.Clone(pure)
	for i := 0; i < len(gappy); i += 3 {
		gappy[i] = math.NaN()
	}
	if s := SeasonStrength(gappy, 1440); s < 0.99 {
		t.Errorf("a sine with a third missing: strength %.3f, want 1", s)
	}
	if s := SeasonStrength(pure[:1000], 1440); s != 0 {
		t.Errorf("less than two cycles: strength %.3f, want 0", s)
	}
}

func FuzzDetectSeason(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint16(60), uint8(1))
	f.Add(floatBytes(seasonal(300, 24, 10, 3, 1, 14)), uint16(60), uint8(1))
	f.Add(floatBytes([]float64{math.NaN(), math.Inf(1), 1e308, -1e308, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), uint16(1), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, stepSeconds uint16, rep uint8) {
		values := bytesFloats(raw)
		// Repeat the values so that periods can fit.
		for range int(rep % 8) {
			values = append(values, values...)
		}
		step := time.Duration(stepSeconds) * time.Second
		r := DetectSeason(values, step)
		if len(r.Periods) > 2 {
			t.Fatalf("%d periods", len(r.Periods))
		}
		for i, p := range r.Periods {
			if p < 4 || 2*p > len(values) {
				t.Fatalf("period %d out of range for %d values", p, len(values))
			}
			if i == 1 && p%r.Periods[0] != 0 {
				t.Fatalf("second period %d is not a multiple of %d", p, r.Periods[0])
			}
		}
		for _, ps := range r.Tested {
			if math.IsNaN(ps.Strength) || ps.Strength > 1+1e-9 {
				t.Fatalf("strength %v of period %d", ps.Strength, ps.Period)
			}
		}
		if r.Reason == "" {
			t.Fatal("no reason")
		}
	})
}

func linear(n int, a, b float64) []float64 {
	v := make([]float64, n)
	for t := range v {
		v[t] = a + b*float64(t)
	}
	return v
}

// dailyWeekly returns minute data with a daily cycle whose amplitude is
// lower on the two weekend days.
func dailyWeekly(n int, seed uint64) []float64 {
	v := seasonal(n, 1440, 100, 40, 5, seed)
	for t := range v {
		if d := t / 1440 % 7; d >= 5 {
			v[t] = 0.5*(v[t]-100) + 60
		}
	}
	return v
}

func floatBytes(v []float64) []byte {
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		u := math.Float64bits(x)
		for i := range 8 {
			b = append(b, byte(u>>(8*i)))
		}
	}
	return b
}

func bytesFloats(b []byte) []float64 {
	v := make([]float64, 0, len(b)/8)
	for i := 0; i+8 <= len(b); i += 8 {
		var u uint64
		for j := range 8 {
			u |= uint64(b[i+j]) << (8 * j)
		}
		v = append(v, math.Float64frombits(u))
	}
	return v
}
