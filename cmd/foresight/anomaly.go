package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/foresight-aiops/foresight/anomaly"
	"github.com/foresight-aiops/foresight/anomaly/nab"
	"github.com/foresight-aiops/foresight/csvseries"
	"github.com/foresight-aiops/foresight/forecast"
)

const anomalyHelp = `Usage: foresight anomaly <score|evaluate> [flags]

  score     stream a CSV of timestamp,value through a detector, causally
  evaluate  score detectors on labelled series with the NAB method

Run 'foresight anomaly score --help' or 'foresight anomaly evaluate --help'.
See docs/anomaly.md for the models and the score.
`

const anomalyScoreHelp = `Usage: foresight anomaly score --input FILE.csv [flags]

Scores each value of a series against what the detector expected from the
values before it (never from the value itself or later ones), as a running
service would, and prints timestamp,value,anomaly_score.

The score follows vmanomaly's contract: 0 on the prediction, up to 1 inside
the expected band, above 1 outside it, growing with the distance. With
--format csv the prediction and the band follow (yhat,yhat_lower,yhat_upper).
With --format nab the score is mapped onto [0, 1) as s/(1+s) (the band's edge
is 0.5; a missing value is 0), the form NAB's tools read.

Models (--model): holtwinters (seasonal forecast band, refitted every
--fit-every on the last --fit-window; takes --quantile and --season), zscore
and mad (rolling over --window; take --threshold), rolling_quantile (rolling
over --window; takes --quantile). A flag the model does not take is an error.

Examples:
  foresight anomaly score --input requests.csv
  foresight anomaly score --input requests.csv --model mad --window 2h --min-dev 5
  foresight anomaly score --input latency.csv --direction above_expected --format nab
`

const anomalyEvaluateHelp = `Usage: foresight anomaly evaluate --input DIR --labels FILE.json [flags]

Scores detectors on labelled series with the method of the Numenta Anomaly
Benchmark (Lavin & Ahmad 2015): a window around each labelled anomaly, early
detections rewarded by a scaled sigmoid, false positives penalised, the
first 15% of each file (at most 750 rows) for learning, and the threshold
that maximises the score over the whole corpus, per cost profile (standard,
reward_low_FP_rate, reward_low_FN_rate). It prints the normalised scores:
100 is perfect, 0 is a detector that never fires.

DIR is searched recursively for the CSV files the labels name (by their path
relative to DIR). The labels are NAB's own files (labels/combined_windows.json
or combined_labels.json) or incidents as row ranges by kind, like
{"trace.csv": {"outages": [[100, 160]], "holiday": [1440, 2880]}}, whose first
rows are the labels.

Examples:
  foresight anomaly evaluate --input NAB/data --labels NAB/labels/combined_windows.json
  foresight anomaly evaluate --input traces --labels labels.json --model holtwinters,mad,zscore
`

func runAnomaly(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, logger *slog.Logger) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, anomalyHelp)
		return usagef("give a subcommand: score or evaluate")
	}
	switch args[0] {
	case "score":
		return runAnomalyScore(ctx, args[1:], stdin, stdout, logger)
	case "evaluate":
		return runAnomalyEvaluate(ctx, args[1:], stdout, logger)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, anomalyHelp)
		return flag.ErrHelp
	}
	return usagef("unknown subcommand %q: use score or evaluate", args[0])
}

// modelFlags are the detector's flags, shared by score and evaluate.
type modelFlags struct {
	models              string
	window              time.Duration
	threshold, quantile float64
	season              string
	minDev, minRelDev   float64
	direction, scale    string
	fitEvery, fitWindow time.Duration
}

