// Package kubecontext gathers what an engineer would look at first when an
// alert fires, with read-only Kubernetes calls (get, list; never Secrets):
// the pod's status and last termination, its events and its owners',
// the owner chain and the latest rollout, node conditions, and container
// logs (current and previous) selected by evidence within a budget.
//
// It needs only a kubernetes.Interface: a client from a kubeconfig or the
// in-cluster config, or a fake in tests. Every failure (forbidden, not
// found, API down) is reported in Result.Unavailable with its reason and
// never stops the rest.
package kubecontext

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/foresight-aiops/foresight/enrich/logselect"
)

// Options bound what is gathered. Zero values take the defaults.
type Options struct {
	// LogBytes and LogLines bound what is read of one container log
	// (LimitBytes and TailLines of the log request); 0 means 256 KiB and
	// 5,000 lines.
	LogBytes, LogLines int64
	// Events is the most events kept per object; 0 means 10.
	Events int
	// CallTimeout bounds each API call; 0 means 10 s.
	CallTimeout time.Duration
}

// Section is one piece of gathered context. Data sections (logs, events)
// hold text from the cluster and are quoted as data in the prompt.
type Section struct {
	Title string
	Body  string
	// Log marks a log to be cut to the budget by evidence.
	Log []string
}

// Unavailable is context that could not be gathered.
type Unavailable struct {
	Source string // pod, events, logs, owner, node, rollout, cluster
	Reason string // forbidden, not_found, unreachable, no_cluster, error
	Detail string
}

func (u Unavailable) String() string { return fmt.Sprintf("%s: %s (%s)", u.Source, u.Reason, u.Detail) }

// Result is what Gather found.
type Result struct {
	Sections    []Section
	Unavailable []Unavailable
	// Objects are the objects met on the way, by kind ("node",
	// "replicaset", "deployment"...): names to anonymise beyond the
	// alert's labels.
	Objects map[string][]string
}

func (r *Result) met(kind, name string) {
	if name == "" {
		return
	}
	if r.Objects == nil {
		r.Objects = map[string][]string{}
	}
	r.Objects[kind] = append(r.Objects[kind], name)
}

// Gatherer reads context from one cluster.
type Gatherer struct {
	client kubernetes.Interface
	o      Options
}

// New returns a gatherer over client; client nil means no cluster access,
// reported as unavailable context.
func New(client kubernetes.Interface, o Options) *Gatherer {
	if o.LogBytes <= 0 {
		o.LogBytes = 256 << 10
	}
	if o.LogLines <= 0 {
		o.LogLines = 5000
	}
	if o.Events <= 0 {
		o.Events = 10
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	return &Gatherer{client: client, o: o}
}

// Gather collects the context the alert's labels point to: namespace,
// pod, container, node, and the workload labels of kube-state-metrics
// (deployment, statefulset, daemonset).
func (g *Gatherer) Gather(ctx context.Context, labels map[string]string) Result {
	var r Result
	if g.client == nil {
		r.Unavailable = append(r.Unavailable, Unavailable{"cluster", "no_cluster", "no kubeconfig or in-cluster config: context from the alert only"})
		return r
	}
	ns := labels["namespace"]
	if pod := labels["pod"]; pod != "" && ns != "" {
		g.pod(ctx, &r, ns, pod, labels["container"])
	} else if ns != "" {
		for _, kind := range []string{"deployment", "statefulset", "daemonset"} {
			if name := labels[kind]; name != "" {
				g.workload(ctx, &r, ns, kind, name)
			}
		}
	}
	if node := labels["node"]; node != "" {
		g.node(ctx, &r, node)
	}
	return r
}

// reason classifies an API error for Unavailable.
func reason(err error) string {
	var ne net.Error
	switch {
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return "forbidden"
	case apierrors.IsNotFound(err):
		return "not_found"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err), apierrors.IsServiceUnavailable(err):
		return "unreachable"
	}
	return "error"
}

func (r *Result) missing(source string, err error) {
	r.Unavailable = append(r.Unavailable, Unavailable{source, reason(err), err.Error()})
}

func (g *Gatherer) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.o.CallTimeout)
}

