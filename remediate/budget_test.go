package remediate

import (
	"strings"
	"testing"
	"time"
)

// TestBudgetSlidingHour walks a budget of 2 cordons per hour through a
// script of steps on an injected clock.
func TestBudgetSlidingHour(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
	b := newBudget(map[Kind]int{Cordon: 2, Evict: 0, Scale: 1})
	type step struct {
		at     time.Duration
		do     string // reserve+commit, reserve+cancel, reserve (held)
		kind   Kind
		want   string // "" ok, else part of the refusal
		remain int
	}
	for i, s := range []step{
		{0, "commit", Cordon, "", 1},
		{10 * time.Minute, "cancel", Cordon, "", 1}, // a refused action gives its slot back
		{20 * time.Minute, "commit", Cordon, "", 0},
		{30 * time.Minute, "commit", Cordon, "the hourly budget for cordon is spent: 2 per hour, used at 20:00:00, 20:20:00 UTC", 0},
		{30 * time.Minute, "commit", Cordon, "the next slot frees at 21:00:00 UTC (approve it again then), or raise budgets.cordon", 0},
		{60*time.Minute - time.Nanosecond, "commit", Cordon, "spent", 0},
		{60 * time.Minute, "commit", Cordon, "", 0}, // 20:00 left the window, and is replaced
		{80 * time.Minute, "commit", Cordon, "", 0}, // 20:20 left
		{81 * time.Minute, "commit", Cordon, "spent", 0},
		{0, "commit", Evict, "evict is forbidden by its budget (budgets: {evict: 0}", 0},
		{0, "hold", Scale, "", 0},
		{0, "commit", Scale, "1 per hour, none executed yet (1 more running or waiting for the gate)", 0}, // a held reservation counts
	} {
		now := t0.Add(s.at)
		err := b.reserve(s.kind, now)
		switch {
		case s.want == "" && err != nil:
			t.Fatalf("step %d: refused: %v", i, err)
		case s.want != "":
			r, ok := IsRefusal(err)
			if !ok || r.Reason != ReasonBudget || !strings.Contains(r.Message, s.want) {
				t.Fatalf("step %d: %v, want a budget refusal with %q", i, err, s.want)
			}
		default:
			switch s.do {
			case "commit":
				b.commit(s.kind, now)
			case "cancel":
				b.cancel(s.kind, now)
			}
		}
		if got := b.remaining(s.kind, now); got != s.remain {
			t.Fatalf("step %d: %d remaining, want %d", i, got, s.remain)
		}
	}
	if got := b.remaining(Cordon, t0.Add(3*time.Hour)); got != 2 {
		t.Errorf("after three hours %d cordons remain, want 2", got)
	}
}
