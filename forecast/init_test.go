package forecast

import (
	"math"
	"testing"
)

// centredMovingAverage uses prefix sums; it must agree with the average
// computed window by window: for odd m the m values around t, for even m
// the 2×m average (the m − 1 values around t and half of each end), over
// the finite values, NaN when they weigh less than half the window.
func TestCentredMovingAverage(t *testing.T) {
	y := withGaps(seasonal(24*5, 24, 50, 10, 2, 15), 4)
	for i := 30; i < 50; i++ { // a gap longer than half a window
		y[i] = math.NaN()
	}
	y[70] = math.Inf(1)
	for _, m := range []int{1, 2, 7, 12, 24} {
		got := centredMovingAverage(y, m)
		h := m / 2
		for i := range y {
			want := math.NaN()
			if i-h >= 0 && i+h < len(y) {
				var s, w float64
				for j := i - h; j <= i+h; j++ {
					weight := 1.0
					if m%2 == 0 && (j == i-h || j == i+h) {
						weight = 0.5
					}
					if isFinite(y[j]) {
						s += weight * y[j]
						w += weight
					}
				}
				if w >= float64(m)/2 {
					want = s / w
				}
			}
			if math.IsNaN(want) != math.IsNaN(got[i]) || !math.IsNaN(want) && !closeRel(got[i], want, 1e-12) {
				t.Fatalf("m=%d, t=%d: %v, want %v", m, i, got[i], want)
			}
		}
	}
}