func (g *Gatherer) pod(ctx context.Context, r *Result, ns, name, container string) {
	cctx, cancel := g.call(ctx)
	pod, err := g.client.CoreV1().Pods(ns).Get(cctx, name, metav1.GetOptions{})
	cancel()
	if err != nil {
		r.missing("pod", err)
		g.events(ctx, r, ns, "Pod", name)
		return
	}
	r.Sections = append(r.Sections, Section{Title: fmt.Sprintf("pod %s/%s status", ns, name), Body: podStatus(pod)})
	r.met("node", pod.Spec.NodeName)
	for _, c := range pod.Spec.Containers {
		r.met("container", c.Name)
	}
	for _, o := range pod.OwnerReferences {
		r.met(strings.ToLower(o.Kind), o.Name)
	}
	g.events(ctx, r, ns, "Pod", name)
	g.owners(ctx, r, ns, pod.OwnerReferences)
	if pod.Spec.NodeName != "" && pod.Status.Phase != corev1.PodRunning {
		g.node(ctx, r, pod.Spec.NodeName)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if container != "" && cs.Name != container {
			continue
		}
		g.logs(ctx, r, ns, name, cs.Name, false)
		if cs.RestartCount > 0 || cs.LastTerminationState.Terminated != nil {
			g.logs(ctx, r, ns, name, cs.Name, true)
		}
	}
}

func podStatus(p *corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase: %s", p.Status.Phase)
	if p.Status.Reason != "" {
		fmt.Fprintf(&b, " (%s: %s)", p.Status.Reason, p.Status.Message)
	}
	fmt.Fprintf(&b, "\nnode: %s\n", p.Spec.NodeName)
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			fmt.Fprintf(&b, "condition %s=%s %s %s\n", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	images := map[string]string{}
	for _, c := range p.Spec.Containers {
		images[c.Name] = c.Image
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, "container %s: image %s, ready=%t, restarts=%d", cs.Name, images[cs.Name], cs.Ready, cs.RestartCount)
		switch s := cs.State; {
		case s.Waiting != nil:
			fmt.Fprintf(&b, ", waiting: %s %s", s.Waiting.Reason, s.Waiting.Message)
		case s.Terminated != nil:
			fmt.Fprintf(&b, ", terminated: %s exit code %d %s", s.Terminated.Reason, s.Terminated.ExitCode, s.Terminated.Message)
		case s.Running != nil:
			fmt.Fprintf(&b, ", running since %s", s.Running.StartedAt.UTC().Format(time.RFC3339))
		}
		if t := cs.LastTerminationState.Terminated; t != nil {
			fmt.Fprintf(&b, "; last termination: %s, exit code %d, at %s", t.Reason, t.ExitCode, t.FinishedAt.UTC().Format(time.RFC3339))
			if t.Message != "" {
				fmt.Fprintf(&b, " (%s)", t.Message)
			}
		}
		b.WriteByte('\n')
	}
	for _, c := range p.Spec.Containers {
		if l := c.Resources.Limits; len(l) > 0 {
			fmt.Fprintf(&b, "container %s limits: cpu=%s memory=%s\n", c.Name, l.Cpu(), l.Memory())
		}
	}
	return b.String()
}

func (g *Gatherer) events(ctx context.Context, r *Result, ns, kind, name string) {
	cctx, cancel := g.call(ctx)
	defer cancel()
	sel := fields.Set{"involvedObject.kind": kind, "involvedObject.name": name}.AsSelector().String()
	list, err := g.client.CoreV1().Events(ns).List(cctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		r.missing("events", err)
		return
	}
	evs := list.Items
	// The fake clientset ignores field selectors; the filter costs nothing
	// against a real API server.
	evs = filterEvents(evs, kind, name)
	if len(evs) == 0 {
		return
	}
	sort.Slice(evs, func(i, j int) bool { return eventTime(evs[i]).Before(eventTime(evs[j])) })
	if len(evs) > g.o.Events {
		evs = evs[len(evs)-g.o.Events:]
	}
	lines := make([]string, len(evs))
	for i, e := range evs {
		lines[i] = fmt.Sprintf("%s %s %s (x%d): %s", eventTime(e).UTC().Format(time.RFC3339), e.Type, e.Reason, max(e.Count, 1), e.Message)
	}
	r.Sections = append(r.Sections, Section{Title: fmt.Sprintf("events of %s %s/%s", strings.ToLower(kind), ns, name), Body: strings.Join(lines, "\n")})
}

