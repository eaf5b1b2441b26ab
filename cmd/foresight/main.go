// Command foresight is Foresight's single binary: predictive autoscaling
// and AIOps for Kubernetes that sends nothing anywhere.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

const usage = `Foresight forecasts load so that replicas exist before it arrives.

Usage:
  foresight <command> [flags]

Commands:
  serve      the KEDA external scaler: predictive, guarded replica targets
  metrics-apiserver
             the same predictions for a plain HPA: custom (and external) metrics API
  explain    ask a running scaler why it serves what it serves
  backtest   replay a load trace: forecast accuracy, and how Foresight's scaling
             policy compares with a reactive HPA and with perfect foresight
  forecast   fit Holt-Winters to a CSV of timestamp,value and forecast ahead
  loadtest   poll a scaler as KEDA does and measure its throughput and latency
  anomaly    score a series for anomalies (vmanomaly's score), or evaluate
             detectors on labelled series with the NAB method
  rules      generate Prometheus z-score rules with absolute floors
  enrich     receive Alertmanager's webhook: raw alerts to Slack/webhook/stdout
             at once, then a local LLM's analysis with checked kubectl commands
  approver   execute the fixes a human approves from a notification (allowlisted,
             signed, single use, audited): the only component that writes
  version    print the version

Run 'foresight <command> --help' for a command's flags and examples.
Start with 'foresight backtest': with no input it replays an embedded trace.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command and returns the process exit code: 0 on
// success, 1 on failure, 2 for a usage error. stdin is read for --input -.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "forecast":
		err = runForecast(ctx, rest, stdin, stdout, logger)
	case "backtest":
		err = runBacktest(ctx, rest, stdin, stdout, logger)
	case "serve":
		err = runServe(ctx, rest, stdout, logger)
	case "metrics-apiserver":
		err = runMetricsAPIServer(ctx, rest, stdout, logger)
	case "loadtest":
		err = runLoadtest(ctx, rest, stdout, logger)
	case "explain":
		err = runExplain(ctx, rest, stdout)
	case "anomaly":
		err = runAnomaly(ctx, rest, stdin, stdout, logger)
	case "rules":
		err = runRules(ctx, rest, stdin, stdout)
	case "enrich":
		err = runEnrich(ctx, rest, stdout, logger)
	case "approver":
		err = runApprover(ctx, rest, stdout, logger)
	case "version", "--version":
		fmt.Fprintln(stdout, "foresight", version())
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "foresight: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "foresight %s: %v\nRun 'foresight %s --help' for the flags.\n", args[0], err, args[0])
		return 2
	default:
		fmt.Fprintf(stderr, "foresight %s: %v\n", args[0], err)
		return 1
	}
}

// usageError marks an error in the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// newFlagSet returns a flag set that prints help (text, then the flags) to
// stdout on --help and reports parse errors as usage errors.
func newFlagSet(name, help string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fs.SetOutput(stdout)
		fmt.Fprint(stdout, help)
		fmt.Fprintln(stdout, "\nFlags:")
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args, turning parse errors into usage errors and
// refusing stray arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := parseFlagsAndArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	return nil
}

// parseFlagsAndArgs is parseFlags for commands that take arguments after
// their flags.
func parseFlagsAndArgs(fs *flag.FlagSet, args []string) error {
	// Parse calls Usage itself on --help and on every parse error: silence
	// it, so that help is printed once and only when asked for, and a parse
	// error is reported by run on stderr alone.
	printHelp := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = printHelp
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp()
			return err
		}
		return usageError{err}
	}
	return nil
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
