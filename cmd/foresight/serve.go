package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/foresight-aiops/foresight/anomaly"
	"github.com/foresight-aiops/foresight/internal/demo"
	"github.com/foresight-aiops/foresight/promsource"
	foresightv1 "github.com/foresight-aiops/foresight/proto/foresight/v1"
	"github.com/foresight-aiops/foresight/scaler"
)

const serveHelp = `Usage: foresight serve [--prometheus-url URL | --config FILE | --demo] [flags]

Serves KEDA's external-scaler gRPC protocol: for each ScaledObject trigger
it reads the load's history from a PromQL datasource, fits a forecast in the
background, and reports the load expected one pod start-up ahead, never
below the current load, capped, and falling back to the current load
whenever the forecast cannot be trusted.

Datasources are configured here, never in ScaledObjects: --prometheus-url
names one datasource "default"; --config reads several from a YAML file;
--demo replays an embedded trace as if live (any query reads it).

A ScaledObject trigger:
  triggers:
    - type: external
      metadata:
        scalerAddress: foresight.foresight.svc:9090
        query: sum(rate(http_requests_total{job="api"}[2m]))
        targetPerReplica: "50"
        leadTime: 5m

HTTP endpoints: /metrics, /healthz, /readyz, and /debug/pprof with --pprof.

With --anomaly-config the same process scores queries for anomalies on a
schedule and publishes anomaly_score, y, yhat, yhat_lower and yhat_upper
on /metrics (see docs/anomaly.md).

Examples:
  foresight serve --demo
  foresight serve --prometheus-url http://prometheus.monitoring:9090
  foresight serve --config datasources.yaml --tls-cert-file tls.crt --tls-key-file tls.key --tls-client-ca-file ca.crt
`

type serveOptions struct {
	grpcAddr, httpAddr     string
	config, prometheusURL  string
	demo, pprof            bool
	tlsCert, tlsKey, tlsCA string
	anomalyConfig          string
	refit, reselect        time.Duration
	streamInterval, idle   time.Duration
	workers, gcPercent     int
}

