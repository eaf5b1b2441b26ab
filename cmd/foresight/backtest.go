package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/foresight-aiops/foresight/backtest"
	"github.com/foresight-aiops/foresight/csvseries"
	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/internal/demo"
)

const backtestHelp = `Usage: foresight backtest [--input FILE.csv --capacity R] [flags]

Replays a load trace walk-forward: every decision uses only the data before
it, and the model is refitted on a schedule. It reports forecast accuracy
(MAE, RMSE, MASE against the seasonal naive, sMAPE, band coverage) and how
three autoscalers served the load, each through the same model of the HPA
(10% tolerance, 5-minute scale-down stabilisation, metric lag, pod start-up):

  reactive HPA        the current load, as a plain HPA sees it;
  Foresight           the policy on Foresight's forecast band: the largest
                      forecast quantile over the next start-up, never below
                      the current load, capped at 1.2 x the peak seen;
  perfect foresight   the same policy fed by the actual future.

With no --input it replays an embedded demo trace at a capacity of 50.
The input CSV is as for 'foresight forecast' (timestamp,value with a header).

Examples:
  foresight backtest
  foresight backtest --input requests.csv --capacity 40 --startup 3m
  foresight backtest --input cpu.csv.gz --capacity 2.5 --decisions out.csv --plot out.png
  foresight backtest --input requests.csv --capacity 40 --exclude-anomalies
`

type backtestOptions struct {
	input, decisions, plot, format, season string
	step                                   time.Duration
	cfg                                    backtest.Config
}

func runBacktest(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, logger *slog.Logger) error {
	o := backtestOptions{season: "auto", format: "text"}
	o.cfg.Startup = 3 * time.Minute
	fs := newFlagSet("backtest", backtestHelp, stdout)
	fs.StringVar(&o.input, "input", "", "CSV `file` of timestamp,value (default: the embedded demo trace)")
	fs.Float64Var(&o.cfg.Capacity, "capacity", 0, "load one replica serves, in the trace's unit: the HPA target (required with --input)")
	fs.Var((*durationFlag)(&o.cfg.Startup), "startup", "pod start-up time, which the forecast must look ahead")
	fs.StringVar(&o.season, "season", o.season, "seasonal periods: auto (detect at each refit), none, or e.g. 1d, 1d,1w")
	fs.Float64Var(&o.cfg.Quantile, "quantile", 0.9, "forecast quantile the policy provisions for, in [0.5, 1)")
	fs.Float64Var(&o.cfg.PeakCapFactor, "peak-cap", 1.2, "cap on the predicted load, as a multiple of the peak in the history")
	fs.Float64Var(&o.cfg.Tolerance, "tolerance", 0.1, "HPA tolerance; the policy adds it as headroom so that a predicted rise clears it")
	fs.Var((*durationFlag)(&o.cfg.Stabilization), "stabilization", "HPA scale-down stabilisation window (default 5m)")
	fs.Var((*durationFlag)(&o.cfg.MetricLag), "metric-lag", "age of the newest value a decision sees (default: one step)")
	fs.IntVar(&o.cfg.MinReplicas, "min-replicas", 1, "minimum replicas of every autoscaler")
	fs.IntVar(&o.cfg.MaxReplicas, "max-replicas", 0, "maximum replicas of every autoscaler (0: none)")
	fs.Var((*durationFlag)(&o.cfg.Warmup), "warmup", "history before the first decision (default: 7d, or half the trace)")
	fs.Var((*durationFlag)(&o.cfg.History), "history", "history each refit uses (default 7d)")
	fs.Var((*durationFlag)(&o.cfg.Refit), "refit", "time between refits (default 6h)")
	fs.Var((*durationFlag)(&o.step), "step", "step to align the input to (default: the input's median spacing)")
	fs.BoolVar(&o.cfg.ExcludeAnomalies, "exclude-anomalies", false, "as the trigger's excludeAnomalies: refits leave out values the model finds wildly off, and a live collapse far below the forecast is not learnt, so capacity holds through an outage")
	fs.StringVar(&o.decisions, "decisions", "", "write every decision to this CSV `file`")
	fs.StringVar(&o.plot, "plot", "", "draw load, forecast band and replicas to this `file` (.png or .svg)")
	fs.StringVar(&o.format, "format", o.format, "summary format: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.format != "text" && o.format != "json" {
		return usagef("--format %q: use text or json", o.format)
	}
	plotFormat := ""
	if o.plot != "" {
		var err error
		if plotFormat, err = backtest.PlotFormat(o.plot); err != nil {
			return usageError{err}
		}
	}
	season, err := forecast.ParseSeason(o.season)
	if err != nil {
		return usageError{err}
	}

	var data csvseries.Data
	var s forecast.Series
	title := inputName(o.input)
	if o.input == "" {
		if data, err = demo.Trace(); err != nil {
			return err
		}
		if s, err = alignSeries(data, o.step, "demo", logger); err != nil {
			return err
		}
		title = demo.Name
		if o.cfg.Capacity == 0 {
			o.cfg.Capacity = demo.Capacity
		}
	} else {
		if o.cfg.Capacity == 0 {
			return usagef("--capacity is required with --input: the load one replica serves, in the trace's unit")
		}
		if data, s, err = loadSeries(o.input, stdin, o.step, logger); err != nil {
			return err
		}
	}
	if !season.Auto {
		opts, err := autoOptions(season, s.Step)
		if err != nil {
			return usageError{err}
		}
		o.cfg.Season, o.cfg.NoSeason = opts.Periods, opts.NoSeason
	}

	res, err := backtest.Run(ctx, s, o.cfg)
	if err != nil {
		return err
	}
	for _, r := range res.Refits {
		if r.Err != "" {
			logger.WarnContext(ctx, "refit failed; the policy served the current load until the next", "time", r.Time, "error", r.Err)
		}
	}
	if o.decisions != "" {
		if err := writeFile(o.decisions, func(w io.Writer) error { return backtest.WriteDecisions(w, res, data.Style.Format) }); err != nil {
			return err
		}
	}
	if o.plot != "" {
		if err := writeFile(o.plot, func(w io.Writer) error { return backtest.Plot(w, res, plotFormat, title) }); err != nil {
			return err
		}
	}
	if o.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return backtest.WriteSummary(stdout, res, title)
}

// writeFile writes a file through fn, reporting the first error.
func writeFile(path string, fn func(io.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("writing %s: %w", path, cerr)
		}
	}()
	if err := fn(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
