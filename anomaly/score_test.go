package anomaly

import (
	"errors"
	"math"
	"testing"
)

func TestScoreContract(t *testing.T) {
	// A band of yhat = 100, [90, 120]: 10 below, 20 above.
	for _, c := range []struct {
		name           string
		o              Options
		y              float64
		want           float64
		wantLo, wantHi float64
	}{
		{"on the prediction: 0", Options{}, 100, 0, 90, 120},
		{"halfway to the upper edge: 0.5", Options{}, 110, 0.5, 90, 120},
		{"on the upper edge: 1", Options{}, 120, 1, 90, 120},
		{"twice as far out above: 2", Options{}, 140, 2, 90, 120},
		{"the lower side has its own half-width", Options{}, 85, 1.5, 90, 120},
		{"above_expected ignores a drop", Options{Direction: Above}, 50, 0, 90, 120},
		{"above_expected scores a rise", Options{Direction: Above}, 140, 2, 90, 120},
		{"below_expected ignores a rise", Options{Direction: Below}, 500, 0, 90, 120},
		{"below_expected scores a drop", Options{Direction: Below}, 80, 2, 90, 120},
		{"absolute floor widens a narrow band", Options{MinDev: 40}, 140, 1, 60, 140},
		{"absolute floor: a deviation under it stays ≤ 1", Options{MinDev: 40}, 130, 0.75, 60, 140},
		{"relative floor: 50% of yhat", Options{MinRelDev: 0.5}, 125, 0.5, 50, 150},
		{"both floors: the wider counts (AND of the two conditions)", Options{MinDev: 30, MinRelDev: 0.2}, 125, 25.0 / 30, 70, 130},
		{"scale widens the upper side only", Options{ScaleUpper: 2, ScaleLower: 1}, 140, 1, 90, 140},
		{"scale narrows the lower side", Options{ScaleUpper: 1, ScaleLower: 0.5}, 90, 2, 95, 120},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := c.o.Score(c.y, 100, 90, 120)
			if math.Abs(e.Score-c.want) > 1e-12 || math.Abs(e.Lower-c.wantLo) > 1e-12 || math.Abs(e.Upper-c.wantHi) > 1e-12 {
				t.Errorf("Score(%g) = %g in [%g, %g], want %g in [%g, %g]", c.y, e.Score, e.Lower, e.Upper, c.want, c.wantLo, c.wantHi)
			}
			if e.Anomalous() != (c.want > 1) {
				t.Errorf("Anomalous() = %v with score %g", e.Anomalous(), e.Score)
			}
		})
	}
}

func TestScoreEdgeCases(t *testing.T) {
	var o Options
	if e := o.Score(math.NaN(), 100, 90, 110); !math.IsNaN(e.Score) {
		t.Errorf("a missing value scores %g, want NaN", e.Score)
	}
	if e := o.Score(5, math.NaN(), math.NaN(), math.NaN()); e.Score != 0 {
		t.Errorf("no prediction yet (warm-up) scores %g, want 0", e.Score)
	}
	// A zero-width band: a deviation scores very high but finite, the
	// flapping a floor prevents.
	e := o.Score(100.01, 100, 100, 100)
	if !(e.Score > 1e4) || math.IsInf(e.Score, 0) {
		t.Errorf("zero-width band: score %g, want large and finite", e.Score)
	}
	o.MinDev = 0.5
	if e := o.Score(100.01, 100, 100, 100); e.Score > 1 {
		t.Errorf("with a floor of 0.5 a deviation of 0.01 scores %g, want ≤ 1", e.Score)
	}
	// Growing with the deviation.
	prev := -1.0
	for y := 100.0; y < 200; y += 7 {
		s := Options{}.Score(y, 100, 90, 120).Score
		if s <= prev {
			t.Fatalf("score not increasing at %g: %g after %g", y, s, prev)
		}
		prev = s
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{MinDev: -1}, {MinRelDev: math.NaN()}, {ScaleUpper: math.Inf(1)}, {Direction: 7}} {
		if err := o.Validate(); !errors.Is(err, ErrBadOption) {
			t.Errorf("%+v: %v, want ErrBadOption", o, err)
		}
	}
	if err := (Options{MinDev: 1, MinRelDev: 0.1, ScaleUpper: 2}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestParseDirection(t *testing.T) {
	for in, want := range map[string]Direction{"": Both, "both": Both, "above": Above, "above_expected": Above, "Below_Expected": Below} {
		if got, err := ParseDirection(in); err != nil || got != want {
			t.Errorf("ParseDirection(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseDirection("up"); !errors.Is(err, ErrBadOption) {
		t.Errorf("ParseDirection(up): %v", err)
	}
}

func TestNABMapping(t *testing.T) {
	for _, c := range []struct{ s, want float64 }{{0, 0}, {1, 0.5}, {3, 0.75}, {math.NaN(), 0}, {math.Inf(1), 1}, {-1, 0}} {
		if got := NAB(c.s); got != c.want {
			t.Errorf("NAB(%g) = %g, want %g", c.s, got, c.want)
		}
	}
}
