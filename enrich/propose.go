package enrich

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/foresight-aiops/foresight/approval"
	"github.com/foresight-aiops/foresight/enrich/suggest"
	"github.com/foresight-aiops/foresight/remediate"
)

// ProposalView is a suggested command that foresight approver can execute
// once a human approves it: the Approve / Reject buttons in Slack, a
// signed link elsewhere.
type ProposalView struct {
	ID      string           `json:"id"`
	Command string           `json:"command"` // Action.String(): what runs
	Action  remediate.Action `json:"action"`
	// Token is the signed proposal (the Slack button's value); whoever
	// holds it can approve or reject the action once, until Expires.
	Token string `json:"token"`
	// URL is the approval page (--approver-url + "/approve?token=..."); ""
	// when no approver URL is configured.
	URL     string    `json:"url,omitempty"`
	Expires time.Time `json:"expires"`
}

// ProposerOptions configure a Proposer. Config and Key are required.
type ProposerOptions struct {
	// Config is the approver's allowlist: only what it allows is proposed.
	Config *remediate.Config
	// Key signs proposals (the approver's --approval-key-file).
	Key []byte
	// ApproverURL is where humans reach foresight approver; "" leaves the
	// links out (Slack buttons still work).
	ApproverURL string
	// TTL is how long a proposal can be approved; 0 means 1h.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Metrics counts proposals by result; nil means not exported.
	Metrics *Metrics
}

// Proposer maps checked suggestions to allowlisted actions with concrete
// parameters, read from the live objects with get and list calls only
// (the enrichment's ServiceAccount stays read-only), and signs them.
type Proposer struct {
	client  kubernetes.Interface
	o       ProposerOptions
	logger  *slog.Logger
	metrics *Metrics
}

