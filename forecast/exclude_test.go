package forecast

import (
	"strings"
	"testing"
	"time"
)

// An outage in the history must not drag the forecast down a day later.
// synthetic-trace-101-1 has a labelled outage (load near zero, then a retry
// surge) at rows [23429, 23521) (labels-101.json). The forecasts cover the
// same time of day one day later, from two histories: a week ending then
// (the outage is yesterday), and three days whose first two cycles, those
// the initial seasonal state is estimated from, hold the outage.
func TestOutageExclusion(t *testing.T) {
	const outStart, outEnd, day = 23429, 23521, 1440
	trace := loadTrace(t, "synthetic-trace-101-1.csv.gz")
	horizon := outEnd - outStart
	target := outStart + day
	actual := trace.Values[target : target+horizon]
	outage := []Window{{Start: trace.Time(outStart), End: trace.Time(outEnd)}}
	bias := func(f []float64) float64 { return mean(f)/mean(actual) - 1 }

	tests := []struct {
		name     string
		from     int // first row of the history (it ends at target)
		spec     Spec
		params   *Params
		wantDrag bool // whether learning the outage must visibly hurt the forecast
	}{
		// A seasonal state that adapts fast (γ = 0.4) shows the mechanism.
		{"outage yesterday, fast season", target - 7*day, Spec{Seasonality: SeasonAdditive, Periods: []int{day}}, &Params{Alpha: 0.3, Gamma: []float64{0.4}}, true},
		{"outage yesterday, fitted", target - 7*day, Spec{Seasonality: SeasonMultiplicative, Periods: []int{day}, AR: true}, nil, false},
		{"outage in the initial cycles, fitted", outStart - 2*day, Spec{Seasonality: SeasonAdditive, Periods: []int{day}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			history := trace.Slice(tt.from, target)
			excluded, removed := history.Exclude(outage)
			if removed != horizon {
				t.Fatalf("Exclude removed %d values, want %d", removed, horizon)
			}
			opts := FitOptions{Horizon: horizon, Params: tt.params}
			with := forecastMean(t, excluded, tt.spec, opts, horizon)
			without := forecastMean(t, history, tt.spec, opts, horizon)
			t.Logf("bias with the outage excluded %+.1f%%, learnt %+.1f%%; MAE %.1f vs %.1f",
				100*bias(with), 100*bias(without), mae(with, actual), mae(without, actual))
			if b := bias(with); b < -0.1 || b > 0.1 {
				t.Errorf("with the outage excluded the forecast is off by %+.1f%%", 100*b)
			}
			if tt.wantDrag && mae(without, actual) < 1.25*mae(with, actual) {
				t.Errorf("learning the outage should raise the error by a quarter here, MAE %.2f vs %.2f: the test no longer shows the mechanism", mae(without, actual), mae(with, actual))
			}
			if mae(with, actual) > mae(without, actual) {
				t.Errorf("excluding the outage made the forecast worse: MAE %.2f, learnt %.2f", mae(with, actual), mae(without, actual))
			}
		})
	}
	t.Run("auto", func(t *testing.T) {
		excluded, _ := trace.Slice(outStart-2*day, target).Exclude(outage)
		m, sel, err := FitAuto(excluded, AutoOptions{Horizon: horizon})
		if err != nil {
			t.Fatal(err)
		}
		f, err := m.Predict(horizon, 0.9)
		if err != nil {
			t.Fatal(err)
		}
		if b := bias(f.Mean); b < -0.1 || b > 0.1 {
			t.Errorf("FitAuto (%s) with the outage excluded is off by %+.1f%%", sel.Candidates[sel.Chosen].Model, 100*b)
		}
		if !hasNote(m.Notes, NoteMissing) {
			t.Errorf("no %s note for the excluded values: %v", NoteMissing, m.Notes)
		}
	})
}