func runServe(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	o := serveOptions{grpcAddr: ":9090", httpAddr: ":8080", refit: time.Hour, reselect: 24 * time.Hour, streamInterval: 10 * time.Second, workers: 2, gcPercent: defaultGCPercent}
	fs := newFlagSet("serve", serveHelp, stdout)
	fs.StringVar(&o.grpcAddr, "grpc-addr", o.grpcAddr, "`address` of the gRPC server (KEDA's scalerAddress points here)")
	fs.StringVar(&o.httpAddr, "http-addr", o.httpAddr, "`address` of the HTTP server: /metrics, /healthz, /readyz")
	fs.StringVar(&o.prometheusURL, "prometheus-url", "", "`URL` of a Prometheus-compatible API (Prometheus, VictoriaMetrics, Thanos), the datasource \"default\"")
	fs.StringVar(&o.config, "config", "", "YAML `file` of datasources (see promsource); instead of --prometheus-url")
	fs.BoolVar(&o.demo, "demo", false, "replay the embedded trace as the datasource \"default\" (no Prometheus needed)")
	fs.StringVar(&o.tlsCert, "tls-cert-file", "", "server certificate (PEM) for TLS; KEDA's enableTLS or caCert")
	fs.StringVar(&o.tlsKey, "tls-key-file", "", "server private key (PEM) for TLS")
	fs.StringVar(&o.tlsCA, "tls-client-ca-file", "", "CA (PEM) that client certificates must chain to: mutual TLS (KEDA's tlsClientCert)")
	fs.Var((*durationFlag)(&o.refit), "refit", "time between refits of each model (its parameters on the latest history)")
	fs.Var((*durationFlag)(&o.reselect), "reselect", "time between full selections of each model (season and model family), ten times a refit's cost")
	fs.IntVar(&o.workers, "workers", o.workers, "fits that may run at once")
	fs.Var((*durationFlag)(&o.idle), "idle-after", "drop a model no request has asked for in this long (default 3 x --refit)")
	fs.Var((*durationFlag)(&o.streamInterval), "stream-interval", "how often StreamIsActive re-evaluates")
	fs.BoolVar(&o.pprof, "pprof", false, "serve /debug/pprof on the HTTP port")
	fs.StringVar(&o.anomalyConfig, "anomaly-config", "", "YAML `file` of anomaly detection queries, models and schedule (see docs/anomaly.md)")
	fs.IntVar(&o.gcPercent, "gc-percent", o.gcPercent, "the Go garbage collector's target (GOGC; the environment variable wins if set): higher trades memory for tail latency. At 5,000 polls/s, 400 halves the p99 of 100's; the heap peaks at up to 5x the live heap (about 60 MB with 1,000 models)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if pct, ok := gcTarget(o.gcPercent, os.Getenv); ok {
		debug.SetGCPercent(pct)
		// A higher GC target must not walk the heap into the container's
		// memory limit: below it the collector runs harder instead.
		if limit, ok := memoryLimit(os.Getenv, os.ReadFile); ok {
			debug.SetMemoryLimit(limit)
			logger.InfoContext(ctx, "garbage collector", "gc_percent", pct, "memory_limit_bytes", limit, "hint", "85% of the container's memory limit; set GOMEMLIMIT to choose")
		}
	}
	sources, err := o.sources(logger)
	if err != nil {
		return err
	}
	creds, err := o.credentials()
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := scaler.NewMetrics(reg)
	var detector *anomaly.Service
	if o.anomalyConfig != "" {
		if detector, err = newAnomalyService(o.anomalyConfig, sources, reg, logger); err != nil {
			return err
		}
	}
	popts := scaler.Options{
		Workers: o.workers, RefitEvery: o.refit, ReselectEvery: o.reselect, IdleAfter: o.idle, Logger: logger, Observer: metrics,
	}
	if detector != nil {
		// excludeAnomalies also leaves out what the detector found in the
		// same query: one process, one idea of what was anomalous.
		popts.AnomalyWindows = detector.WindowsOf
	}
	pred := scaler.NewPredictor(sources, popts)
	srv := scaler.NewServer(pred, logger)
	srv.StreamInterval = o.streamInterval

	gopts := scaler.ServerOptions(metrics)
	if creds != nil {
		gopts = append(gopts, grpc.Creds(creds))
	}
	gs := grpc.NewServer(gopts...)
	externalscaler.RegisterExternalScalerServer(gs, srv)
	foresightv1.RegisterForecastsServer(gs, srv.Forecasts())
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs) // so that grpcurl needs no .proto files

	glis, err := net.Listen("tcp", o.grpcAddr)
	if err != nil {
		return fmt.Errorf("gRPC address %s: %w (use --grpc-addr to choose another)", o.grpcAddr, err)
	}
	hlis, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		glis.Close()
		return fmt.Errorf("HTTP address %s: %w (use --http-addr to choose another)", o.httpAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ok := func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/readyz", ok)
	if o.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	hsrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(glis) }()
	go func() { errc <- hsrv.Serve(hlis) }()
	if detector != nil {
		go func() { _ = detector.Run(ctx) }()
	}
	logger.InfoContext(ctx, "serving", "grpc", glis.Addr().String(), "http", hlis.Addr().String(), "tls", creds != nil, "datasources", o.describeSources())

	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			hs.Shutdown()
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hsrv.Shutdown(shut)
			stopped := make(chan struct{})
			go func() { gs.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-shut.Done():
				gs.Stop()
			}
			return nil
		case err := <-errc:
			gs.Stop()
			_ = hsrv.Close()
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case <-sweep.C:
			if n := pred.Sweep(); n > 0 {
				logger.InfoContext(ctx, "dropped idle models", "models", n)
			}
		}
	}
}