func filterEvents(evs []corev1.Event, kind, name string) []corev1.Event {
	out := evs[:0:0]
	for _, e := range evs {
		if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func eventTime(e corev1.Event) time.Time {
	for _, t := range []time.Time{e.LastTimestamp.Time, e.EventTime.Time, e.FirstTimestamp.Time, e.CreationTimestamp.Time} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// owners follows the owner chain (ReplicaSet -> Deployment, Job ->
// CronJob), with the events of each owner and the latest rollout.
func (g *Gatherer) owners(ctx context.Context, r *Result, ns string, refs []metav1.OwnerReference) {
	for _, ref := range refs {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		switch ref.Kind {
		case "ReplicaSet":
			cctx, cancel := g.call(ctx)
			rs, err := g.client.AppsV1().ReplicaSets(ns).Get(cctx, ref.Name, metav1.GetOptions{})
			cancel()
			if err != nil {
				r.missing("owner", err)
				continue
			}
			r.Sections = append(r.Sections, Section{Title: "owner", Body: fmt.Sprintf("ReplicaSet %s (revision %s, %d/%d ready)", rs.Name,
				rs.Annotations["deployment.kubernetes.io/revision"], rs.Status.ReadyReplicas, rs.Status.Replicas)})
			g.events(ctx, r, ns, "ReplicaSet", rs.Name)
			for _, o := range rs.OwnerReferences {
				r.met(strings.ToLower(o.Kind), o.Name)
				if o.Kind == "Deployment" {
					g.workload(ctx, r, ns, "deployment", o.Name)
				}
			}
		case "StatefulSet", "DaemonSet", "Job":
			r.Sections = append(r.Sections, Section{Title: "owner", Body: ref.Kind + " " + ref.Name})
			g.events(ctx, r, ns, ref.Kind, ref.Name)
		}
	}
}

// workload describes a workload; for a Deployment, the latest rollout:
// the newest ReplicaSets' revisions and images.
func (g *Gatherer) workload(ctx context.Context, r *Result, ns, kind, name string) {
	cctx, cancel := g.call(ctx)
	defer cancel()
	switch kind {
	case "deployment":
		d, err := g.client.AppsV1().Deployments(ns).Get(cctx, name, metav1.GetOptions{})
		if err != nil {
			r.missing("owner", err)
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Deployment %s: revision %s, replicas %d desired, %d updated, %d ready, %d unavailable\n", name,
			d.Annotations["deployment.kubernetes.io/revision"], ptrOr(d.Spec.Replicas, 1), d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.UnavailableReplicas)
		for _, c := range d.Status.Conditions {
			fmt.Fprintf(&b, "condition %s=%s %s: %s\n", c.Type, c.Status, c.Reason, c.Message)
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err == nil {
			rsl, err := g.client.AppsV1().ReplicaSets(ns).List(cctx, metav1.ListOptions{LabelSelector: sel.String()})
			if err != nil {
				r.missing("rollout", err)
			} else {
				type rev struct {
					n       string
					created time.Time
					images  []string
				}
				var revs []rev
				for _, rs := range rsl.Items {
					var imgs []string
					for _, c := range rs.Spec.Template.Spec.Containers {
						imgs = append(imgs, c.Name+"="+c.Image)
					}
					revs = append(revs, rev{rs.Annotations["deployment.kubernetes.io/revision"], rs.CreationTimestamp.Time, imgs})
				}
				sort.Slice(revs, func(i, j int) bool { return revs[i].created.After(revs[j].created) })
				for i, v := range revs {
					if i == 2 {
						break
					}
					fmt.Fprintf(&b, "rollout revision %s created %s: %s\n", v.n, v.created.UTC().Format(time.RFC3339), strings.Join(v.images, ", "))
				}
			}
		}
		r.Sections = append(r.Sections, Section{Title: "deployment " + ns + "/" + name, Body: b.String()})
		g.events(ctx, r, ns, "Deployment", name)
	case "statefulset":
		s, err := g.client.AppsV1().StatefulSets(ns).Get(cctx, name, metav1.GetOptions{})
		if err != nil {
			r.missing("owner", err)
			return
		}
		r.Sections = append(r.Sections, Section{Title: "statefulset " + ns + "/" + name, Body: fmt.Sprintf("StatefulSet %s: %d desired, %d ready, current revision %s, update revision %s",
			name, ptrOr(s.Spec.Replicas, 1), s.Status.ReadyReplicas, s.Status.CurrentRevision, s.Status.UpdateRevision)})
		g.events(ctx, r, ns, "StatefulSet", name)
	case "daemonset":
		s, err := g.client.AppsV1().DaemonSets(ns).Get(cctx, name, metav1.GetOptions{})
		if err != nil {
			r.missing("owner", err)
			return
		}
		r.Sections = append(r.Sections, Section{Title: "daemonset " + ns + "/" + name, Body: fmt.Sprintf("DaemonSet %s: %d desired, %d ready, %d unavailable",
			name, s.Status.DesiredNumberScheduled, s.Status.NumberReady, s.Status.NumberUnavailable)})
		g.events(ctx, r, ns, "DaemonSet", name)
	}
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func (g *Gatherer) node(ctx context.Context, r *Result, name string) {
	cctx, cancel := g.call(ctx)
	n, err := g.client.CoreV1().Nodes().Get(cctx, name, metav1.GetOptions{})
	cancel()
	if err != nil {
		r.missing("node", err)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "node %s: unschedulable=%t\n", name, n.Spec.Unschedulable)
	for _, c := range n.Status.Conditions {
		fmt.Fprintf(&b, "condition %s=%s %s: %s (since %s)\n", c.Type, c.Status, c.Reason, c.Message, c.LastTransitionTime.UTC().Format(time.RFC3339))
	}
	r.Sections = append(r.Sections, Section{Title: "node " + name, Body: b.String()})
	g.events(ctx, r, "", "Node", name)
}

func (g *Gatherer) logs(ctx context.Context, r *Result, ns, pod, container string, previous bool) {
	cctx, cancel := g.call(ctx)
	defer cancel()
	opts := &corev1.PodLogOptions{Container: container, Previous: previous, TailLines: &g.o.LogLines, LimitBytes: &g.o.LogBytes, Timestamps: false}
	rc, err := g.client.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(cctx)
	which := "current"
	if previous {
		which = "previous"
	}
	if err != nil {
		r.missing("logs", fmt.Errorf("%s log of %s/%s: %w", which, pod, container, err))
		return
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, g.o.LogBytes))
	if err != nil && len(b) == 0 {
		r.missing("logs", fmt.Errorf("%s log of %s/%s: %w", which, pod, container, err))
		return
	}
	text := strings.TrimRight(string(b), "\n")
	if text == "" {
		// Say so: an empty log is a fact for the model (the container
		// printed nothing, or never ran: a pod on no node has no log).
		r.Unavailable = append(r.Unavailable, Unavailable{
			"logs", "empty",
			fmt.Sprintf("the %s log of %s/%s is empty", which, pod, container),
		})
		return
	}
	r.Sections = append(r.Sections, Section{Title: fmt.Sprintf("%s log of container %s", which, container), Log: strings.Split(text, "\n")})
}

// Render prints the result for a prompt within budget tokens: non-log
// sections whole (each cut to a share of the budget), then the logs, each
// cut by evidence to an equal share of what is left. Cluster text is quoted
// between <<<DATA and DATA>>> lines, and the prompt says such text is data.
func Render(r Result, budget int) string {
	var b strings.Builder
	var logs []Section
	for _, s := range r.Sections {
		if s.Log != nil {
			logs = append(logs, s)
			continue
		}
		body := s.Body
		if limit := budget / 4 * 3; logselect.EstimateTokens(body) > budget/4 && limit > 0 {
			body = body[:min(len(body), limit)] + "…"
		}
		writeData(&b, s.Title, body)
	}
	left := budget - logselect.EstimateTokens(b.String())
	for i, s := range logs {
		share := left / (len(logs) - i)
		sel := logselect.Select(s.Log, share-20, logselect.Options{})
		var lb strings.Builder
		writeData(&lb, fmt.Sprintf("%s (%d lines, evidence first, repeats folded)", s.Title, len(s.Log)), strings.TrimRight(sel.String(), "\n"))
		left -= logselect.EstimateTokens(lb.String())
		b.WriteString(lb.String())
	}
	return b.String()
}

func writeData(b *strings.Builder, title, body string) {
	// A log line cannot close the quote early: the delimiter is escaped.
	body = strings.ReplaceAll(body, "DATA>>>", "DATA> >>")
	fmt.Fprintf(b, "### %s\n<<<DATA\n%s\nDATA>>>\n", title, body)
}
