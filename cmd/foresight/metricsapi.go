package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
	basecmd "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/cmd/options"

	"github.com/foresight-aiops/foresight/metricsapi"
	"github.com/foresight-aiops/foresight/scaler"
)

const metricsAPIHelp = `Usage: foresight metrics-apiserver --targets FILE [--prometheus-url URL | --config FILE | --demo] [flags]

Serves Foresight's predictions through the Kubernetes metrics APIs, so that
a plain autoscaling/v2 HorizontalPodAutoscaler scales on them without KEDA:
custom.metrics.k8s.io always (an Object metric on the scaled Deployment or
StatefulSet), external.metrics.k8s.io with --enable-external-metrics (only
one server may own it in a cluster, and where KEDA is installed KEDA does).
It is an aggregated API server: the Kubernetes API server reaches it through
an APIService, over TLS, and it delegates authentication and authorization
back to the cluster (docs/metricsapi.md has the manifests and RBAC).

Targets are declared in a YAML file (--targets), each with the same policy
keys as the KEDA trigger; predictions come from the same predictor as
'foresight serve', so the value is the load to provision for and the HPA's
target is targetPerReplica:

  targets:
    - namespace: shop
      kind: Deployment            # or StatefulSet
      name: api
      metric: foresight_predicted_load   # the default
      policy:
        query: sum(rate(http_requests_total{job="api"}[2m]))
        targetPerReplica: "50"
        leadTime: 5m

An HPA on the Object metric (the replicas are ceil(value / averageValue)):

  apiVersion: autoscaling/v2
  kind: HorizontalPodAutoscaler
  metadata: {name: api, namespace: shop}
  spec:
    scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
    minReplicas: 2
    maxReplicas: 20
    metrics:
      - type: Object
        object:
          describedObject: {apiVersion: apps/v1, kind: Deployment, name: api}
          metric: {name: foresight_predicted_load}
          target: {type: AverageValue, averageValue: "50"}

or, with --enable-external-metrics, on the External metric (select the
workload: the HPA adds up every value the selector returns):

      - type: External
        external:
          metric:
            name: foresight_predicted_load
            selector: {matchLabels: {workload: api}}
          target: {type: AverageValue, averageValue: "50"}

HTTP endpoints (--http-addr, plain HTTP): /metrics, /healthz.

Examples:
  foresight metrics-apiserver --targets targets.yaml --prometheus-url http://prometheus.monitoring:9090
  foresight metrics-apiserver --targets targets.yaml --demo --secure-port 6443 \
    --lister-kubeconfig admin.conf --authentication-kubeconfig admin.conf --authorization-kubeconfig admin.conf
`

type metricsAPIOptions struct {
	targets               string
	config, prometheusURL string
	demo, external        bool
	httpAddr              string
	refit, reselect, idle time.Duration
	workers               int
}

