package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/foresight-aiops/foresight/approval"
	"github.com/foresight-aiops/foresight/enrich"
	"github.com/foresight-aiops/foresight/remediate"
)

const approverHelp = `Usage: foresight approver [flags]

Executes the fixes a human approves from Foresight's alert notifications.
foresight enrich proposes them (read-only: it signs a proposal for each
suggested command that maps to an allowlisted action); a click on Approve in
Slack, or on the signed approval link, lands here. The approver checks the
signature, the expiry and the allowlist, claims the proposal (each executes
at most once, across restarts), then re-reads the live object, refuses if it
drifted since the proposal, dry-runs the change server-side, waits for the
stability gate if the action is disruptive (cordon, evict), and runs it. The
result is posted back to the alert's Slack thread (or the interaction's
response_url, or --result-webhook for links) and every step is audited: a
JSON line on --audit-log and a Kubernetes Event on the object.

It is the only Foresight component that writes to the cluster. Run it as its
own Deployment with its own ServiceAccount, whose RBAC covers exactly the
allowlisted verbs, per action it allows:
  rollout-restart    get, patch   deployments / statefulsets / daemonsets
  rollout-undo       get, patch   deployments; list replicasets
  scale              get          deployments / statefulsets;
                     update       deployments/scale / statefulsets/scale
  cordon, uncordon   get, patch   nodes
  evict              get          pods; create pods/eviction
and always, cluster-wide: list nodes, pods and poddisruptionbudgets (the
stability gate), create and list events.events.k8s.io (the audit's Events;
the list lets a restarted approver recall the last hour's budget and gate).
Grant only the rows for the actions your --remediation-config allows; the
Helm chart's approver (off by default) does this.

HTTP endpoints (--listen): GET /approve?token=... (a page; loading it never
executes), POST /approve (the page's form), POST /slack/interactions (Slack's
block_actions; needs --slack-signing-secret-file), /healthz, /metrics.

Who may approve: a Slack click is named by Slack (narrow it with
--slack-allowed-teams, --slack-allowed-channels, --slack-allowed-users). A
link needs an identity source: --identity-header behind an auth proxy, or
--allow-self-declared-approvers to accept a typed name; with neither, link
approvals are refused (403) and only Slack can approve.

A refusal that changed nothing and may pass later (the hourly budget, the
stability gate's timeout, a shutdown, a paused Deployment, a
PodDisruptionBudget, a failed dry run, a write the API server rejected) frees
the proposal: the same button or link can be used again. Any other result
(executed, drifted, gone, not allowlisted, a write that may have been
applied) uses it up.

Examples:
  head -c 32 /dev/urandom > /etc/foresight/approval-key    # shared with foresight enrich
  foresight approver --remediation-config /etc/foresight/remediation.yaml \
    --approval-key-file /etc/foresight/approval-key \
    --slack-signing-secret-file /etc/foresight/slack-signing-secret \
    --slack-token-file /etc/foresight/slack-token --public-url https://approver.example.com \
    --identity-header X-Forwarded-Email --slack-allowed-teams T0123ABCD

See also: docs/approver.md, foresight enrich --help (--remediation-config,
--approval-key-file, --approver-url).
`

type approverOptions struct {
	remediationConfig, keyFile   string
	listen, publicURL            string
	slackSecretFile, slackTokenF string
	resultWebhook, identityHdr   string
	allowSelfDeclared            bool
	slackTeams, slackChannels    stringList
	slackUsers                   stringList
	stateDir, auditLog           string
	kubeconfig                   string
}