// NewProposer returns a proposer reading objects through client.
func NewProposer(client kubernetes.Interface, o ProposerOptions, logger *slog.Logger) (*Proposer, error) {
	if client == nil {
		return nil, errors.New("proposals need cluster access to read the live objects (revision, replicas, labels): give --kubeconfig or run in-cluster")
	}
	if o.Config == nil {
		return nil, errors.New("proposals need the remediation config (the approver's allowlist)")
	}
	if err := approval.CheckKey(o.Key); err != nil {
		return nil, err
	}
	if o.ApproverURL != "" {
		u, err := url.Parse(o.ApproverURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("approver URL %q: want http(s)://host[/path]", o.ApproverURL)
		}
		o.ApproverURL = strings.TrimRight(o.ApproverURL, "/")
	}
	if o.TTL <= 0 {
		o.TTL = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	metrics := o.Metrics
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Proposer{client: client, o: o, logger: logger, metrics: metrics}, nil
}

// WithProposals wraps an Analyzer so that its analyses carry proposals.
func WithProposals(a Analyzer, p *Proposer) Analyzer {
	return proposingAnalyzer{a: a, p: p}
}

type proposingAnalyzer struct {
	a Analyzer
	p *Proposer
}

func (pa proposingAnalyzer) Analyze(ctx context.Context, a Alert) Analysis {
	an := pa.a.Analyze(ctx, a)
	if ctx.Err() == nil {
		pa.p.Propose(ctx, a.CorrelationID(), a.Labels["namespace"], &an)
	}
	return an
}

// Propose adds a proposal to an for every needs_human command that maps
// to an action the allowlist permits on the live object, and a note for
// every other needs_human command saying why it has no button. Each
// outcome is counted (foresight_enrich_proposals_total).
func (p *Proposer) Propose(ctx context.Context, correlationID, defaultNS string, an *Analysis) {
	ctx, cancel := context.WithTimeout(ctx, proposeTimeout)
	defer cancel()
	seen := map[string]bool{}
	for _, c := range an.Commands {
		if c.Verdict != suggest.NeedsHuman {
			continue
		}
		a, sk := p.proposal(ctx, c.Command, defaultNS)
		if sk == nil && seen[a.String()] {
			continue
		}
		var v ProposalView
		if sk == nil {
			seen[a.String()] = true
			var err error
			if v, err = p.sign(correlationID, a); err != nil {
				sk = &skip{reasonSignError, err.Error()}
			}
		}
		if sk != nil {
			p.metrics.proposals.WithLabelValues(sk.reason).Inc()
			an.Notes = append(an.Notes, fmt.Sprintf("no approval button for `%s`: %s", c.Command, sk.why))
			p.logger.InfoContext(ctx, "no proposal for a suggested command", "correlation_id", correlationID, "command", c.Command, "reason", sk.reason, "why", sk.why)
			continue
		}
		p.metrics.proposals.WithLabelValues("proposed").Inc()
		an.Proposals = append(an.Proposals, v)
		p.audit(ctx, v, correlationID, c.Command)
	}
}

// proposeTimeout bounds the reads of one analysis' proposals.
const proposeTimeout = 10 * time.Second

// skip is why a command gets no proposal: reason is the metric's label,
// why the note for the human.
type skip struct{ reason, why string }

// Reasons for no proposal (besides remediate's refusal reasons:
// not_allowlisted, out_of_bounds, invalid).
const (
	reasonNotAnAction = "not_an_action" // the command is not one the approver executes
	reasonGone        = "gone"          // the object does not exist
	reasonReadError   = "read_error"    // the object could not be read
	reasonNoChange    = "no_change"     // the action would change nothing
	reasonNoRevision  = "no_revision"   // no revision to undo to
	reasonSignError   = "sign_error"
)

func (p *Proposer) proposal(ctx context.Context, line, defaultNS string) (remediate.Action, *skip) {
	a, why := ActionFor(line, defaultNS)
	if why != "" {
		return a, &skip{reasonNotAnAction, why}
	}
	return p.observe(ctx, a)
}

func (p *Proposer) sign(correlationID string, a remediate.Action) (ProposalView, error) {
	id, err := approval.NewID()
	if err != nil {
		return ProposalView{}, err
	}
	now := p.o.Now().UTC().Truncate(time.Second)
	prop := approval.Proposal{ID: id, CorrelationID: correlationID, Action: a, Issued: now, Expires: now.Add(p.o.TTL)}
	tok, err := approval.Sign(p.o.Key, prop)
	if err != nil {
		return ProposalView{}, err
	}
	v := ProposalView{ID: id, Command: a.String(), Action: a, Token: tok, Expires: prop.Expires}
	if p.o.ApproverURL != "" {
		v.URL = p.o.ApproverURL + "/approve?token=" + url.QueryEscape(tok)
	}
	return v, nil
}

// audit writes the proposal as a JSON line in the log (the audit entry of
// the approver's format); the enrichment records no Kubernetes Event,
// since its ServiceAccount may not write.
func (p *Proposer) audit(ctx context.Context, v ProposalView, correlationID, suggested string) {
	e := remediate.Entry{
		Time: p.o.Now().UTC(), Event: remediate.EventProposed, ProposalID: v.ID, CorrelationID: correlationID,
		Action: v.Action, Command: v.Command, Actor: "foresight-enrich", Message: "suggested as: " + suggested,
	}
	js, err := json.Marshal(e)
	if err != nil {
		return
	}
	p.logger.InfoContext(ctx, "remediation proposed", "audit", json.RawMessage(js))
}

// observe reads the live object: it must exist and be allowed by the
// allowlist with its labels; it fills in what the approver checks for
// drift (UID, the current revision and the ReplicaSet to go back to, the
// replica count). why says why no proposal can be made.
func (p *Proposer) observe(ctx context.Context, a remediate.Action) (remediate.Action, *skip) {
	apps := p.client.AppsV1()
	var meta metav1.ObjectMeta
	var dep *appsv1.Deployment
	var err error
	switch a.Resource {
	case remediate.Deployments:
		dep, err = apps.Deployments(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err == nil {
			meta = dep.ObjectMeta
			a.Observed.Replicas = replicasOf(dep.Spec.Replicas)
		}
	case remediate.StatefulSets:
		var sts *appsv1.StatefulSet
		sts, err = apps.StatefulSets(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err == nil {
			meta = sts.ObjectMeta
			a.Observed.Replicas = replicasOf(sts.Spec.Replicas)
		}
	case remediate.DaemonSets:
		var ds *appsv1.DaemonSet
		ds, err = apps.DaemonSets(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err == nil {
			meta = ds.ObjectMeta
		}
	case remediate.Nodes:
		node, gerr := p.client.CoreV1().Nodes().Get(ctx, a.Name, metav1.GetOptions{})
		err = gerr
		if err == nil {
			meta = node.ObjectMeta
			switch {
			case a.Kind == remediate.Cordon && node.Spec.Unschedulable:
				return a, &skip{reasonNoChange, "node " + a.Name + " is already cordoned"}
			case a.Kind == remediate.Uncordon && !node.Spec.Unschedulable:
				return a, &skip{reasonNoChange, "node " + a.Name + " is not cordoned"}
			}
		}
	}
	switch {
	case apierrors.IsNotFound(err):
		return a, &skip{reasonGone, fmt.Sprintf("%s %s does not exist", strings.TrimSuffix(a.Resource, "s"), qualified(a))}
	case err != nil:
		return a, &skip{reasonReadError, fmt.Sprintf("could not read %s %s: %v", strings.TrimSuffix(a.Resource, "s"), qualified(a), err)}
	}
	if a.Kind != remediate.Scale {
		a.Observed.Replicas = nil
	} else if *a.Observed.Replicas == *a.Replicas {
		return a, &skip{reasonNoChange, fmt.Sprintf("%s %s has %d replicas already", strings.TrimSuffix(a.Resource, "s"), qualified(a), *a.Replicas)}
	}
	a.Observed.UID = string(meta.UID)
	if a.Kind == remediate.RolloutUndo {
		var sk *skip
		if a, sk = p.undoTarget(ctx, a, dep); sk != nil {
			return a, sk
		}
	}
	if err := p.o.Config.Check(a, meta.Labels); err != nil {
		reason := remediate.ReasonNotAllowlisted
		if r, ok := remediate.IsRefusal(err); ok {
			reason = r.Reason
		}
		return a, &skip{reason, err.Error()}
	}
	return a, nil
}

func qualified(a remediate.Action) string {
	if a.Namespace == "" {
		return a.Name
	}
	return a.Namespace + "/" + a.Name
}

func replicasOf(r *int32) *int32 {
	n := int32(1) // the API server's default
	if r != nil {
		n = *r
	}
	return &n
}

// Annotations and labels of Deployment revisions.
const (
	revisionAnnotation = "deployment.kubernetes.io/revision"
	templateHashLabel  = "pod-template-hash"
)

// undoTarget finds the ReplicaSet a rollout undo returns to: the one at
// ToRevision, or (when the command named none) the newest revision before
// the current one, as kubectl rollout undo does. It lists the
// Deployment's ReplicaSets (read-only) and records the current revision
// and the target's pod-template-hash.
func (p *Proposer) undoTarget(ctx context.Context, a remediate.Action, dep *appsv1.Deployment) (remediate.Action, *skip) {
	current, err := strconv.ParseInt(dep.Annotations[revisionAnnotation], 10, 64)
	if err != nil {
		return a, &skip{reasonNoRevision, "deployment " + qualified(a) + " has no revision yet"}
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return a, &skip{reasonReadError, fmt.Sprintf("deployment %s: selector: %v", qualified(a), err)}
	}
	rsl, err := p.client.AppsV1().ReplicaSets(a.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return a, &skip{reasonReadError, fmt.Sprintf("could not list the ReplicaSets of deployment %s: %v", qualified(a), err)}
	}
	var target *appsv1.ReplicaSet
	var targetRev int64
	for i := range rsl.Items {
		rs := &rsl.Items[i]
		if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != dep.UID {
			continue
		}
		rev, err := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
		if err != nil || rev >= current {
			continue
		}
		if a.ToRevision == 0 && rev > targetRev || a.ToRevision != 0 && rev == a.ToRevision {
			target, targetRev = rs, rev
		}
	}
	switch {
	case a.ToRevision == current:
		return a, &skip{reasonNoChange, fmt.Sprintf("deployment %s is at revision %d already", qualified(a), current)}
	case target == nil && a.ToRevision == 0:
		return a, &skip{reasonNoRevision, fmt.Sprintf("deployment %s has no earlier revision to go back to", qualified(a))}
	case target == nil:
		return a, &skip{reasonNoRevision, fmt.Sprintf("deployment %s has no ReplicaSet at revision %d (kubectl rollout history deployment/%s -n %s lists them)", qualified(a), a.ToRevision, a.Name, a.Namespace)}
	}
	a.ToRevision = targetRev
	a.Observed.Revision = current
	a.Observed.TemplateHash = target.Labels[templateHashLabel]
	return a, nil
}

// resourceOf maps kubectl's names for the workload kinds to resources.
var resourceOf = map[string]string{
	"deploy": remediate.Deployments, "deployment": remediate.Deployments, "deployments": remediate.Deployments, "deployment.apps": remediate.Deployments, "deployments.apps": remediate.Deployments,
	"sts": remediate.StatefulSets, "statefulset": remediate.StatefulSets, "statefulsets": remediate.StatefulSets, "statefulset.apps": remediate.StatefulSets, "statefulsets.apps": remediate.StatefulSets,
	"ds": remediate.DaemonSets, "daemonset": remediate.DaemonSets, "daemonsets": remediate.DaemonSets, "daemonset.apps": remediate.DaemonSets, "daemonsets.apps": remediate.DaemonSets,
}

// ActionFor maps a kubectl command line to the action the approver can
// execute, without the live state (Proposer.observe adds it); why says
// why it cannot ("" when it can). defaultNS is used when the command
// names no namespace. The mapping:
//
//	kubectl rollout restart deployment|statefulset|daemonset/NAME   -> rollout-restart
//	kubectl rollout undo deployment/NAME [--to-revision=N]          -> rollout-undo
//	kubectl scale deployment|statefulset/NAME --replicas=N          -> scale
//	kubectl cordon NODE, kubectl uncordon NODE                      -> cordon, uncordon
//
// kubectl drain and kubectl delete pod are not mapped (see why).
func ActionFor(line, defaultNS string) (remediate.Action, string) {
	c, err := suggest.Parse(line)
	if err != nil {
		return remediate.Action{}, err.Error()
	}
	if len(c.Args) == 0 {
		return remediate.Action{}, "no kubectl command"
	}
	for _, f := range []string{"--context", "--kubeconfig", "--cluster", "--server", "-s", "--user", "--as", "-l", "--selector", "--all", "-A", "--all-namespaces", "-f", "--filename", "-k", "--kustomize", "--dry-run"} {
		if _, ok := c.Flags[f]; ok {
			return remediate.Action{}, "it uses " + f + ": only a single named object in this cluster can be approved"
		}
	}
	verb, args := c.Args[0], c.Args[1:]
	var a remediate.Action
	switch verb {
	case "rollout":
		if len(args) == 0 {
			return a, "kubectl rollout without a subcommand"
		}
		switch args[0] {
		case "restart":
			a.Kind = remediate.RolloutRestart
		case "undo":
			a.Kind = remediate.RolloutUndo
			if v, ok := c.Flags["--to-revision"]; ok && v != "0" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 1 {
					return a, fmt.Sprintf("--to-revision %q is not a revision number", v)
				}
				a.ToRevision = n
			}
		default:
			return a, "kubectl rollout " + args[0] + " is not one of the actions foresight approver executes (rollout restart, rollout undo, scale, cordon, uncordon)"
		}
		args = args[1:]
	case "scale":
		a.Kind = remediate.Scale
		v, ok := c.Flags["--replicas"]
		n, err := strconv.ParseInt(v, 10, 32)
		if !ok || err != nil || n < 0 {
			return a, "kubectl scale without a valid --replicas"
		}
		r := int32(n)
		a.Replicas = &r
	case "cordon", "uncordon":
		a.Kind = remediate.Kind(verb)
		if len(args) != 1 {
			return a, "name exactly one node"
		}
		a.Resource, a.Name = remediate.Nodes, args[0]
		if err := a.Validate(); err != nil {
			return a, err.Error()
		}
		return a, ""
	case "drain":
		return a, "kubectl drain is not an allowlisted action: it evicts every pod of the node at once; approve a cordon instead and let the workloads move"
	case "delete":
		if len(args) > 0 && (strings.HasPrefix(args[0], "po") || strings.HasPrefix(args[0], "pod/")) {
			return a, "kubectl delete pod is not an eviction: it ignores PodDisruptionBudgets, so it is never offered for approval"
		}
		return a, "kubectl delete is never offered for approval"
	default:
		return a, "kubectl " + verb + " is not one of the actions foresight approver executes (rollout restart, rollout undo, scale, cordon, uncordon)"
	}
	// One workload: kind/name or kind name.
	var kind, name string
	switch {
	case len(args) == 1 && strings.Contains(args[0], "/"):
		kind, name, _ = strings.Cut(args[0], "/")
	case len(args) == 2 && !strings.Contains(args[0], "/"):
		kind, name = args[0], args[1]
	default:
		return a, "name exactly one object (kind/name)"
	}
	res, ok := resourceOf[strings.ToLower(kind)]
	if !ok {
		return a, fmt.Sprintf("%s cannot act on %q", a.Kind, kind)
	}
	a.Resource, a.Name = res, name
	a.Namespace = c.Namespace
	if a.Namespace == "" {
		a.Namespace = defaultNS
	}
	if a.Namespace == "" {
		return a, "no namespace: neither the command (-n) nor the alert names one"
	}
	if a.Kind == remediate.RolloutUndo && a.ToRevision == 0 {
		// Resolved from the live ReplicaSets; validate the rest with a
		// placeholder.
		probe := a
		probe.ToRevision = 1
		if err := probe.Validate(); err != nil {
			return a, err.Error()
		}
		return a, ""
	}
	if err := a.Validate(); err != nil {
		return a, err.Error()
	}
	return a, ""
}