func runMetricsAPIServer(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	o := metricsAPIOptions{httpAddr: ":8080", refit: time.Hour, reselect: 24 * time.Hour, workers: 2}
	adapter := &basecmd.AdapterBase{Name: "foresight-metrics-apiserver"}
	adapter.CustomMetricsAdapterServerOptions = options.NewCustomMetricsAdapterServerOptions()
	serving := adapter.SecureServing
	serving.BindPort = 6443 // no privileged port, so that it runs as non-root
	// Without --tls-cert-file or --cert-dir the self-signed certificate is
	// kept in memory (the APIService then needs insecureSkipTLSVerify or
	// the certificate's CA): nothing is written to a read-only root.
	serving.ServerCert.CertDirectory = ""

	fs := pflag.NewFlagSet("metrics-apiserver", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	adapter.FlagSet = fs
	adapter.InstallFlags()
	fs.StringVar(&o.targets, "targets", "", "YAML `file` of the workloads to serve predictions for, and their policies (required; see docs/metricsapi.md)")
	fs.StringVar(&o.prometheusURL, "prometheus-url", "", "`URL` of a Prometheus-compatible API (Prometheus, VictoriaMetrics, Thanos), the datasource \"default\"")
	fs.StringVar(&o.config, "config", "", "YAML `file` of datasources (see promsource); instead of --prometheus-url")
	fs.BoolVar(&o.demo, "demo", false, "replay the embedded trace as the datasource \"default\" (no Prometheus needed)")
	fs.BoolVar(&o.external, "enable-external-metrics", false, "also serve external.metrics.k8s.io; leave off where KEDA (or another adapter) owns it")
	fs.StringVar(&o.httpAddr, "http-addr", o.httpAddr, "`address` of the plain HTTP server: /metrics, /healthz")
	fs.Var((*pDuration)(&o.refit), "refit", "time between refits of each model (its parameters on the latest history)")
	fs.Var((*pDuration)(&o.reselect), "reselect", "time between full selections of each model (season and model family)")
	fs.Var((*pDuration)(&o.idle), "idle-after", "drop a model no request has asked for in this long (default 3 x --refit)")
	fs.IntVar(&o.workers, "workers", o.workers, "fits that may run at once")
	if err := parsePFlags(fs, args, metricsAPIHelp, stdout); err != nil {
		return err
	}
	if o.targets == "" {
		return usagef("give --targets FILE: the workloads to serve predictions for (see --help)")
	}
	targets, err := metricsapi.LoadTargets(o.targets)
	if err != nil {
		return err
	}
	sources, err := serveOptions{config: o.config, prometheusURL: o.prometheusURL, demo: o.demo}.sources(logger)
	if err != nil {
		return err
	}
	for _, t := range targets {
		if _, err := sources.Source(t.Policy.Datasource); err != nil {
			return fmt.Errorf("targets file %s: %s: policy.datasource: %w", o.targets, t, err)
		}
	}
	klog.SetSlogLogger(logger.With("component", "apiserver")) // the library logs through klog

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pred := scaler.NewPredictor(sources, scaler.Options{
		Workers: o.workers, RefitEvery: o.refit, ReselectEvery: o.reselect, IdleAfter: o.idle,
		Logger: logger, Observer: scaler.NewMetrics(reg),
	})
	dyn, err := adapter.DynamicClient()
	if err != nil {
		return fmt.Errorf("%w (outside the cluster, give --lister-kubeconfig)", err)
	}
	if o.external {
		// Refuse to compete with KEDA for external.metrics.k8s.io; a read
		// that fails (no RBAC on apiservices) is only logged.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		owner, err := metricsapi.CheckExternalOwner(cctx, dyn)
		cancel()
		switch {
		case errors.Is(err, metricsapi.ErrKEDAOwnsExternal):
			return err
		case err != nil:
			logger.WarnContext(ctx, "could not check which server owns external.metrics.k8s.io: make sure it is not KEDA's", "err", err)
		case owner != "":
			logger.InfoContext(ctx, "external.metrics.k8s.io is routed to a Service already: HPAs reach this server only if it is this one", "service", owner)
		}
	}
	prov := metricsapi.NewProvider(pred, targets, metricsapi.Options{
		Lister: metricsapi.DynamicLister{Client: dyn}, Registerer: reg, Logger: logger.With("component", "metricsapi"),
	})
	adapter.WithCustomMetrics(prov)
	if o.external {
		adapter.WithExternalMetrics(prov)
	}
	server, err := adapter.Server()
	if err != nil {
		return fmt.Errorf("building the API server: %w", err)
	}
	prov.AddAggregatedDiscovery(server.GenericAPIServer.AggregatedDiscoveryGroupManager, o.external)

	hlis, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return fmt.Errorf("HTTP address %s: %w (use --http-addr to choose another)", o.httpAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	hsrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hsrv.Serve(hlis) }()
	defer func() {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hsrv.Shutdown(shut)
	}()

	go func() {
		sweep := time.NewTicker(time.Minute)
		defer sweep.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sweep.C:
				pred.Sweep()
			}
		}
	}()
	logger.InfoContext(ctx, "serving the metrics APIs", "secure_port", serving.BindPort, "http", hlis.Addr().String(),
		"targets", len(targets), "external_metrics", o.external, "datasources", serveOptions{config: o.config, prometheusURL: o.prometheusURL, demo: o.demo}.describeSources())
	if err := adapter.Run(ctx); err != nil {
		return fmt.Errorf("running the API server: %w", err)
	}
	return nil
}

// parsePFlags parses args with a pflag set as parseFlags does with a flag
// set: help on --help (as flag.ErrHelp), usage errors otherwise.
func parsePFlags(fs *pflag.FlagSet, args []string, help string, stdout io.Writer) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		fmt.Fprint(stdout, help)
		fmt.Fprintf(stdout, "\nFlags:\n%s", fs.FlagUsages())
		return flag.ErrHelp
	case err != nil:
		return usageError{err}
	case fs.NArg() > 0:
		return usagef("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	return nil
}

// pDuration is durationFlag for pflag.
type pDuration time.Duration

func (d *pDuration) String() string { return (*durationFlag)(d).String() }
func (d *pDuration) Set(s string) error {
	return (*durationFlag)(d).Set(s)
}
func (d *pDuration) Type() string { return "duration" }
