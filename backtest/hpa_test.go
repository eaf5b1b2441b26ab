package backtest

import (
	"math"
	"testing"
)

func TestHPA(t *testing.T) {
	// target 10 per replica, tolerance 0.1, a 5-step window, 3-step start-up.
	newH := func(initial int) *hpa { return newHPA(10, 0.1, 5, 3, 1, 20, initial) }
	t.Run("within tolerance nothing changes", func(t *testing.T) {
		h := newH(10)
		h.sync(0, 108) // ratio 1.08
		h.sync(1, 92)  // ratio 0.92
		if h.replicas() != 10 {
			t.Errorf("replicas %d, want 10", h.replicas())
		}
	})
	t.Run("scale up at once, ready after the start-up", func(t *testing.T) {
		h := newH(4)
		h.sync(10, 75) // 8 wanted
		if h.replicas() != 8 {
			t.Fatalf("replicas %d, want 8", h.replicas())
		}
		for step, want := range map[int]int{10: 4, 12: 4, 13: 8} {
			if got := h.ready(step); got != want {
				t.Errorf("ready at %d: %d, want %d", step, got, want)
			}
		}
	})
	t.Run("scale down waits for the stabilisation window", func(t *testing.T) {
		h := newH(8)
		h.sync(0, 80)
		for step := 1; step <= 4; step++ {
			h.sync(step, 20)
			if h.replicas() != 8 {
				t.Fatalf("step %d: replicas %d, want 8 while 8 is in the window", step, h.replicas())
			}
		}
		h.sync(5, 20)
		if h.replicas() != 2 {
			t.Errorf("after the window: replicas %d, want 2", h.replicas())
		}
	})
	t.Run("scale down removes starting pods first", func(t *testing.T) {
		h := newHPA(10, 0.1, 1, 3, 1, 0, 2)
		h.sync(0, 60) // 6: four start
		h.sync(1, 30) // 3: window of one step, so at once
		if h.replicas() != 3 || h.ready(1) != 2 || h.ready(3) != 3 {
			t.Errorf("replicas %d, ready now %d, ready at 3 %d; want 3, 2, 3", h.replicas(), h.ready(1), h.ready(3))
		}
	})
	t.Run("bounds and a missing metric", func(t *testing.T) {
		h := newH(5)
		h.sync(0, math.NaN())
		if h.replicas() != 5 {
			t.Errorf("NaN metric: replicas %d, want 5", h.replicas())
		}
		h.sync(1, 1e6)
		if h.replicas() != 20 {
			t.Errorf("huge metric: replicas %d, want max 20", h.replicas())
		}
		h = newHPA(10, 0.1, 1, 3, 2, 0, 5)
		h.sync(0, 0)
		if h.replicas() != 2 {
			t.Errorf("zero metric: replicas %d, want min 2", h.replicas())
		}
	})
}
