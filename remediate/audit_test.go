package remediate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// TestAuditJSONLines records entries from many goroutines and reads them
// back: one valid JSON object per line, none interleaved or lost.
func TestAuditJSONLines(t *testing.T) {
	var buf bytes.Buffer
	reg := prometheus.NewRegistry()
	a := NewAudit(&buf, nil, nil, reg)
	undo := Action{Kind: RolloutUndo, Resource: Deployments, Namespace: "shop", Name: "web", ToRevision: 3}
	at := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a.Record(t.Context(), Entry{
				Time: at, Event: EventExecuted, ProposalID: fmt.Sprintf("p%03d", i), Action: undo,
				Actor: "slack:U1 (alice)", Via: "slack", Message: strings.Repeat("x", 5000),
			})
		})
	}
	wg.Wait()
	a.Record(t.Context(), Entry{Event: EventRefused, ProposalID: "last", Action: undo, Actor: "link:bob", Reason: ReasonDrifted, Message: "revision 4, not 3"})

	seen := map[string]bool{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	var last Entry
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", len(seen)+1, err, sc.Bytes())
		}
		seen[e.ProposalID] = true
		last = e
	}
	if len(seen) != n+1 {
		t.Fatalf("%d distinct entries, want %d", len(seen), n+1)
	}
	if last.Command != "kubectl rollout undo deployment/web --to-revision=3 -n shop" || last.Time.IsZero() ||
		last.Reason != ReasonDrifted || last.Actor != "link:bob" || last.Action.ToRevision != 3 {
		t.Errorf("last entry %+v: the command and time are filled in, the rest kept", last)
	}
	if got := testutil.ToFloat64(a.metrics.entries.WithLabelValues(EventExecuted)); got != n {
		t.Errorf("entries_total{event=executed} = %v, want %d", got, n)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestAuditWriteFailure: a failing writer is counted and logged, never
// panics, and a nil Audit records nothing.
func TestAuditWriteFailure(t *testing.T) {
	var logs bytes.Buffer
	a := NewAudit(failingWriter{}, nil, slogTo(&logs), nil)
	a.Record(t.Context(), Entry{Event: EventExecuted, ProposalID: "p1", Action: Action{Kind: Cordon, Resource: Nodes, Name: "n1"}})
	if got := testutil.ToFloat64(a.metrics.writeFailures); got != 1 {
		t.Errorf("write failures %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "no space left on device") || !strings.Contains(logs.String(), "check the --audit-log destination") {
		t.Errorf("log %q", logs.String())
	}
	NewAudit(nil, nil, nil, nil).Record(t.Context(), Entry{Event: EventProposed}) // no writer: counted, no panic
	var none *Audit
	none.Record(t.Context(), Entry{Event: EventProposed})
}

// TestAuditEventFor checks the Kubernetes Event built for each entry:
// regarding the object, Node events in "default", Warning for refusals
// and failures, the note saying who approved what and what came of it.
func TestAuditEventFor(t *testing.T) {
	a := NewAudit(&bytes.Buffer{}, nil, nil, nil)
	at := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		e                       Entry
		ns, kind, reason, typ   string
		note                    string
		regardingNS, apiVersion string
	}{
		{
			Entry{
				Time: at, Event: EventRefused, ProposalID: "p1", Actor: "slack:U1 (alice)", Via: "slack", Reason: ReasonGate, Message: "the cluster was not stable",
				Action: Action{Kind: Cordon, Resource: Nodes, Name: "n1", Observed: Observed{UID: "u-1"}},
			},
			"default", "Node", "RemediationRefused", corev1.EventTypeWarning,
			`"kubectl cordon n1" approved by slack:U1 (alice) via slack was refused (gate_timeout): the cluster was not stable [proposal p1]`, "", "v1",
		},
		{
			Entry{
				Time: at, Event: EventExecuted, ProposalID: "p2", Actor: "link:bob", Via: "link", Message: "rolled back deployment shop/web to revision 3",
				Action: Action{Kind: RolloutUndo, Resource: Deployments, Namespace: "shop", Name: "web", ToRevision: 3},
			},
			"shop", "Deployment", "RemediationExecuted", corev1.EventTypeNormal,
			`"kubectl rollout undo deployment/web --to-revision=3 -n shop" approved by link:bob via link was executed: rolled back deployment shop/web to revision 3 [proposal p2]`, "shop", "apps/v1",
		},
		{
			Entry{
				Time: at, Event: EventProposed, ProposalID: "p3", Actor: "foresight-enrich",
				Action: Action{Kind: Evict, Resource: Pods, Namespace: "shop", Name: "web-1"},
			},
			"shop", "Pod", "RemediationProposed", corev1.EventTypeNormal,
			`foresight-enrich proposed "kubectl evict pod/web-1 -n shop (Eviction API)" [proposal p3]`, "shop", "v1",
		},
	} {
		c.e.Command = c.e.Action.String()
		ev := a.eventFor(c.e)
		if ev.Namespace != c.ns || ev.Regarding.Kind != c.kind || ev.Regarding.Namespace != c.regardingNS || ev.Regarding.APIVersion != c.apiVersion ||
			ev.Regarding.Name != c.e.Action.Name || string(ev.Regarding.UID) != c.e.Action.Observed.UID {
			t.Errorf("%s: event in %q regarding %+v", c.e.Event, ev.Namespace, ev.Regarding)
		}
		if ev.Reason != c.reason || ev.Type != c.typ || ev.Note != c.note {
			t.Errorf("%s: reason %q type %q note %q\nwant %q %q %q", c.e.Event, ev.Reason, ev.Type, ev.Note, c.reason, c.typ, c.note)
		}
		if ev.ReportingController != ReportingController || ev.ReportingInstance == "" || ev.Action != string(c.e.Action.Kind) ||
			!ev.EventTime.Time.Equal(at) || !strings.HasPrefix(ev.Name, c.e.Action.Name+".") {
			t.Errorf("%s: event %+v", c.e.Event, ev.ObjectMeta)
		}
	}
	same := Entry{Time: at, Event: EventWaiting, Action: Action{Kind: Cordon, Resource: Nodes, Name: "n1"}}
	if n1, n2 := a.eventFor(same).Name, a.eventFor(same).Name; n1 == n2 {
		t.Error("two entries at the same time get the same Event name")
	}
	for _, c := range []struct {
		a    Action
		want bool
	}{
		{Action{Kind: Cordon, Resource: Nodes, Name: "n1"}, true},
		{Action{Kind: Evict, Resource: Pods, Namespace: "shop", Name: "web-1"}, true},
		{Action{Kind: "drain", Resource: "machines", Name: "n1"}, false},
		{Action{Kind: Evict, Resource: Pods, Namespace: "Shop!", Name: "web-1"}, false},
		{Action{Kind: Evict, Resource: Pods, Namespace: "shop"}, false},
	} {
		if got := regardable(c.a); got != c.want {
			t.Errorf("regardable(%+v) = %v", c.a, got)
		}
	}
	long := a.eventFor(Entry{Time: at, Event: EventFailed, Message: strings.Repeat("é", 2000), Action: Action{Kind: Cordon, Resource: Nodes, Name: "n1"}})
	if len(long.Note) > noteLimit || !strings.HasSuffix(long.Note, "…") || !strings.Contains(long.Note, "failed") {
		t.Errorf("a long note is %d bytes: %q...", len(long.Note), long.Note[:40])
	}
}

// TestAuditEventsInTheBackground: Record writes the JSON line and returns
// without waiting for the API server (Slack gives an interaction 3
// seconds); Close waits for the Events still being created, or gives up
// with its context. The old Record created the Event before returning.
func TestAuditEventsInTheBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := fake.NewClientset()
		release := make(chan struct{})
		cs.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
			<-release // a hanging API server
			return false, nil, nil
		})
		var buf bytes.Buffer
		a := NewAudit(&buf, cs, nil, nil)
		t0 := time.Now()
		a.Record(t.Context(), Entry{Event: EventApproved, ProposalID: "p1", Actor: "slack:U1", Action: Action{Kind: Cordon, Resource: Nodes, Name: "n1"}})
		if time.Since(t0) != 0 || !strings.Contains(buf.String(), `"proposalId":"p1"`) {
			t.Errorf("Record took %s; line %q", time.Since(t0), buf.String())
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := a.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close with an Event hanging: %v", err)
		}
		close(release)
		if err := a.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		evs, err := cs.EventsV1().Events("default").List(t.Context(), metav1.ListOptions{})
		if err != nil || len(evs.Items) != 1 || evs.Items[0].Reason != "RemediationApproved" {
			t.Fatalf("Events after Close: %+v, %v", evs, err)
		}
		// After Close, Record creates the Event before it returns.
		a.Record(t.Context(), Entry{Event: EventExecuted, ProposalID: "p1", Actor: "slack:U1", Action: Action{Kind: Cordon, Resource: Nodes, Name: "n1"}})
		if evs, _ := cs.EventsV1().Events("default").List(t.Context(), metav1.ListOptions{}); len(evs.Items) != 2 {
			t.Errorf("%d Events after a Record after Close, want 2", len(evs.Items))
		}
	})
}

// TestAuditUnknownResultEvent: a write whose answer was lost gets its own
// Event reason, which the executor's recall counts as an execution.
func TestAuditUnknownResultEvent(t *testing.T) {
	a := NewAudit(&bytes.Buffer{}, nil, nil, nil)
	ev := a.eventFor(Entry{Time: time.Now(), Event: EventFailed, Reason: ReasonUnknownResult, Actor: "link:bob", Command: "kubectl cordon n1", Action: cordon("n1")})
	if ev.Reason != unknownResultReason || ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Note, "may have been applied") {
		t.Errorf("%s %s %q", ev.Reason, ev.Type, ev.Note)
	}
}
