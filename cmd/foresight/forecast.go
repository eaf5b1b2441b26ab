package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/foresight-aiops/foresight/csvseries"
	"github.com/foresight-aiops/foresight/forecast"
)

const forecastHelp = `Usage: foresight forecast --input FILE.csv [flags]

Fits Holt-Winters exponential smoothing to a history and forecasts from its
end. The model (trend, seasonality, periods, smoothing parameters) is chosen
automatically; --format json says which and why.

The input is a CSV with a header line and two columns, timestamp and value.
Timestamps are Unix seconds, RFC 3339, or YYYY-MM-DD HH:MM:SS (UTC); the
output uses the input's style. An irregular step is aligned to the median
spacing, with a warning. A .gz file is read compressed.

Examples:
  foresight forecast --input requests.csv --horizon 1h
  foresight forecast --input cpu.csv --season 1d,1w --quantile 0.95 --format json
  foresight forecast --input requests.csv \
      --exclude 2026-03-10T14:00:00Z/2026-03-10T15:30:00Z   # an outage: not learnt from
`

type forecastOptions struct {
	input    string
	horizon  time.Duration
	step     time.Duration
	season   string
	quantile float64
	format   string
	exclude  windowsFlag
}

func runForecast(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, logger *slog.Logger) error {
	o := forecastOptions{horizon: time.Hour, season: "auto", quantile: 0.9, format: "csv"}
	fs := newFlagSet("forecast", forecastHelp, stdout)
	fs.StringVar(&o.input, "input", "", "CSV `file` of timestamp,value (required; - for standard input)")
	fs.Var((*durationFlag)(&o.horizon), "horizon", "how far ahead to forecast (e.g. 30m, 1h, 1d)")
	fs.Var((*durationFlag)(&o.step), "step", "step to align the input to (default: the input's median spacing)")
	fs.StringVar(&o.season, "season", o.season, "seasonal periods: auto (detect), none, or e.g. 1d, 1h, 1d,1w")
	fs.Float64Var(&o.quantile, "quantile", o.quantile, "quantile of yhat_upper (yhat_lower is 1 minus it), in (0.5, 1)")
	fs.StringVar(&o.format, "format", o.format, "output format: csv or json (json adds the model, its parameters and fit)")
	fs.Var(&o.exclude, "exclude", "`START/END` window (RFC 3339) whose values are treated as missing, e.g. an outage; repeatable")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case o.input == "":
		return usagef("--input is required: a CSV of timestamp,value")
	case o.horizon <= 0:
		return usagef("--horizon must be positive, e.g. 1h")
	case !(o.quantile > 0.5 && o.quantile < 1):
		return usagef("--quantile %g: must be in (0.5, 1), e.g. 0.9", o.quantile)
	case o.format != "csv" && o.format != "json":
		return usagef("--format %q: use csv or json", o.format)
	}
	season, err := forecast.ParseSeason(o.season)
	if err != nil {
		return usageError{err}
	}

	data, s, err := loadSeries(o.input, stdin, o.step, logger)
	if err != nil {
		return err
	}
	if len(o.exclude) > 0 {
		var removed int
		s, removed = s.Exclude(o.exclude)
		logger.InfoContext(ctx, "excluded windows treated as missing", "windows", len(o.exclude), "values", removed)
	}
	opts, err := autoOptions(season, s.Step)
	if err != nil {
		return usageError{err}
	}
	steps := int((o.horizon + s.Step - 1) / s.Step)
	opts.Horizon = steps
	if err := ctx.Err(); err != nil {
		return err
	}
	m, sel, err := forecast.FitAuto(s, opts)
	if err != nil {
		return fmt.Errorf("fitting %s: %w", inputName(o.input), err)
	}
	for _, n := range m.Notes {
		logger.WarnContext(ctx, "model note", "code", n.Code, "note", n.Message)
	}
	f, err := m.Predict(steps, o.quantile)
	if err != nil {
		return err
	}
	if o.format == "json" {
		return writeForecastJSON(stdout, data.Style, m, sel, f)
	}
	return csvseries.WriteForecast(stdout, data.Style, f)
}

