package backtest

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
	"time"
)

// Reduction returns the share of the reactive HPA's under-provisioned
// demand that the predictive autoscaler removed (1 is all, negative is
// worse), or NaN if the reactive HPA had none.
func (r *Result) Reduction() float64 {
	if r.Reactive.UnderProvisioned == 0 {
		return math.NaN()
	}
	return 1 - r.Predictive.UnderProvisioned/r.Reactive.UnderProvisioned
}

// ExtraCost returns the replica-minutes of o relative to the reactive HPA's,
// minus one (0.1 is 10% more).
func (r *Result) ExtraCost(o Outcome) float64 {
	if r.Reactive.ReplicaMinutes == 0 {
		return math.NaN()
	}
	return o.ReplicaMinutes/r.Reactive.ReplicaMinutes - 1
}

// WriteSummary writes a human-readable account of res.
func WriteSummary(w io.Writer, res *Result, title string) error {
	c := res.Config
	decisions := len(res.Rows)
	span := time.Duration(decisions) * res.Step
	last := "none"
	if k := len(res.Refits); k > 0 {
		last = res.Refits[k-1].Model
		if res.Refits[k-1].Err != "" {
			last = "failed: " + res.Refits[k-1].Err
		}
	}
	fmt.Fprintf(w, "Foresight backtest: %s\n", title)
	fmt.Fprintf(w, "capacity %g per replica, pod start-up %s, HPA tolerance %g and scale-down stabilisation %s, metric lag %s\n",
		c.Capacity, c.Startup, c.Tolerance, c.Stabilization, c.MetricLag)
	fmt.Fprintf(w, "walk-forward over %s (%d decisions from %s) after a %s warm-up; refit every %s on the last %s (%d refits; last model %s)\n\n",
		span, decisions, res.Start.UTC().Format(time.RFC3339), c.Warmup, c.Refit, c.History, len(res.Refits), last)

	a := res.Accuracy
	fmt.Fprintf(w, "Forecast accuracy %d steps ahead (the start-up), %d forecasts:\n", a.Horizon, a.N)
	fmt.Fprintf(w, "  MAE %.4g   RMSE %.4g   MASE %.3f (against the in-sample seasonal naive)   sMAPE %.2f%%   actual at or below the q=%.2g band: %.1f%%\n\n",
		a.MAE, a.RMSE, a.MASE, a.SMAPE, c.Quantile, 100*a.Coverage)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "autoscaler\tunder-provisioned demand\tminutes under\treplica-minutes\tvs reactive\t")
	for i, o := range []Outcome{res.Reactive, res.Predictive, res.Perfect} {
		name := [...]string{"reactive HPA", fmt.Sprintf("Foresight (q=%.2g band)", c.Quantile), "perfect foresight"}[i]
		fmt.Fprintf(tw, "%s\t%.3f%%\t%.0f\t%.0f\t%+.1f%%\t\n", name, 100*o.UnderProvisioned, o.UnderMinutes, o.ReplicaMinutes, 100*res.ExtraCost(o))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	extra, more := 100*(res.ExtraCost(res.Predictive)-res.ExtraCost(res.Perfect)), "more"
	if extra < 0 {
		extra, more = -extra, "fewer"
	}
	fmt.Fprintf(w, "\nForesight removed %.1f%% of the reactive HPA's under-provisioned demand, for %.1f percentage points %s replica-minutes than perfect foresight.\n",
		100*res.Reduction(), extra, more)
	if res.Fallbacks > 0 {
		fmt.Fprintf(w, "The policy fell back to the current load %d times (no usable forecast).\n", res.Fallbacks)
	}
	return nil
}

// WriteDecisions writes one CSV row per decision, timestamps formatted by
// ts.
func WriteDecisions(w io.Writer, res *Result, ts func(time.Time) string) error {
	cw := csv.NewWriter(w)
	header := []string{"timestamp", "actual", "forecast", "upper", "served_load", "reason"}
	for _, a := range Arms {
		header = append(header, "replicas_"+a, "ready_"+a)
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for _, r := range res.Rows {
		rec := []string{ts(r.Time), f(r.Actual), f(r.Forecast), f(r.Upper), f(r.Load), string(r.Reason)}
		for i := range Arms {
			rec = append(rec, strconv.Itoa(r.Replicas[i]), strconv.Itoa(r.Ready[i]))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
