package backtest

import "math"

// hpa models the Kubernetes HorizontalPodAutoscaler's algorithm for one
// AverageValue metric, as documented in "Horizontal Pod Autoscaling"
// (kubernetes.io, "Algorithm details" and "Stabilization window"):
//
//   - desired = ceil(metric / target), unless the usage ratio
//     metric / (current × target) is within the tolerance of 1, in which
//     case nothing changes;
//   - scaling up takes effect at once; scaling down takes the highest
//     recommendation of the stabilisation window (5 minutes by default);
//   - new pods serve only after the start-up time.
//
// It syncs once a step. The default scale-up rate limit (double, or add 4
// pods, every 15 s) allows sixteen-fold growth a minute and is not modelled.
type hpa struct {
	target    float64
	tolerance float64
	window    int // stabilisation window in steps
	startup   int // pod start-up in steps
	min, max  int

	readyAt []int // per pod, the step from which it serves; oldest first
	recs    []int // recommendations of the last window steps, newest last
}

func newHPA(target, tolerance float64, window, startup, minReplicas, maxReplicas, initial int) *hpa {
	h := &hpa{target: target, tolerance: tolerance, window: window, startup: startup, min: minReplicas, max: maxReplicas}
	for range max(initial, minReplicas) {
		h.readyAt = append(h.readyAt, math.MinInt)
	}
	return h
}

// replicas returns the current replica count (pods starting included).
func (h *hpa) replicas() int { return len(h.readyAt) }

// ready returns the number of pods serving at step t.
func (h *hpa) ready(t int) int {
	n := 0
	for _, r := range h.readyAt {
		if r <= t {
			n++
		}
	}
	return n
}

// sync runs one HPA sync at step t with the metric value (NaN: the metric
// is unavailable and nothing changes).
func (h *hpa) sync(t int, metric float64) {
	current := h.replicas()
	desired := current
	if !math.IsNaN(metric) {
		if current == 0 {
			desired = int(math.Ceil(metric / h.target))
		} else if ratio := metric / (float64(current) * h.target); math.Abs(ratio-1) > h.tolerance {
			desired = int(math.Ceil(metric/h.target - 1e-9))
		}
	}
	desired = max(desired, h.min)
	if h.max > 0 {
		desired = min(desired, h.max)
	}
	h.recs = append(h.recs, desired)
	if len(h.recs) > h.window {
		h.recs = h.recs[len(h.recs)-h.window:]
	}
	next := desired
	if desired < current {
		// Scale down only as far as the highest recommendation of the
		// stabilisation window.
		for _, r := range h.recs {
			next = max(next, r)
		}
		next = min(next, current)
	}
	switch {
	case next > current:
		for range next - current {
			h.readyAt = append(h.readyAt, t+h.startup)
		}
	case next < current:
		// Pods still starting go first, then the newest.
		h.readyAt = h.readyAt[:next]
	}
}
