package backtest

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
)

// dailyLoad returns days of one-minute load with a daily cycle and noise.
func dailyLoad(days int, seed uint64) forecast.Series {
	rng := rand.New(rand.NewPCG(seed, 9))
	v := make([]float64, days*1440)
	for t := range v {
		v[t] = 300 + 200*math.Sin(2*math.Pi*float64(t)/1440) + 10*rng.NormFloat64()
	}
	return forecast.Series{Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Step: time.Minute, Values: v}
}

func TestRun(t *testing.T) {
	s := dailyLoad(4, 1)
	cfg := Config{Capacity: 50, Warmup: 3 * 24 * time.Hour, Refit: 12 * time.Hour}
	res, err := Run(context.Background(), s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	lead := 3 // the default 3-minute start-up
	if want := s.Len() - 3*1440 - lead; len(res.Rows) != want {
		t.Errorf("%d decisions, want %d", len(res.Rows), want)
	}
	if len(res.Refits) != 2 || res.Fallbacks != 0 {
		t.Errorf("%d refits, %d fallbacks; want 2 and 0", len(res.Refits), res.Fallbacks)
	}
	if res.Perfect.UnderProvisioned > 1e-4 {
		t.Errorf("perfect foresight under-provisions %.4f%%", 100*res.Perfect.UnderProvisioned)
	}
	if res.Reactive.UnderProvisioned <= res.Predictive.UnderProvisioned {
		t.Errorf("reactive %.4f, Foresight %.4f: the forecast did not help on a clean daily cycle",
			res.Reactive.UnderProvisioned, res.Predictive.UnderProvisioned)
	}
	if r := res.Reduction(); r < 0.9 {
		t.Errorf("removed %.1f%% of the under-provisioned demand on a clean daily cycle", 100*r)
	}
	a := res.Accuracy
	if a.N == 0 || !(a.MASE > 0 && a.MASE < 1) || !(a.Coverage > 0.7 && a.Coverage <= 1) || a.Horizon != lead {
		t.Errorf("accuracy %+v", a)
	}
	for _, r := range res.Rows {
		for i := range Arms {
			if r.Ready[i] > r.Replicas[i] || r.Replicas[i] < 1 {
				t.Fatalf("%s: %s has %d ready of %d", r.Time, Arms[i], r.Ready[i], r.Replicas[i])
			}
		}
	}
}

// Each decision uses only the values before it: changing the future leaves
// past decisions as they were.
func TestRunIsCausal(t *testing.T) {
	s := dailyLoad(4, 2)
	cfg := Config{Capacity: 50, Warmup: 3 * 24 * time.Hour, Refit: 6 * time.Hour}
	a, err := Run(context.Background(), s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	changed := s.Clone()
	cut := 3*1440 + 600
	for i := cut; i < changed.Len(); i++ {
		changed.Values[i] *= 3
	}
	b, err := Run(context.Background(), changed, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A decision at step t sees values up to t−1; the perfect arm looks
	// ahead on purpose, so compare the other two.
	for i, r := range a.Rows {
		step := 3*1440 + i
		if step >= cut {
			break
		}
		if r.Replicas[0] != b.Rows[i].Replicas[0] || r.Replicas[1] != b.Rows[i].Replicas[1] || r.Load != b.Rows[i].Load {
			t.Fatalf("step %d (before the change at %d): decisions differ", step, cut)
		}
	}
	if slices.Equal(a.Rows[len(a.Rows)-1].Replicas[:2], b.Rows[len(b.Rows)-1].Replicas[:2]) {
		t.Error("tripling the load changed nothing: the test does not test")
	}
}

func TestRunErrors(t *testing.T) {
	s := dailyLoad(1, 3)
	if _, err := Run(context.Background(), s.Slice(0, 10), Config{Capacity: 10}); !errors.Is(err, ErrTooShort) {
		t.Errorf("ten steps: %v, want ErrTooShort", err)
	}
	if _, err := Run(context.Background(), s, Config{}); err == nil {
		t.Error("no capacity: no error")
	}
	if _, err := Run(context.Background(), s, Config{Capacity: 10, Quantile: 0.3}); err == nil {
		t.Error("quantile 0.3: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, s, Config{Capacity: 10}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// A history with gaps the model cannot fit makes the policy fall back to
// the reactive value, and the fallbacks are counted.
func TestRunFallback(t *testing.T) {
	s := dailyLoad(2, 4)
	for i := range 1440 {
		s.Values[i] = math.NaN()
	}
	res, err := Run(context.Background(), s, Config{Capacity: 50, Warmup: 24 * time.Hour, History: 24 * time.Hour, Refit: 12 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Fallbacks == 0 || res.Refits[0].Err == "" {
		t.Errorf("%d fallbacks, first refit %+v: want the all-missing history to fall back", res.Fallbacks, res.Refits[0])
	}
}

func TestAccuracyJSON(t *testing.T) {
	b, err := json.Marshal(Accuracy{Horizon: 3, MAE: math.NaN(), RMSE: 1, MASE: math.Inf(1)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"horizon_steps":3,"n":0,"mae":null,"rmse":1,"mase":null,"smape_percent":0,"upper_band_coverage":0}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}
