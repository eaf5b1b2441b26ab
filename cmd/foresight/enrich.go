package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/foresight-aiops/foresight/enrich"
	"github.com/foresight-aiops/foresight/enrich/kubecontext"
	"github.com/foresight-aiops/foresight/enrich/llm"
	"github.com/foresight-aiops/foresight/enrich/suggest"
)

const enrichHelp = `Usage: foresight enrich [flags]

Receives Alertmanager's webhook on POST /api/alerts, stores every alert in
a durable queue before answering, and delivers the raw alert to the sinks
at once; with --llm-endpoint, an analysis follows as a reply: read-only
cluster context, secrets redacted, a local model's root cause and two
kubectl commands, each checked against the cluster and never run.

An Alertmanager receiver:
  receivers:
    - name: foresight
      webhook_configs:
        - url: http://foresight-enrich.monitoring.svc:8080/api/alerts
          http_config:
            authorization:
              credentials_file: /etc/alertmanager/foresight-token

HTTP endpoints: /api/alerts, /metrics, /healthz, /readyz.
Sinks (repeat --sink): stdout (default), webhook (--webhook-url,
--webhook-secret), slack (--slack-webhook-url, or --slack-token-file and
--slack-channel for thread replies).

Approvals: with --remediation-config and --approval-key-file, every
suggested command that foresight approver's allowlist permits on the live
object becomes a signed proposal: Approve / Reject buttons in Slack (bot
token), a link to --approver-url elsewhere. This side stays read-only.

Examples:
  foresight enrich --queue-file /var/lib/foresight/alerts.db
  foresight enrich --sink slack --slack-token-file /etc/foresight/slack-token --slack-channel C0123 \
    --llm-endpoint http://ollama.monitoring.svc.cluster.local:11434/v1 --llm-model llama3.1:8b

See also: docs/enrich.md.
`

type enrichOptions struct {
	httpAddr, queueFile                 string
	maxBody                             int64
	maxQueued                           int
	tokenFile, basicUser, basicPassFile string
	sinks                               stringList
	stdoutFormat                        string
	webhookURL, webhookSecretFile       string
	slackWebhookURL, slackTokenFile     string
	slackChannel, slackAPIURL           string
	dedupeTTL, holdRaw                  time.Duration
	analysisWorkers                     int
	llmEndpoint, llmModel               string
	llmKey, llmKeyFile, promptFile      string
	llmTemperature                      float64
	llmMaxTokens, llmWindow             int
	llmTimeout                          time.Duration
	llmStream                           bool
	kubeconfig                          string
	noCluster, anonymize                bool
	remediationConfig, approvalKeyFile  string
	approverURL                         string
	proposalTTL                         time.Duration
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*s = append(*s, x)
		}
	}
	return nil
}