func (m *modelFlags) add(fs *flag.FlagSet, many bool) {
	help := "detector: holtwinters, zscore, mad or rolling_quantile"
	if many {
		help = "detectors to evaluate, comma-separated: holtwinters, zscore, mad, rolling_quantile, or all"
	}
	fs.StringVar(&m.models, "model", m.models, help)
	fs.Var((*durationFlag)(&m.window), "window", "baseline window of zscore, mad and rolling_quantile (default 60 steps), e.g. 1h")
	fs.Float64Var(&m.threshold, "threshold", 0, "band half-width in standard deviations: z of zscore, k of mad (default 3)")
	fs.Float64Var(&m.quantile, "quantile", 0, "upper quantile of the band of rolling_quantile (default 0.99) and holtwinters (default 0.995)")
	fs.StringVar(&m.season, "season", "", "holtwinters seasonality: auto (default), none, or periods such as 1d or 1d,1w")
	fs.Float64Var(&m.minDev, "min-dev", 0, "absolute floor: deviations from the prediction smaller than this never score above 1 (the series' unit)")
	fs.Float64Var(&m.minRelDev, "min-rel-dev", 0, "relative floor, a fraction of the prediction (0.2 = 20%)")
	fs.StringVar(&m.direction, "direction", "both", "deviations that count: both, above_expected or below_expected")
	fs.StringVar(&m.scale, "scale", "", "widen (>1) or narrow (<1) the band: UPPER,LOWER or one number")
	fs.Var((*durationFlag)(&m.fitEvery), "fit-every", "time between refits (default 1d)")
	fs.Var((*durationFlag)(&m.fitWindow), "fit-window", "history each fit sees (default 7d)")
}

// modelOnlyFlags are the flags that apply to some models only, and those
// models; the others apply to all.
var modelOnlyFlags = []struct {
	flag    string
	classes []string
}{
	{"window", []string{anomaly.ClassZScore, anomaly.ClassMAD, anomaly.ClassRollingQuantile}},
	{"threshold", []string{anomaly.ClassZScore, anomaly.ClassMAD}},
	{"quantile", []string{anomaly.ClassRollingQuantile, anomaly.ClassHoltWinters}},
	{"season", []string{anomaly.ClassHoltWinters}},
}

// configs returns one ModelConfig per --model. A flag set on the command
// line (fs) that none of the models takes is an error rather than
// ignored: --window with holtwinters would otherwise change nothing and
// say nothing.
func (m *modelFlags) configs(fs *flag.FlagSet) ([]anomaly.ModelConfig, error) {
	names := strings.Split(m.models, ",")
	if m.models == "all" {
		names = anomaly.Classes
	}
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
		if !slices.Contains(anomaly.Classes, names[i]) {
			return nil, usagef("--model %q: use %s", names[i], strings.Join(anomaly.Classes, ", "))
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, o := range modelOnlyFlags {
		if set[o.flag] && !slices.ContainsFunc(names, func(n string) bool { return slices.Contains(o.classes, n) }) {
			return nil, usagef("--%s applies to %s, not %s: drop it, or choose one of those with --model", o.flag, strings.Join(o.classes, ", "), strings.Join(names, ", "))
		}
	}
	var scale []float64
	if m.scale != "" {
		for _, f := range strings.Split(m.scale, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return nil, usagef("--scale %q: give UPPER,LOWER or one number, e.g. 1.5", m.scale)
			}
			scale = append(scale, v)
		}
	}
	var out []anomaly.ModelConfig
	for _, n := range names {
		c := anomaly.ModelConfig{
			Class: strings.TrimSpace(n), MinDevFromExpected: m.minDev, MinRelDevFromExpected: m.minRelDev,
			DetectionDirection: m.direction, Scale: scale, Season: m.season,
		}
		switch c.Class {
		case anomaly.ClassHoltWinters:
			c.Quantile = m.quantile
		case anomaly.ClassRollingQuantile:
			c.Window, c.Quantile = anomaly.Duration(m.window), m.quantile
		default:
			c.Window, c.Threshold = anomaly.Duration(m.window), m.threshold
		}
		if c.Class != anomaly.ClassHoltWinters {
			c.Season = ""
		}
		if _, err := c.Options(); err != nil {
			return nil, usageError{err}
		}
		if !slices.Contains(anomaly.Classes, c.Class) {
			return nil, usagef("--model %q: use %s", c.Class, strings.Join(anomaly.Classes, ", "))
		}
		out = append(out, c)
	}
	return out, nil
}

