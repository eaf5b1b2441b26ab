package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// ReportingController is the reportingController of the approver's
// Kubernetes Events (kubectl get events --field-selector
// reportingComponent=foresight.io/approver).
const ReportingController = "foresight.io/approver"

// eventTimeout bounds the creation of one Kubernetes Event: the audit
// never holds an execution up for long on a slow API server.
const eventTimeout = 5 * time.Second

// noteLimit is the API server's limit on an Event's note (1 kB).
const noteLimit = 1024

// Audit records every proposal, approval, refusal and execution twice: as
// one JSON line on its writer (the record of truth, written before Record
// returns), and as a Kubernetes Event on the object acted on (best
// effort, so that `kubectl describe` shows who did what to it, created in
// the background so that Record never waits for the API server; Close
// waits for those still being created). A failure of either is logged and
// counted, never returned: auditing must not stop a refusal from being
// reported.
type Audit struct {
	mu sync.Mutex
	w  io.Writer

	// pending tracks the Events being created; after Close they are
	// created synchronously.
	pendingMu sync.RWMutex
	pending   sync.WaitGroup
	closed    bool

	client   kubernetes.Interface
	logger   *slog.Logger
	metrics  *auditMetrics
	instance string
	now      func() time.Time
	seq      atomic.Uint64
}

// NewAudit writes JSON lines to w and, if client is not nil, Events
// through client. Nil logger and registerer are accepted.
func NewAudit(w io.Writer, client kubernetes.Interface, logger *slog.Logger, reg prometheus.Registerer) *Audit {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "foresight-approver"
	}
	if len(host) > 128 {
		host = host[:128]
	}
	return &Audit{w: w, client: client, logger: logger, metrics: newAuditMetrics(reg), instance: host, now: time.Now}
}

// Record writes e as one JSON line and starts creating its Event. A zero
// Time is set to now and an empty Command to e.Action.String(). It never
// panics and returns without waiting for the API server (after Close,
// within about eventTimeout).
func (a *Audit) Record(ctx context.Context, e Entry) {
	if a == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = a.now()
	}
	if e.Command == "" {
		e.Command = e.Action.String()
	}
	a.metrics.entries.WithLabelValues(e.Event).Inc()
	a.writeLine(ctx, e)
	if a.client == nil || !regardable(e.Action) {
		return
	}
	a.pendingMu.RLock()
	defer a.pendingMu.RUnlock()
	if a.closed {
		a.event(ctx, e)
		return
	}
	ctx = context.WithoutCancel(ctx)
	a.pending.Go(func() { a.event(ctx, e) })
}

// Close waits until the Events being created are (each within
// eventTimeout), or until ctx ends: call it at shutdown, after the last
// execution. Events recorded after Close are created before Record
// returns. It returns ctx's error if it gave up waiting.
func (a *Audit) Close(ctx context.Context) error {
	if a == nil {
		return nil
	}
	a.pendingMu.Lock()
	a.closed = true
	a.pendingMu.Unlock()
	done := make(chan struct{})
	go func() {
		a.pending.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: Kubernetes Events still being created at shutdown (their JSON lines were written): %w", ctx.Err())
	}
}

func (a *Audit) writeLine(ctx context.Context, e Entry) {
	b, err := json.Marshal(e)
	if err == nil {
		b = append(b, '\n')
		a.mu.Lock()
		if a.w == nil {
			err = errors.New("no audit writer")
		} else {
			_, err = a.w.Write(b)
		}
		a.mu.Unlock()
	}
	if err != nil {
		a.metrics.writeFailures.Inc()
		a.logger.ErrorContext(ctx, "audit log: the entry could not be written; check the --audit-log destination (disk full, closed pipe?)",
			"event", e.Event, "proposal", e.ProposalID, "command", e.Command, "err", err)
	}
}

// event creates the Kubernetes Event for e: regarding the object acted on
// (Node events live in namespace "default"), type Warning for refusals and
// failures.
func (a *Audit) event(ctx context.Context, e Entry) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventTimeout)
	defer cancel()
	ev := a.eventFor(e)
	if _, err := a.client.EventsV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		a.metrics.eventFailures.Inc()
		a.logger.WarnContext(ctx, "audit: the Kubernetes Event could not be created (the JSON line was written); the approver's ServiceAccount needs create on events.events.k8s.io",
			"event", e.Event, "proposal", e.ProposalID, "object", objectRef(e.Action), "err", err)
	}
}