func runEnrich(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	o := enrichOptions{
		httpAddr: ":8080", queueFile: "foresight-alerts.db", maxBody: 4 << 20, maxQueued: 100_000, stdoutFormat: "json", dedupeTTL: 24 * time.Hour,
		analysisWorkers: 1, proposalTTL: time.Hour, llmTemperature: 0.1, llmMaxTokens: 512, llmWindow: 8192, llmTimeout: 120 * time.Second,
	}
	fs := newFlagSet("enrich", enrichHelp, stdout)
	fs.StringVar(&o.httpAddr, "http-addr", o.httpAddr, "`address` of the HTTP server: /api/alerts, /metrics, /healthz, /readyz")
	fs.StringVar(&o.queueFile, "queue-file", o.queueFile, "`file` of the durable alert queue (bbolt); put it on a persistent volume")
	fs.Int64Var(&o.maxBody, "max-body-bytes", o.maxBody, "largest webhook body accepted, in `bytes` (larger: 413)")
	fs.IntVar(&o.maxQueued, "max-queued", o.maxQueued, "alerts the queue holds before the intake answers 503 (Alertmanager retries)")
	fs.StringVar(&o.tokenFile, "auth-token-file", "", "`file` with the bearer token Alertmanager must send (http_config.authorization)")
	fs.StringVar(&o.basicUser, "auth-basic-user", "", "basic-auth `user` Alertmanager must send (http_config.basic_auth)")
	fs.StringVar(&o.basicPassFile, "auth-basic-password-file", "", "`file` with the basic-auth password")
	fs.Var(&o.sinks, "sink", "where messages go: stdout, webhook, slack (repeat or comma-separate; default stdout)")
	fs.StringVar(&o.stdoutFormat, "stdout-format", o.stdoutFormat, "stdout sink format: json (one JSON object a line) or text (readable)")
	fs.StringVar(&o.webhookURL, "webhook-url", "", "`URL` the webhook sink POSTs JSON to")
	fs.StringVar(&o.webhookSecretFile, "webhook-secret-file", "", "`file` with the HMAC-SHA256 key signing webhook sink requests (X-Foresight-Signature)")
	fs.StringVar(&o.slackWebhookURL, "slack-webhook-url", "", "Slack incoming-webhook `URL` (no thread replies)")
	fs.StringVar(&o.slackTokenFile, "slack-token-file", "", "`file` with a Slack bot token (xoxb-...): analyses become thread replies")
	fs.StringVar(&o.slackChannel, "slack-channel", "", "Slack channel `ID` for the bot token")
	fs.StringVar(&o.slackAPIURL, "slack-api-url", "", "Slack Web API base `URL` (default https://slack.com/api)")
	fs.Var((*durationFlag)(&o.dedupeTTL), "dedupe-ttl", "how long a received alert is remembered to drop Alertmanager's re-sends (default 1d)")
	fs.Var((*durationFlag)(&o.holdRaw), "hold-raw", "hold a firing alert up to this long (e.g. 30s) to send it with its analysis as one message; later analyses follow as replies (default: send at once)")
	fs.IntVar(&o.analysisWorkers, "analysis-workers", o.analysisWorkers, "analyses (model requests) at once: the model server's parallelism")
	fs.StringVar(&o.llmEndpoint, "llm-endpoint", "", "OpenAI-compatible API `URL` with /v1 (Ollama, vLLM, LocalAI), e.g. http://ollama.monitoring.svc.cluster.local:11434/v1; without it, raw alerts only")
	fs.StringVar(&o.llmModel, "llm-model", "", "model `name`, e.g. llama3.1:8b")
	fs.StringVar(&o.llmKey, "llm-api-key", "", "API `key` (optional; Ollama takes any, e.g. dummy); prefer --llm-api-key-file for real keys")
	fs.StringVar(&o.llmKeyFile, "llm-api-key-file", "", "`file` with the API key")
	fs.Float64Var(&o.llmTemperature, "llm-temperature", o.llmTemperature, "sampling temperature, always sent (Ollama otherwise uses 1.0)")
	fs.IntVar(&o.llmMaxTokens, "llm-max-tokens", o.llmMaxTokens, "most `tokens` in an answer; also the window's output reserve")
	fs.IntVar(&o.llmWindow, "llm-context-window", o.llmWindow, "the model's context window in `tokens` (Ollama: its num_ctx); the prompt is fitted to it")
	fs.Var((*durationFlag)(&o.llmTimeout), "llm-timeout", "time allowed for one model request (CPU inference takes 30-60 s)")
	fs.BoolVar(&o.llmStream, "llm-stream", false, "read answers as server-sent events")
	fs.StringVar(&o.promptFile, "prompt-file", "", "`file` with the system prompt (default: a concise root cause and exactly two kubectl commands, as JSON)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig `file` for cluster context (default: in-cluster, then $KUBECONFIG or ~/.kube/config; none: alerts are analysed from their labels)")
	fs.BoolVar(&o.noCluster, "no-cluster", false, "gather no cluster context")
	fs.BoolVar(&o.anonymize, "anonymize", false, "replace namespace, pod, node and workload names by placeholders in what the model sees, and put them back in its answer")
	fs.StringVar(&o.remediationConfig, "remediation-config", "", "`file` with foresight approver's allowlist: suggested commands it allows become proposals with Approve / Reject buttons (needs --approval-key-file and cluster access; see docs/approver.md)")
	fs.StringVar(&o.approvalKeyFile, "approval-key-file", "", "`file` with the HMAC key (>= 32 bytes) shared with foresight approver, signing proposals")
	fs.StringVar(&o.approverURL, "approver-url", "", "`URL` of foresight approver for the approval links of non-Slack sinks, e.g. https://approver.example.com (its --public-url)")
	fs.Var((*durationFlag)(&o.proposalTTL), "proposal-ttl", "how long a proposal can be approved (default 1h)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sinks, err := o.buildSinks(stdout)
	if err != nil {
		return err
	}
	intakeOpts := enrich.IntakeOptions{MaxBodyBytes: o.maxBody, BasicUser: o.basicUser}
	if intakeOpts.BearerToken, err = readSecretFile(o.tokenFile); err != nil {
		return err
	}
	if intakeOpts.BasicPassword, err = readSecretFile(o.basicPassFile); err != nil {
		return err
	}
	if (o.basicUser == "") != (o.basicPassFile == "") {
		return usagef("basic auth needs both --auth-basic-user and --auth-basic-password-file")
	}

	q, err := enrich.OpenQueue(o.queueFile, enrich.QueueOptions{MaxRecords: o.maxQueued})
	if err != nil {
		return err
	}
	defer q.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := enrich.NewMetrics(reg)
	redactor := enrich.NewRedactor(metrics)
	analyzer, err := o.buildAnalyzer(logger, metrics, redactor)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := enrich.NewDispatcher(ctx, sinks, enrich.DispatchOptions{}, logger, metrics)
	p := enrich.NewPipeline(q, d, analyzer, redactor, enrich.PipelineOptions{AnalysisWorkers: o.analysisWorkers, HoldRaw: o.holdRaw}, logger, metrics)

	lis, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return fmt.Errorf("HTTP address %s: %w (use --http-addr to choose another)", o.httpAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/alerts", enrich.NewIntake(q, intakeOpts, logger, metrics))
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ok := func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }
	mux.HandleFunc("/healthz", ok)
	// Ready once the queue is open: neither the cluster nor the model is
	// needed to accept alerts.
	mux.HandleFunc("/readyz", ok)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	names := make([]string, len(sinks))
	for i, s := range sinks {
		names[i] = s.Name()
	}
	logger.InfoContext(ctx, "enrich serving", "http", lis.Addr().String(), "queue", o.queueFile, "sinks", strings.Join(names, ","), "analysis", analyzer != nil)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	pipeDone := make(chan struct{})
	go func() { p.Run(ctx); close(pipeDone) }()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			shut, cancelShut := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(shut)
			cancelShut()
			<-pipeDone
			d.Wait()
			return nil
		case err := <-errc:
			cancel()
			<-pipeDone
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case now := <-prune.C:
			if n, err := q.PruneSeen(now.Add(-o.dedupeTTL)); err != nil {
				logger.ErrorContext(ctx, "pruning dedupe keys", "err", err)
			} else if n > 0 {
				logger.InfoContext(ctx, "pruned dedupe keys", "keys", n)
			}
		}
	}
}

