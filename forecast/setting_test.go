package forecast

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestParseSeason(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		in      string
		want    SeasonSetting
		wantErr bool
	}{
		{"auto", SeasonSetting{Auto: true}, false},
		{"", SeasonSetting{Auto: true}, false},
		{"none", SeasonSetting{None: true}, false},
		{"OFF", SeasonSetting{None: true}, false},
		{"1d", SeasonSetting{Periods: []time.Duration{day}}, false},
		{"1w,1d", SeasonSetting{Periods: []time.Duration{day, 7 * day}}, false},
		{" 1h , 1d ", SeasonSetting{Periods: []time.Duration{time.Hour, day}}, false},
		{"30m", SeasonSetting{Periods: []time.Duration{30 * time.Minute}}, false},
		{"1d,1w,1h", SeasonSetting{}, true},
		{"daily", SeasonSetting{}, true},
		{"-1h", SeasonSetting{}, true},
		{"0s", SeasonSetting{}, true},
	} {
		got, err := ParseSeason(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseSeason(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrBadSetting) {
				t.Errorf("ParseSeason(%q): error %v does not wrap ErrBadSetting", tc.in, err)
			}
			continue
		}
		if got.Auto != tc.want.Auto || got.None != tc.want.None || !slices.Equal(got.Periods, tc.want.Periods) {
			t.Errorf("ParseSeason(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestSeasonSteps(t *testing.T) {
	ss, _ := ParseSeason("1d,1w")
	if got, err := ss.Steps(time.Minute); err != nil || !slices.Equal(got, []int{1440, 10080}) {
		t.Errorf("Steps(1m) = %v, %v", got, err)
	}
	if _, err := ss.Steps(7 * time.Minute); err == nil {
		t.Error("a day in 7-minute steps: no error")
	}
	odd, _ := ParseSeason("1h,90m")
	if _, err := odd.Steps(time.Minute); err == nil {
		t.Error("90m is not a multiple of 1h: no error")
	}
}

func TestParseDuration(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"5m", 5 * time.Minute, true},
		{"7d", 7 * day, true},
		{"1w", 7 * day, true},
		{"1w2d", 9 * day, true},
		{"1d12h", 36 * time.Hour, true},
		{"90s", 90 * time.Second, true},
		{"", 0, false},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"-1d", 0, false},
		{"1x", 0, false},
		{"100000000000w", 0, false},
		{"15251w", 0, false},
		{"15000d2562047h", 0, false},
	} {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for d, want := range map[time.Duration]string{7 * day: "1w", 2 * day: "2d", 90 * time.Minute: "1h30m0s", 0: "0s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestParseWindow(t *testing.T) {
	w, err := ParseWindow("2026-03-10T14:00:00Z/2026-03-10T15:30:00+01:00")
	if err != nil {
		t.Fatal(err)
	}
	if w.End.Sub(w.Start) != 30*time.Minute {
		t.Errorf("window %s lasts %s, want 30m", w, w.End.Sub(w.Start))
	}
	if !w.Contains(w.Start) || w.Contains(w.End) {
		t.Error("a window contains its start and not its end")
	}
	for _, bad := range []string{"2026-03-10T14:00:00Z", "2026-03-10/2026-03-11", "2026-03-10T15:00:00Z/2026-03-10T14:00:00Z", "x/y"} {
		if _, err := ParseWindow(bad); !errors.Is(err, ErrBadSetting) {
			t.Errorf("ParseWindow(%q): error %v, want ErrBadSetting", bad, err)
		}
	}
}