func (a *Audit) eventFor(e Entry) *eventsv1.Event {
	ns := e.Action.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	typ := corev1.EventTypeNormal
	if e.Event == EventRefused || e.Event == EventFailed {
		typ = corev1.EventTypeWarning
	}
	reason := eventReason(e.Event)
	if e.Event == EventFailed && e.Reason == ReasonUnknownResult {
		reason = unknownResultReason
	}
	kind, apiVersion := kindOf(e.Action.Resource)
	name := e.Action.Name
	if len(name) > 200 {
		name = name[:200]
	}
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			// As client-go's recorders name Events (sorted by time), with a
			// sequence number: two entries may share a timestamp.
			Name:      fmt.Sprintf("%s.%x.%x", strings.TrimRight(name, ".-"), e.Time.UnixNano(), a.seq.Add(1)),
			Namespace: ns,
		},
		EventTime:           metav1.NewMicroTime(e.Time),
		ReportingController: ReportingController,
		ReportingInstance:   a.instance,
		Action:              string(e.Action.Kind),
		Reason:              reason,
		Regarding: corev1.ObjectReference{
			Kind: kind, APIVersion: apiVersion, Namespace: e.Action.Namespace, Name: e.Action.Name,
			UID: types.UID(e.Action.Observed.UID),
		},
		Note: truncate(note(e), noteLimit),
		Type: typ,
	}
}

// regardable reports whether a names an object an Event can regard: a
// malformed action (refused as invalid) has only its JSON line.
func regardable(a Action) bool {
	kind, _ := kindOf(a.Resource)
	return kind != "" && len(validation.IsDNS1123Subdomain(a.Name)) == 0 &&
		(a.Namespace == "" || len(validation.IsDNS1123Label(a.Namespace)) == 0)
}

// unknownResultReason is the Event reason of a failure with
// ReasonUnknownResult: the action may have been applied (the executor's
// recall counts it as executed).
const unknownResultReason = "RemediationUnknownResult"

// eventReason maps an audit event to an Event reason: "executed" ->
// "RemediationExecuted".
func eventReason(event string) string {
	if event == "" {
		return "Remediation"
	}
	return "Remediation" + string(event[0]-'a'+'A') + event[1:]
}

// note says who did what and what came of it, for `kubectl describe`.
func note(e Entry) string {
	actor := e.Actor
	if actor == "" {
		actor = "(unknown)"
	}
	via := ""
	if e.Via != "" {
		via = " via " + e.Via
	}
	var s string
	switch e.Event {
	case EventProposed:
		s = fmt.Sprintf("%s proposed %q", actor, e.Command)
	case EventApproved:
		s = fmt.Sprintf("%s approved %q%s", actor, e.Command, via)
	case EventRejected:
		s = fmt.Sprintf("%s rejected %q%s", actor, e.Command, via)
	case EventRefused:
		s = fmt.Sprintf("%q approved by %s%s was refused (%s)", e.Command, actor, via, e.Reason)
	case EventWaiting:
		s = fmt.Sprintf("%q approved by %s%s waits for the stability gate", e.Command, actor, via)
	case EventExecuted:
		s = fmt.Sprintf("%q approved by %s%s was executed", e.Command, actor, via)
	case EventFailed:
		if e.Reason == ReasonUnknownResult {
			s = fmt.Sprintf("%q approved by %s%s may have been applied (its answer was lost)", e.Command, actor, via)
		} else {
			s = fmt.Sprintf("%q approved by %s%s failed", e.Command, actor, via)
		}
	default:
		s = fmt.Sprintf("%s: %q by %s%s", e.Event, e.Command, actor, via)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.ProposalID != "" {
		s += " [proposal " + e.ProposalID + "]"
	}
	return s
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-len("…")]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// kindOf returns the Kind and apiVersion of a resource.
func kindOf(resource string) (kind, apiVersion string) {
	switch resource {
	case Deployments:
		return "Deployment", "apps/v1"
	case StatefulSets:
		return "StatefulSet", "apps/v1"
	case DaemonSets:
		return "DaemonSet", "apps/v1"
	case Nodes:
		return "Node", "v1"
	case Pods:
		return "Pod", "v1"
	}
	return "", ""
}

// objectRef names the object of a as a log value: "deployment shop/web",
// "node worker-1".
func objectRef(a Action) string {
	kind, _ := kindOf(a.Resource)
	if kind == "" {
		kind = a.Resource
	}
	if a.Namespace == "" {
		return strings.ToLower(kind) + " " + a.Name
	}
	return strings.ToLower(kind) + " " + a.Namespace + "/" + a.Name
}