func (o enrichOptions) buildSinks(stdout io.Writer) ([]enrich.Sink, error) {
	kinds := o.sinks
	if len(kinds) == 0 {
		kinds = []string{"stdout"}
	}
	var sinks []enrich.Sink
	seen := map[string]bool{}
	for _, k := range kinds {
		if seen[k] {
			return nil, usagef("--sink %s given twice", k)
		}
		seen[k] = true
		switch k {
		case "stdout":
			if o.stdoutFormat != "json" && o.stdoutFormat != "text" {
				return nil, usagef("--stdout-format %q: use json or text", o.stdoutFormat)
			}
			sinks = append(sinks, enrich.NewStdoutSink(stdout, o.stdoutFormat == "text"))
		case "webhook":
			if o.webhookURL == "" {
				return nil, usagef("--sink webhook needs --webhook-url")
			}
			secret, err := readSecretFile(o.webhookSecretFile)
			if err != nil {
				return nil, err
			}
			sinks = append(sinks, enrich.NewWebhookSink(o.webhookURL, secret, nil))
		case "slack":
			token, err := readSecretFile(o.slackTokenFile)
			if err != nil {
				return nil, err
			}
			s, err := enrich.NewSlackSink(enrich.SlackOptions{WebhookURL: o.slackWebhookURL, Token: token, Channel: o.slackChannel, APIURL: o.slackAPIURL})
			if err != nil {
				return nil, usageError{err}
			}
			sinks = append(sinks, s)
		default:
			return nil, usagef("--sink %q: use stdout, webhook or slack", k)
		}
	}
	return sinks, nil
}