// sources builds the datasources from the flags.
func (o serveOptions) sources(logger *slog.Logger) (scaler.Sources, error) {
	set := 0
	for _, on := range []bool{o.demo, o.prometheusURL != "", o.config != ""} {
		if on {
			set++
		}
	}
	switch {
	case set == 0:
		return nil, usagef("give a datasource: --prometheus-url URL, --config FILE, or --demo to try it without one")
	case set > 1:
		return nil, usagef("give one of --prometheus-url, --config and --demo")
	case o.demo:
		src, err := demo.NewSource(time.Now())
		if err != nil {
			return nil, err
		}
		return demoSources{src}, nil
	}
	var cfg promsource.Config
	if o.config != "" {
		var err error
		if cfg, err = promsource.LoadConfig(o.config); err != nil {
			return nil, err
		}
	} else {
		cfg = promsource.SingleConfig(o.prometheusURL)
	}
	set2, err := promsource.NewSet(cfg, logger)
	if err != nil {
		return nil, err
	}
	return promSources{set2}, nil
}

// newAnomalyService builds the anomaly detection service of a
// configuration file over one of the datasources.
func newAnomalyService(path string, sources scaler.Sources, reg prometheus.Registerer, logger *slog.Logger) (*anomaly.Service, error) {
	cfg, err := anomaly.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	src, err := sources.Source(cfg.Reader.Datasource)
	if err != nil {
		return nil, fmt.Errorf("anomaly configuration %s: reader.datasource: %w", path, err)
	}
	return anomaly.NewService(cfg, src, anomaly.ServiceOptions{Registerer: reg, Logger: logger.With("component", "anomaly")})
}

func (o serveOptions) describeSources() string {
	switch {
	case o.demo:
		return "demo"
	case o.config != "":
		return o.config
	}
	return o.prometheusURL
}

// credentials builds TLS credentials from the flags, or nil for plaintext.
func (o serveOptions) credentials() (credentials.TransportCredentials, error) {
	if o.tlsCert == "" && o.tlsKey == "" && o.tlsCA == "" {
		return nil, nil
	}
	if o.tlsCert == "" || o.tlsKey == "" {
		return nil, usagef("TLS needs both --tls-cert-file and --tls-key-file")
	}
	cfg, err := scaler.ServerTLS(o.tlsCert, o.tlsKey, o.tlsCA)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

// demoSources serves the demo trace as the datasource "default".
type demoSources struct{ src *demo.Source }

func (d demoSources) Source(name string) (scaler.Source, error) {
	if name != scaler.DefaultDatasource {
		return nil, fmt.Errorf("datasource %q: --demo serves only %q", name, scaler.DefaultDatasource)
	}
	return d.src, nil
}

// promSources adapts promsource.Set to the scaler.
type promSources struct{ set promsource.Set }

func (p promSources) Source(name string) (scaler.Source, error) {
	c, err := p.set.Get(name)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// defaultGCPercent is serve's garbage collector target. gRPC allocates
// about 4 KB per call, so at 5,000 KEDA polls/s (15,000 calls) a default
// GOGC of 100 collects about once a second, and the collections' CPU
// lands on the calls in flight: on 2 cores the p99 of a poll was 7.7-8.7
// ms with GOGC=100 and 4.8-5.0 ms with 400 (foresight loadtest, 1,000
// objects, measured 2026-11-24).
const defaultGCPercent = 400

// gcTarget returns the GC target to set from --gc-percent, and false when
// the operator's GOGC environment variable decides instead (or the flag is
// 0: the runtime's default).
func gcTarget(flag int, getenv func(string) string) (int, bool) {
	if getenv("GOGC") != "" || flag == 0 {
		return 0, false
	}
	return flag, true
}

// memoryLimit returns a soft memory limit for the runtime: 85% of the
// cgroup's memory limit (v2 memory.max, else v1 memory.limit_in_bytes),
// and false when GOMEMLIMIT is set (the operator decides) or there is no
// limit.
func memoryLimit(getenv func(string) string, readFile func(string) ([]byte, error)) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := readFile(path)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		// "max", or v1's "no limit" (a page-rounded MaxInt64).
		if err != nil || v <= 0 || v >= 1<<60 {
			return 0, false
		}
		return v / 100 * 85, true
	}
	return 0, false
}