func forecastMean(t *testing.T, s Series, spec Spec, opts FitOptions, h int) []float64 {
	t.Helper()
	m, err := Fit(s, spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.Predict(h, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	return f.Mean
}

func hasNote(notes []Note, code NoteCode) bool {
	for _, n := range notes {
		if n.Code == code {
			return true
		}
	}
	return false
}

func TestExcludeWindows(t *testing.T) {
	s := minuteSeries([]float64{0, 1, 2, 3, 4, 5, 6, 7})
	at := func(i int) time.Time { return s.Time(i) }
	tests := []struct {
		name    string
		windows []Window
		want    []bool // excluded
		removed int
	}{
		{"none", nil, []bool{false, false, false, false, false, false, false, false}, 0},
		{"inside", []Window{{at(2), at(4)}}, []bool{false, false, true, true, false, false, false, false}, 2},
		{"between steps", []Window{{at(2).Add(30 * time.Second), at(4).Add(time.Second)}}, []bool{false, false, false, true, true, false, false, false}, 2},
		{"before the start", []Window{{at(-5), at(1)}}, []bool{true, false, false, false, false, false, false, false}, 1},
		{"past the end", []Window{{at(6), at(20)}}, []bool{false, false, false, false, false, false, true, true}, 2},
		{"overlapping", []Window{{at(1), at(3)}, {at(2), at(4)}}, []bool{false, true, true, true, false, false, false, false}, 3},
		{"empty window", []Window{{at(3), at(3)}}, []bool{false, false, false, false, false, false, false, false}, 0},
		{"reversed window", []Window{{at(5), at(3)}}, []bool{false, false, false, false, false, false, false, false}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, removed := s.Exclude(tt.windows)
			if removed != tt.removed {
				t.Errorf("removed %d, want %d", removed, tt.removed)
			}
			for i, v := range got.Values {
				if isNaN := v != v; isNaN != tt.want[i] {
					t.Errorf("value %d excluded=%v, want %v", i, isNaN, tt.want[i])
				}
			}
			if s.Values[2] != 2 {
				t.Error("Exclude modified its receiver")
			}
		})
	}
}

// With ExcludeAnomalies, an outage nobody declared is found and left out:
// synthetic-trace-101-1's labelled outages (labels-101.json, retry surges
// included) are flagged, few values elsewhere are, and the forecast a day
// after an outage is not dragged down.
func TestExcludeAnomalies(t *testing.T) {
	const day = 1440
	trace := loadTrace(t, "synthetic-trace-101-1.csv.gz")
	incidents := [][2]int{ // outages, then flash crowds, of labels-101.json
		{15082, 15125},
		{36584, 36620},
		{23429, 23521},
		{30147, 30197},
		{18504, 18559},
		{39805, 39821},
		{19910, 19934},
		{36227, 36246},
	}
	const outStart, outEnd = 23429, 23521
	end := outStart + day
	history := trace.Slice(end-7*day, end)
	m, sel, err := FitAuto(history, AutoOptions{Horizon: 60, ExcludeAnomalies: true})
	if err != nil {
		t.Fatal(err)
	}
	if !hasNote(m.Notes, NoteAnomalies) || sel.Anomalies == 0 {
		t.Fatalf("no anomalies left out: %v", m.Notes)
	}
	// Which values did the first model flag? Refit without exclusion to
	// see them.
	plain, _, err := FitAuto(history, AutoOptions{Horizon: 60})
	if err != nil {
		t.Fatal(err)
	}
	det, err := Fit(history, Spec{Seasonality: SeasonAdditive, Periods: []int{1440}, AR: true}, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = plain
	flags := det.Anomalies(history.Values, 0)
	from := end - 7*day
	var inOutage, outside, labelled int
	for i, bad := range flags {
		row := from + i
		in := false
		for _, w := range incidents {
			if row >= w[0] && row < w[1]+10 {
				in = true
			}
		}
		switch {
		case bad && row >= outStart && row < outEnd:
			inOutage++
		case bad && !in:
			outside++
		}
		if row >= outStart && row < outEnd {
			labelled++
		}
	}
	t.Logf("%d values flagged: %d of the %d in the outage, %d outside any labelled incident", sel.Anomalies, inOutage, labelled, outside)
	if inOutage < labelled*7/10 {
		t.Errorf("only %d of the outage's %d values flagged", inOutage, labelled)
	}
	if outside > len(flags)/200 {
		t.Errorf("%d values flagged outside labelled incidents, more than 0.5%%", outside)
	}
	f, _ := m.Predict(outEnd-outStart, 0.9)
	actual := trace.Values[end : end+outEnd-outStart]
	if b := mean(f.Mean)/mean(actual) - 1; b < -0.1 || b > 0.1 {
		t.Errorf("a day after the outage the forecast is off by %+.1f%%", 100*b)
	}
}

// A week whose season is detected but whose chosen model is non-seasonal
// (at a one-step horizon) still has its outage left out: the anomaly test
// once asked for a non-seasonal model with the detected periods, an
// invalid spec, and was skipped without a word.
func TestExcludeAnomaliesWhenNoSeasonIsChosen(t *testing.T) {
	const day = 1440
	trace := loadTrace(t, "synthetic-trace-101-1.csv.gz")
	week := trace.Slice(23521+day-7*day, 23521+day) // ends a day after the labelled outage
	for _, refit := range []bool{false, true} {
		m, sel, err := FitAuto(week, AutoOptions{Horizon: 1, ExcludeAnomalies: true})
		if err != nil {
			t.Fatal(err)
		}
		if m.Spec.Seasonality != SeasonNone || len(sel.Season.Periods) == 0 {
			t.Fatalf("chose %s with season %v: the case needs a detected season and a non-seasonal choice", m.Spec, sel.Season.Periods)
		}
		if refit {
			m, err = Refit(week, sel, AutoOptions{Horizon: 1, ExcludeAnomalies: true})
			if err != nil {
				t.Fatal(err)
			}
		} else if sel.Anomalies == 0 {
			t.Errorf("FitAuto left no values out; notes %v", m.Notes)
		}
		if !hasNote(m.Notes, NoteAnomalies) {
			t.Errorf("refit %v: no anomaly note: %v", refit, m.Notes)
		}
		for _, n := range m.Notes {
			if strings.Contains(n.String(), "could not be fitted") {
				t.Errorf("refit %v: %s", refit, n)
			}
		}
	}
}