func runAnomalyScore(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, logger *slog.Logger) error {
	m := modelFlags{models: anomaly.ClassHoltWinters}
	var input, format string
	fs := newFlagSet("anomaly score", anomalyScoreHelp, stdout)
	fs.StringVar(&input, "input", "", "CSV `file` of timestamp,value (required; - for standard input)")
	fs.StringVar(&format, "format", "csv", "output: csv (timestamp,value,anomaly_score,yhat,yhat_lower,yhat_upper) or nab (timestamp,value,anomaly_score in [0, 1))")
	m.add(fs, false)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case input == "":
		return usagef("--input is required: a CSV of timestamp,value")
	case format != "csv" && format != "nab":
		return usagef("--format %q: use csv or nab", format)
	case strings.Contains(m.models, ","):
		return usagef("--model takes one detector here")
	}
	cfgs, err := m.configs(fs)
	if err != nil {
		return err
	}
	var data csvseries.Data
	if input == "-" {
		data, err = csvseries.Read(stdin, inputName(input))
	} else {
		data, err = csvseries.ReadFile(input)
	}
	if err != nil {
		return err
	}
	est, err := anomaly.ScoreSamples(cfgs[0], data.Samples, m.fitEvery, m.fitWindow)
	if err != nil {
		return usageError{err}
	}
	logger.DebugContext(ctx, "scored", "values", len(est))
	w := bufio.NewWriter(stdout)
	if format == "nab" {
		fmt.Fprintln(w, "timestamp,value,anomaly_score")
	} else {
		fmt.Fprintln(w, "timestamp,value,anomaly_score,yhat,yhat_lower,yhat_upper")
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	value := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for i, x := range data.Samples {
		e := est[i]
		ts := data.Style.Format(x.T)
		if format == "nab" {
			fmt.Fprintf(w, "%s,%s,%s\n", ts, value(x.V), num(anomaly.NAB(e.Score)))
			continue
		}
		fmt.Fprintf(w, "%s,%s,%s,%s,%s,%s\n", ts, value(x.V), num(e.Score), num(e.Yhat), num(e.Lower), num(e.Upper))
	}
	return w.Flush()
}