// loadSeries reads a CSV, from stdin when path is "-" (the embedded demo
// when path is empty is the caller's business), and aligns it to a regular
// step, warning when it was not regular.
func loadSeries(path string, stdin io.Reader, step time.Duration, logger *slog.Logger) (csvseries.Data, forecast.Series, error) {
	var data csvseries.Data
	var err error
	name := inputName(path)
	if path == "-" {
		data, err = csvseries.Read(stdin, name)
	} else {
		data, err = csvseries.ReadFile(path)
	}
	if err != nil {
		return data, forecast.Series{}, err
	}
	s, err := alignSeries(data, step, name, logger)
	return data, s, err
}

// inputName names an --input in messages.
func inputName(path string) string {
	if path == "-" {
		return "standard input"
	}
	return path
}

func alignSeries(data csvseries.Data, step time.Duration, name string, logger *slog.Logger) (forecast.Series, error) {
	s, rep, err := forecast.Align(data.Samples, step)
	if err != nil {
		return s, fmt.Errorf("%s: %w", name, err)
	}
	if rep.Irregular() {
		logger.Warn("input is not on a regular grid: aligned to the step", "file", name, "step", rep.Step,
			"off_grid_samples", rep.OffGrid, "merged_samples", rep.Merged)
	}
	if rep.Missing > 0 {
		logger.Info("input has gaps: the model skips over them", "file", name, "missing_steps", rep.Missing, "of", s.Len())
	}
	return s, nil
}

// autoOptions turns a season setting into FitAuto options for a step.
func autoOptions(season forecast.SeasonSetting, step time.Duration) (forecast.AutoOptions, error) {
	var opts forecast.AutoOptions
	switch {
	case season.None:
		opts.NoSeason = true
	case !season.Auto:
		periods, err := season.Steps(step)
		if err != nil {
			return opts, err
		}
		opts.Periods = periods
	}
	return opts, nil
}

type forecastJSON struct {
	Model     string              `json:"model"`
	Params    forecast.Params     `json:"params"`
	Step      string              `json:"step"`
	Fit       fitJSON             `json:"fit"`
	Notes     []forecast.Note     `json:"notes"`
	Selection *forecast.Selection `json:"selection"`
	Quantile  float64             `json:"quantile"`
	Forecast  []pointJSON         `json:"forecast"`
}

type fitJSON struct {
	N         int      `json:"n"`
	SSE       *float64 `json:"sse"`
	RMSE      *float64 `json:"rmse"`
	AICc      *float64 `json:"aicc"`
	Converged bool     `json:"converged"`
}

type pointJSON struct {
	Timestamp string   `json:"timestamp"`
	Yhat      *float64 `json:"yhat"`
	Lower     *float64 `json:"yhat_lower"`
	Upper     *float64 `json:"yhat_upper"`
}

func writeForecastJSON(w io.Writer, style csvseries.Style, m *forecast.Model, sel *forecast.Selection, f forecast.Forecast) error {
	out := forecastJSON{
		Model: m.Spec.String(), Params: m.Params, Step: forecast.FormatDuration(m.Step),
		Fit:   fitJSON{N: m.Fit.N, SSE: num(m.Fit.SSE), RMSE: num(m.Fit.RMSE), AICc: num(m.Fit.AICc), Converged: m.Fit.Converged},
		Notes: m.Notes, Selection: sel, Quantile: f.Quantile,
	}
	if out.Notes == nil {
		out.Notes = []forecast.Note{}
	}
	for i := range f.Mean {
		out.Forecast = append(out.Forecast, pointJSON{
			Timestamp: style.Format(f.Start.Add(time.Duration(i) * f.Step)),
			Yhat:      num(f.Mean[i]), Lower: num(f.Lower[i]), Upper: num(f.Upper[i]),
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// num returns a pointer to v, or nil (JSON null) when v is not finite.
func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