func runApprover(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	o := approverOptions{listen: ":8090", stateDir: "/var/lib/foresight-approver", auditLog: "-"}
	fs := newFlagSet("approver", approverHelp, stdout)
	fs.StringVar(&o.remediationConfig, "remediation-config", "", "`file` with the allowlist, stability gate and hourly budgets (YAML; required; see docs/approver.md)")
	fs.StringVar(&o.keyFile, "approval-key-file", "", "`file` with the HMAC key (>= 32 bytes) that foresight enrich signs proposals with (required); create one with: head -c 32 /dev/urandom > key")
	fs.StringVar(&o.listen, "listen", o.listen, "`address` of the HTTP server: /approve, /slack/interactions, /healthz, /metrics")
	fs.StringVar(&o.publicURL, "public-url", "", "`URL` humans reach the approver at, e.g. https://approver.example.com (for messages; foresight enrich --approver-url points there)")
	fs.StringVar(&o.slackSecretFile, "slack-signing-secret-file", "", "`file` with the Slack app's Signing Secret: enables POST /slack/interactions (v0 signatures, 5-minute replay window)")
	fs.StringVar(&o.slackTokenF, "slack-token-file", "", "`file` with a Slack bot token (xoxb-...): results are posted in the alert's thread (chat.postMessage); without it, to the interaction's response_url")
	fs.StringVar(&o.resultWebhook, "result-webhook", "", "`URL` the results of link approvals are POSTed to as JSON (proposalId, command, approver, decision, result)")
	fs.StringVar(&o.identityHdr, "identity-header", "", "`header` set by a trusted auth proxy naming the approver of a link, e.g. X-Forwarded-Email (make the proxy the only way in: anyone reaching the approver directly can set it); see also --allow-self-declared-approvers")
	fs.BoolVar(&o.allowSelfDeclared, "allow-self-declared-approvers", false, "without --identity-header, accept link approvals named by a typed name (audited as \"link:NAME (self-declared)\"): anyone holding a link can then approve. Off: such approvals are refused with 403, and only Slack (or a link through the proxy) can approve")
	fs.Var(&o.slackTeams, "slack-allowed-teams", "comma-separated Slack workspace (team) `IDs` whose clicks may decide, e.g. T0123ABCD; empty allows any workspace the signing secret's app is in")
	fs.Var(&o.slackChannels, "slack-allowed-channels", "comma-separated Slack channel `IDs` whose buttons may decide, e.g. C0123ALERTS; empty allows any")
	fs.Var(&o.slackUsers, "slack-allowed-users", "comma-separated Slack user `IDs` who may decide, e.g. U0123ABCD,U0456EFGH; empty allows any")
	fs.StringVar(&o.stateDir, "state-dir", o.stateDir, "`directory` of the single-use store (approvals.db, bbolt); put it on a persistent volume so that a restart cannot replay an approval")
	fs.StringVar(&o.auditLog, "audit-log", o.auditLog, "`file` the audit trail is appended to as JSON lines; - is stdout")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig `file` (default: in-cluster, then $KUBECONFIG or ~/.kube/config)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case o.remediationConfig == "":
		return usagef("--remediation-config is required: the allowlist of what may be executed (see docs/approver.md)")
	case o.keyFile == "":
		return usagef("--approval-key-file is required: the key foresight enrich signs proposals with (create one with: head -c 32 /dev/urandom > key)")
	}
	for name, u := range map[string]string{"--public-url": o.publicURL, "--result-webhook": o.resultWebhook} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return usagef("%s %q: want an http(s) URL", name, u)
		}
	}
	cfg, err := readRemediationConfig(o.remediationConfig)
	if err != nil {
		return err
	}
	key, err := approval.ReadKeyFile(o.keyFile)
	if err != nil {
		return err
	}
	slackSecret, err := readSecretFile(o.slackSecretFile)
	if err != nil {
		return err
	}
	slackToken, err := readSecretFile(o.slackTokenF)
	if err != nil {
		return err
	}
	client, err := approverKubeClient(o.kubeconfig)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.stateDir, 0o700); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	store, err := approval.OpenStore(filepath.Join(o.stateDir, "approvals.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	auditW := stdout
	if o.auditLog != "-" {
		f, err := os.OpenFile(o.auditLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("--audit-log: %w", err)
		}
		defer f.Close()
		auditW = f
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	audit := remediate.NewAudit(auditW, client, logger, reg)
	exec := remediate.NewExecutor(client, cfg, remediate.ExecutorOptions{Audit: audit, Registerer: reg, Logger: logger})
	srv, err := approval.NewServer(approval.Options{
		Key: key, Config: cfg, Executor: exec, Store: store, Audit: audit,
		SlackSigningSecret: []byte(slackSecret), SlackToken: slackToken, ResultWebhook: o.resultWebhook,
		IdentityHeader: o.identityHdr, AllowSelfDeclared: o.allowSelfDeclared,
		SlackAllowedTeams: o.slackTeams, SlackAllowedChannels: o.slackChannels, SlackAllowedUsers: o.slackUsers,
		Logger: logger, Registerer: reg,
	})
	if err != nil {
		return err
	}

	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (use --listen to choose another address)", o.listen, err)
	}
	mux := http.NewServeMux()
	h := srv.Handler()
	mux.Handle("/approve", h)
	mux.Handle("/slack/interactions", h)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	logger.InfoContext(ctx, "approver serving", "http", lis.Addr().String(), "public_url", o.publicURL, "rules", len(cfg.Allow),
		"slack_interactions", slackSecret != "", "results_to_thread", slackToken != "", "state", filepath.Join(o.stateDir, "approvals.db"))
	for _, w := range approverWarnings(o, cfg, slackSecret != "", slackToken != "") {
		logger.WarnContext(ctx, w)
	}

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(lis) }()
	prune := func(now time.Time) {
		if n, err := store.Prune(now); err != nil {
			logger.ErrorContext(ctx, "pruning used proposals", "err", err)
		} else if n > 0 {
			logger.InfoContext(ctx, "pruned used proposals", "count", n)
		}
	}
	prune(time.Now())
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case now := <-tick.C:
			prune(now)
		case err := <-errc:
			return fmt.Errorf("approver HTTP server: %w", err)
		case <-ctx.Done():
			// Stop taking requests, then give executions in flight (an
			// action waiting for the gate, a result being posted) most of
			// Kubernetes' 30 s grace period before they are canceled.
			shut, cancel := context.WithTimeout(context.Background(), 25*time.Second)
			defer cancel()
			_ = hs.Shutdown(shut)
			if err := srv.Shutdown(shut); err != nil {
				logger.WarnContext(ctx, "approver stopped with executions in flight; they were canceled and their results posted", "err", err)
			}
			// The audit's Kubernetes Events are created in the
			// background: let the last ones out.
			if err := audit.Close(shut); err != nil {
				logger.WarnContext(ctx, "approver stopped with audit Events pending", "err", err)
			}
			return nil
		}
	}
}