func runAnomalyEvaluate(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	m := modelFlags{models: anomaly.ClassHoltWinters}
	var dir, labelsPath, kinds string
	workers := runtime.GOMAXPROCS(0)
	verbose := false
	fs := newFlagSet("anomaly evaluate", anomalyEvaluateHelp, stdout)
	fs.StringVar(&dir, "input", "", "`directory` of CSV files (searched recursively; required)")
	fs.StringVar(&labelsPath, "labels", "", "JSON `file` of labels (required)")
	fs.StringVar(&kinds, "kinds", "", "incident kinds that count as anomalies, comma-separated (default: all in the labels)")
	fs.IntVar(&workers, "workers", workers, "files scored at once")
	fs.BoolVar(&verbose, "v", false, "print each file's score, threshold and counts")
	m.add(fs, true)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case dir == "":
		return usagef("--input is required: the directory of the CSV files")
	case labelsPath == "":
		return usagef("--labels is required: a JSON file of labels")
	case workers < 1:
		return usagef("--workers must be at least 1")
	}
	cfgs, err := m.configs(fs)
	if err != nil {
		return err
	}
	f, err := os.Open(labelsPath)
	if err != nil {
		return fmt.Errorf("labels: %w", err)
	}
	labels, err := nab.ReadLabels(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", labelsPath, err)
	}
	var kindList []string
	if kinds != "" {
		kindList = strings.Split(kinds, ",")
	}
	corpus, err := loadCorpus(dir, labels, kindList)
	if err != nil {
		return err
	}
	logger.InfoContext(ctx, "evaluating", "files", len(corpus), "models", len(cfgs), "workers", workers)

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "model")
	for _, p := range nab.Profiles {
		fmt.Fprintf(tw, "\t%s", p.Name)
	}
	fmt.Fprintln(tw)
	var details strings.Builder
	for _, c := range cfgs {
		files, err := scoreCorpus(ctx, c, corpus, workers, m)
		if err != nil {
			return err
		}
		fmt.Fprint(tw, c.Class)
		for _, p := range nab.Profiles {
			r := nab.Score(files, p)
			fmt.Fprintf(tw, "\t%.1f", r.Normalized)
			if verbose {
				th := "none (flagging nothing scores best)"
				if !math.IsInf(r.Threshold, 1) {
					th = fmt.Sprintf("%.4g (anomaly_score %.4g)", r.Threshold, r.Threshold/(1-r.Threshold))
				}
				fmt.Fprintf(&details, "%s %s: threshold %s, raw %.3f, windows found %d missed %d, false positives %d\n",
					c.Class, p.Name, th, r.Raw, r.TP, r.FN, r.FP)
				for _, fr := range r.Files {
					fmt.Fprintf(&details, "  %s: raw %.3f, found %d missed %d, false positives %d\n", fr.Name, fr.Raw, fr.TP, fr.FN, fr.FP)
				}
			}
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, details.String())
	return err
}

// corpusFile is a labelled data file.
type corpusFile struct {
	name    string
	samples []forecast.Sample
	windows []nab.Window
}

func loadCorpus(dir string, labels nab.Labels, kinds []string) ([]corpusFile, error) {
	var out []corpusFile
	found := map[string]bool{} // the labels' names that name a file
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (!strings.HasSuffix(path, ".csv") && !strings.HasSuffix(path, ".csv.gz")) {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		key := rel
		fl, ok := labels.Lookup(key)
		if !ok {
			key = filepath.Base(rel)
			fl, ok = labels.Lookup(key)
		}
		if !ok {
			return nil
		}
		found[key] = true
		data, err := csvseries.ReadFile(path)
		if err != nil {
			return err
		}
		times := make([]time.Time, len(data.Samples))
		for i, s := range data.Samples {
			times[i] = s.T
		}
		out = append(out, corpusFile{name: rel, samples: data.Samples, windows: fl.Resolve(times, kinds)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the corpus in %s: %w", dir, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no CSV file under %s is named in the labels (%d entries, e.g. %q): give the directory the labels' paths are relative to", dir, len(labels), first(labels.Names()))
	}
	// A labelled file left out would change the score without a word:
	// its windows would count as neither found nor missed.
	var missing []string
	for _, name := range labels.Names() {
		if !found[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%d of the %d files the labels name are not under %s: %s: put them there (by the path the labels give, or their base name), or remove their entries from the labels",
			len(missing), len(labels), dir, strings.Join(missing, ", "))
	}
	slices.SortFunc(out, func(a, b corpusFile) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// scoreCorpus scores each file with a detector, workers files at once,
// and returns NAB's view of them: scores mapped onto [0, 1).
func scoreCorpus(ctx context.Context, c anomaly.ModelConfig, corpus []corpusFile, workers int, m modelFlags) ([]nab.File, error) {
	files := make([]nab.File, len(corpus))
	errs := make([]error, len(corpus))
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i, cf := range corpus {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			est, err := anomaly.ScoreSamples(c, cf.samples, m.fitEvery, m.fitWindow)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", cf.name, err)
				return
			}
			scores := make([]float64, len(est))
			for j, e := range est {
				scores[j] = anomaly.NAB(e.Score)
			}
			files[i] = nab.File{Name: cf.name, Scores: scores, Windows: cf.windows}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return files, nil
}