// readSecretFile returns the trimmed content of file, or "" for no file.
func readSecretFile(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", file)
	}
	return s, nil
}

// buildAnalyzer returns nil (raw alerts only) without --llm-endpoint.
func (o enrichOptions) buildAnalyzer(logger *slog.Logger, metrics *enrich.Metrics, redactor enrich.Redactor) (enrich.Analyzer, error) {
	if (o.remediationConfig == "") != (o.approvalKeyFile == "") {
		return nil, usagef("proposals need both --remediation-config and --approval-key-file")
	}
	if o.approverURL != "" && o.remediationConfig == "" {
		return nil, usagef("--approver-url needs --remediation-config and --approval-key-file")
	}
	if o.llmEndpoint == "" {
		if o.llmModel != "" {
			return nil, usagef("--llm-model needs --llm-endpoint")
		}
		if o.remediationConfig != "" {
			return nil, usagef("--remediation-config needs --llm-endpoint: proposals come from the analysis' suggested commands")
		}
		return nil, nil
	}
	if o.llmModel == "" {
		return nil, usagef("--llm-endpoint needs --llm-model (e.g. llama3.1:8b)")
	}
	if o.llmMaxTokens <= 0 || o.llmWindow <= 2*o.llmMaxTokens {
		return nil, usagef("--llm-context-window (%d) must exceed twice --llm-max-tokens (%d)", o.llmWindow, o.llmMaxTokens)
	}
	key := o.llmKey
	if o.llmKeyFile != "" {
		var err error
		if key, err = readSecretFile(o.llmKeyFile); err != nil {
			return nil, err
		}
	}
	model, err := llm.New(llm.Options{
		Endpoint: o.llmEndpoint, Model: o.llmModel, APIKey: key, Temperature: o.llmTemperature, MaxTokens: o.llmMaxTokens,
		Timeout: o.llmTimeout, Concurrency: max(o.analysisWorkers, 1), Stream: o.llmStream,
	})
	if err != nil {
		return nil, usageError{err}
	}
	system := ""
	if o.promptFile != "" {
		b, err := os.ReadFile(o.promptFile)
		if err != nil {
			return nil, fmt.Errorf("read --prompt-file: %w", err)
		}
		system = string(b)
	}
	var gatherer enrich.Gatherer
	var checker enrich.CommandChecker
	client, err := o.kubeClient()
	if err != nil {
		return nil, err
	} else if client != nil {
		gatherer = kubecontext.New(client, kubecontext.Options{})
		checker = suggest.NewChecker(suggest.NewKubeCluster(client))
	} else {
		logger.Warn("no cluster access: alerts are analysed from their labels and annotations only", "hint", "give --kubeconfig or run in-cluster with a read-only ServiceAccount")
	}
	an := enrich.NewAnalyzer(gatherer, model, checker, redactor, enrich.AnalyzerOptions{
		ContextWindow: o.llmWindow, OutputReserve: o.llmMaxTokens, SystemPrompt: system, Model: o.llmModel, Anonymize: o.anonymize,
	}, logger, metrics)
	return o.withProposals(an, client, logger, metrics)
}

// kubeClient returns a client from --kubeconfig, the in-cluster config or
// the default kubeconfig; nil when none exists (or --no-cluster).
func (o enrichOptions) kubeClient() (kubernetes.Interface, error) {
	if o.noCluster {
		return nil, nil
	}
	var cfg *rest.Config
	var err error
	switch {
	case o.kubeconfig != "":
		if cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig); err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", o.kubeconfig, err)
		}
	case os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		if cfg, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("in-cluster config: %w", err)
		}
	default:
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, nil //nolint:nilerr // no kubeconfig: run without cluster context, as documented
		}
	}
	cfg.UserAgent = "foresight-enrich"
	return kubernetes.NewForConfig(cfg)
}
