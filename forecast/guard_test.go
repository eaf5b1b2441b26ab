package forecast

import (
	"math"
	"testing"
)

// TestGuard runs a model fitted on the week before a labelled outage of
// synthetic-trace-101-1 (rows [23429, 23521): load near zero, then a retry
// surge; labels-101.json) over the outage, and over made-up changes, with
// and without a Guard.
func TestGuard(t *testing.T) {
	const outStart, outEnd, day = 23429, 23521, 1440
	trace := loadTrace(t, "synthetic-trace-101-1.csv.gz")
	history := trace.Slice(outStart-7*day, outStart)
	fitted, _, err := FitAuto(history, AutoOptions{Horizon: 60})
	if err != nil {
		t.Fatal(err)
	}
	if fitted.Spec.Seasonality == SeasonNone {
		t.Fatalf("chose %s: the test needs a seasonal model", fitted.Spec)
	}
	normal := mean(trace.Values[outStart-day : outEnd-day]) // the same hours a day earlier

	// live runs a copy of the fitted model over values, guarded or not,
	// and returns the mean of its next 30 steps and the guard; verdicts
	// counts the guard's verdicts instead.
	live := func(values []float64, guarded bool) (float64, *Guard) {
		m := fitted.Clone()
		g := NewGuard(m, history.Values, 0)
		for _, v := range values {
			if guarded {
				g.Observe(v)
			} else {
				m.Observe(v)
			}
		}
		return predictMean(t, m), g
	}
	verdicts := func(values []float64) (map[Verdict]int, float64) {
		m := fitted.Clone()
		g := NewGuard(m, history.Values, 0)
		n := map[Verdict]int{}
		for _, v := range values {
			n[g.Observe(v)]++
		}
		return n, predictMean(t, m)
	}
	scaled := func(k float64, n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = k * trace.Values[outStart-day+i]
		}
		return out
	}

	t.Run("outage", func(t *testing.T) {
		// The collapse only: the retry surge that ends it is above the
		// forecast and passes anyway.
		collapse := trace.Values[outStart:outEnd]
		n := 0
		for n < len(collapse) && collapse[n] < 0.5*normal {
			n++
		}
		if n < 20 {
			t.Fatalf("the labelled outage starts with %d values below half the load: not the trace the test was written for", n)
		}
		guarded, g := live(collapse[:n], true)
		plain, _ := live(collapse[:n], false)
		t.Logf("after %d minutes near zero (the load a day earlier: %.0f): forecast %.0f guarded, %.0f without", n, normal, guarded, plain)
		if g.Held() != n {
			t.Errorf("rejected %d of the %d values of the collapse", g.Held(), n)
		}
		if guarded < 0.8*normal {
			t.Errorf("guarded forecast %.0f fell with the collapse (normal load %.0f)", guarded, normal)
		}
		if plain > 0.6*normal {
			t.Errorf("unguarded forecast %.0f did not fall (normal %.0f): the test no longer shows what the guard prevents", plain, normal)
		}
	})
	t.Run("lasting drop is a change", func(t *testing.T) {
		// A fifth of the load for four hours: longer than the default run
		// of an eighth of a day, so the guard takes it back.
		values := scaled(0.2, 4*60)
		n, guarded := verdicts(values)
		plain, _ := live(values, false)
		t.Logf("after four hours at a fifth of the load: forecast %.0f guarded, %.0f without; verdicts %v", guarded, plain, n)
		if n[Held] != 1440/8 || n[Changed] != 1 {
			t.Errorf("verdicts %v: want %d held, then one change", n, 1440/8)
		}
		if guarded != plain {
			t.Errorf("a change taken back should leave the state as if observed: %.6g guarded, %.6g without", guarded, plain)
		}
	})
	t.Run("gaps within a change keep the phase", func(t *testing.T) {
		// The same drop with every other minute missing: the gaps neither
		// end the hold nor count toward its length, and are replayed with
		// it, so the state ends as if every value had been observed.
		values := scaled(0.2, 8*60)
		for i := 1; i < len(values); i += 2 {
			values[i] = math.NaN()
		}
		n, guarded := verdicts(values)
		plain, _ := live(values, false)
		if n[Held] != 1440/8 || n[Changed] != 1 {
			t.Errorf("verdicts %v: want %d held, then one change", n, 1440/8)
		}
		if guarded != plain {
			t.Errorf("after a change with gaps the state differs from the unguarded one's: %.6g guarded, %.6g without", guarded, plain)
		}
	})
	t.Run("normal load after a flash crowd is not a collapse", func(t *testing.T) {
		// Half an hour at three times the load, learnt (above the
		// forecast), then an hour of normal load: that must be learnt too,
		// not held at the crowd's level.
		values := append(scaled(3, 30), scaled(1, 90)[30:]...)
		n, guarded := verdicts(values)
		plain, _ := live(values, false)
		t.Logf("after a crowd at 3x and an hour of normal load: forecast %.0f guarded, %.0f without; verdicts %v", guarded, plain, n)
		if n[Held] != 0 || math.Abs(guarded/plain-1) > 0.01 {
			t.Errorf("verdicts %v, forecast %.0f against %.0f unguarded: the normal load after the crowd was held", n, guarded, plain)
		}
	})
	t.Run("a refit during a collapse holds on", func(t *testing.T) {
		// A model refitted on a history that ends 20 minutes into a
		// collapse: the guard counts those as held, and holds the next.
		start := outStart - 7*day + 20
		refitted, _, err := FitAuto(trace.Slice(start, outStart+20), AutoOptions{Horizon: 60, ExcludeAnomalies: true})
		if err != nil {
			t.Fatal(err)
		}
		g := NewGuard(refitted, trace.Values[start:outStart+20], 0)
		if g.Held() < 15 {
			t.Errorf("a guard built at the 20th minute of a collapse holds %d values, want most of them", g.Held())
		}
		if v := g.Observe(trace.Values[outStart+20]); v != Held {
			t.Errorf("the next value of the collapse: %v, want Held", v)
		}
	})
	t.Run("surge passes", func(t *testing.T) {
		values := scaled(3, 30)
		guarded, g := live(values, true)
		plain, _ := live(values, false)
		if g.Held() != 0 || guarded != plain {
			t.Errorf("a surge to three times the load was rejected (%d values) or changed the forecast (%.6g vs %.6g)", g.Held(), guarded, plain)
		}
	})
	t.Run("constant model passes everything", func(t *testing.T) {
		flat := Series{Start: history.Start, Step: history.Step, Values: make([]float64, 3*day)}
		for i := range flat.Values {
			flat.Values[i] = 7
		}
		m, err := Fit(flat, Spec{}, FitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		g := NewGuard(m, flat.Values, 0)
		next := m.Next
		if g.Observe(0) != Learnt || g.Held() != 0 || !m.Next.Equal(next.Add(m.Step)) {
			t.Errorf("a constant model's guard rejected a value or did not advance the model")
		}
	})
}

// predictMean is the mean of m's forecast over the next 30 steps.
func predictMean(t *testing.T, m *Model) float64 {
	t.Helper()
	f, err := m.Predict(30, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	return mean(f.Mean)
}