// approverWarnings are the settings that work but may surprise: logged at
// startup.
func approverWarnings(o approverOptions, cfg *remediate.Config, slackSecret, slackToken bool) []string {
	var w []string
	switch {
	case o.identityHdr == "" && !o.allowSelfDeclared:
		w = append(w, "link approvals are refused (403): no --identity-header (set by an auth proxy) and no --allow-self-declared-approvers; only Slack can approve")
	case o.identityHdr == "":
		w = append(w, "link approvals are named by what the approver types (--allow-self-declared-approvers): anyone holding a link can approve; put the approver behind an auth proxy and set --identity-header")
	}
	// Slack accepts a response_url for 30 minutes (and 5 uses; the
	// clicker's private reply takes one): a result that waited for the
	// gate may come too late.
	if slackSecret && !slackToken && cfg.Gate.MaxWait >= 25*time.Minute {
		w = append(w, fmt.Sprintf("without --slack-token-file, results of Slack approvals go to the interaction's response_url, which Slack accepts for 30 minutes: a disruptive action that waits for the gate (gate.maxWait %s) may finish after it expired and its result reach only the audit log; give a bot token, or lower gate.maxWait below 25m", cfg.Gate.MaxWait))
	}
	return w
}

func readRemediationConfig(path string) (*remediate.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--remediation-config: %w", err)
	}
	defer f.Close()
	cfg, err := remediate.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// approverKubeClient returns a client from --kubeconfig, the in-cluster
// config or the default kubeconfig; the approver cannot run without one.
func approverKubeClient(kubeconfig string) (kubernetes.Interface, error) {
	var cfg *rest.Config
	var err error
	switch {
	case kubeconfig != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	case os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		cfg, err = rest.InClusterConfig()
	default:
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("the approver needs cluster access (it executes the approved actions): give --kubeconfig or run it in-cluster with its ServiceAccount: %w", err)
	}
	cfg.UserAgent = "foresight-approver"
	return kubernetes.NewForConfig(cfg)
}

// withProposals adds signed proposals to an's analyses when foresight
// enrich is given a remediation config and the approval key.
func (o enrichOptions) withProposals(an enrich.Analyzer, client kubernetes.Interface, logger *slog.Logger, metrics *enrich.Metrics) (enrich.Analyzer, error) {
	if o.remediationConfig == "" {
		return an, nil
	}
	cfg, err := readRemediationConfig(o.remediationConfig)
	if err != nil {
		return nil, err
	}
	key, err := approval.ReadKeyFile(o.approvalKeyFile)
	if err != nil {
		return nil, err
	}
	if o.proposalTTL <= 0 {
		return nil, usagef("--proposal-ttl must be positive, e.g. 1h")
	}
	if client == nil {
		return nil, usagef("--remediation-config needs cluster access to read the objects it proposes to change: give --kubeconfig or run in-cluster (and drop --no-cluster)")
	}
	p, err := enrich.NewProposer(client, enrich.ProposerOptions{Config: cfg, Key: key, ApproverURL: o.approverURL, TTL: o.proposalTTL, Metrics: metrics}, logger)
	if err != nil {
		return nil, usageError{err}
	}
	return enrich.WithProposals(an, p), nil
}
