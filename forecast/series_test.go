package forecast

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestAlign(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration, v float64) Sample { return Sample{T: t0.Add(d), V: v} }
	nan := math.NaN()
	tests := []struct {
		name    string
		samples []Sample
		step    time.Duration
		want    []float64
		wantStp time.Duration
		report  AlignReport
	}{
		{
			"regular",
			[]Sample{at(0, 1), at(time.Minute, 2), at(2*time.Minute, 3)},
			0,
			[]float64{1, 2, 3},
			time.Minute,
			AlignReport{},
		},
		{
			"gap",
			[]Sample{at(0, 1), at(time.Minute, 2), at(4*time.Minute, 5)},
			0,
			[]float64{1, 2, nan, nan, 5},
			time.Minute,
			AlignReport{Missing: 2},
		},
		{
			"jitter",
			[]Sample{at(0, 1), at(62*time.Second, 2), at(119*time.Second, 3)},
			time.Minute,
			[]float64{1, 2, 3},
			time.Minute,
			AlignReport{OffGrid: 2},
		},
		{
			"two in one step are averaged",
			[]Sample{at(0, 1), at(20*time.Second, 3), at(time.Minute, 5)},
			time.Minute,
			[]float64{2, 5},
			time.Minute,
			AlignReport{OffGrid: 1, Merged: 1},
		},
		{
			"15-second scrapes to a minute",
			[]Sample{at(0, 1), at(15*time.Second, 1), at(45*time.Second, 3), at(60*time.Second, 3)},
			time.Minute,
			[]float64{1, 3},
			time.Minute,
			AlignReport{OffGrid: 2, Merged: 2},
		},
		{
			"median spacing",
			[]Sample{at(0, 1), at(30*time.Second, 2), at(60*time.Second, 3), at(5*time.Minute, 4)},
			0,
			nil, 30 * time.Second,
			AlignReport{},
		},
		{"a single sample", []Sample{at(0, 7)}, 0, []float64{7}, time.Minute, AlignReport{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, rep, err := Align(tt.samples, tt.step)
			if err != nil {
				t.Fatal(err)
			}
			if s.Step != tt.wantStp || rep.Step != tt.wantStp || !s.Start.Equal(t0) {
				t.Errorf("step %s (report %s), start %s; want %s from %s", s.Step, rep.Step, s.Start, tt.wantStp, t0)
			}
			if tt.want != nil {
				if len(s.Values) != len(tt.want) {
					t.Fatalf("values %v, want %v", s.Values, tt.want)
				}
				for i, v := range tt.want {
					if got := s.Values[i]; got != v && !(math.IsNaN(got) && math.IsNaN(v)) {
						t.Errorf("value %d = %g, want %g", i, got, v)
					}
				}
				rep.Step = 0
				if rep != tt.report {
					t.Errorf("report %+v, want %+v", rep, tt.report)
				}
			}
		})
	}
}

func TestAlignErrors(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	if _, _, err := Align(nil, 0); !errors.Is(err, ErrNoSamples) {
		t.Errorf("no samples: %v", err)
	}
	if _, _, err := Align([]Sample{{T: t0.Add(time.Minute)}, {T: t0}}, 0); !errors.Is(err, ErrUnsorted) {
		t.Errorf("unsorted: %v", err)
	}
	if _, _, err := Align([]Sample{{T: t0}}, -time.Second); !errors.Is(err, ErrBadStep) {
		t.Errorf("negative step: %v", err)
	}
	if _, _, err := Align([]Sample{{T: t0}, {T: t0.Add(100 * 365 * 24 * time.Hour)}}, time.Second); err == nil {
		t.Error("a century at one second: no error")
	}
	// Beyond ~292 years time.Time.Sub saturates; the point count must not
	// overflow into a negative make (it panicked).
	far := time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, step := range []time.Duration{time.Second, time.Minute, 24 * time.Hour} {
		if _, _, err := Align([]Sample{{T: time.Unix(0, 0)}, {T: far}}, step); err == nil {
			t.Errorf("1970 to 2400 at %s: no error", step)
		}
	}
}

func TestSeriesTimes(t *testing.T) {
	s := minuteSeries([]float64{1, math.NaN(), 3, math.Inf(1)})
	if s.Len() != 4 || s.Valid() != 2 {
		t.Errorf("Len %d, Valid %d", s.Len(), s.Valid())
	}
	if !s.End().Equal(s.Start.Add(4*time.Minute)) || !s.Time(2).Equal(s.Start.Add(2*time.Minute)) {
		t.Error("End or Time is off")
	}
	sub := s.Slice(1, 3)
	if !sub.Start.Equal(s.Time(1)) || sub.Len() != 2 {
		t.Errorf("Slice: start %s, len %d", sub.Start, sub.Len())
	}
	c := s.Clone()
	c.Values[0] = 9
	if s.Values[0] != 1 {
		t.Error("Clone shares storage")
	}
}
