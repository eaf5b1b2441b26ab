package remediate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestExecuteRefusesBeforeTouchingTheCluster: approvals that are malformed
// are refused, audited and counted without a single API call (the
// executor has no client at all here). The Kubernetes paths are proved on
// a real API server in e2e/controlplane (TestRemediate).
func TestExecuteRefusesBeforeTouchingTheCluster(t *testing.T) {
	cfg, err := Parse(strings.NewReader("allow: [{action: cordon}]\nbudgets: {cordon: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var audit, logs bytes.Buffer
	reg := prometheus.NewRegistry()
	e := NewExecutor(nil, cfg, ExecutorOptions{Audit: NewAudit(&audit, nil, nil, nil), Registerer: reg, Logger: slogTo(&logs)})
	for _, c := range []struct {
		name string
		ap   Approval
		msg  string
	}{
		{"no approver", Approval{ProposalID: "p1", Action: Action{Kind: Cordon, Resource: Nodes, Name: "n1"}}, "the approval names no approver"},
		{"malformed", Approval{ProposalID: "p2", Approver: "slack:U1", Action: Action{Kind: Cordon, Resource: Pods, Namespace: "x", Name: "n1"}}, `cordon cannot target "pods"`},
		{"unknown kind", Approval{ProposalID: "p3", Approver: "slack:U1", Action: Action{Kind: "drain", Resource: Nodes, Name: "n1"}}, `unknown action "drain"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.Execute(t.Context(), c.ap)
			if r.Outcome != OutcomeRefused || r.Reason != ReasonInvalid || !strings.Contains(r.Message, c.msg) {
				t.Errorf("result %+v, want refused/invalid with %q", r, c.msg)
			}
		})
	}
	lines := strings.Split(strings.TrimSpace(audit.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d audit lines, want 3:\n%s", len(lines), audit.String())
	}
	var last Entry
	if err := json.Unmarshal([]byte(lines[2]), &last); err != nil || last.Event != EventRefused || last.Reason != ReasonInvalid || last.Actor != "slack:U1" {
		t.Errorf("audit line %s: %v", lines[2], err)
	}
	// The unknown kind is counted as "unknown": never a label value from
	// outside.
	if got := testutil.ToFloat64(e.metrics.actions.WithLabelValues("unknown", OutcomeRefused, ReasonInvalid)); got != 1 {
		t.Errorf("actions_total{kind=unknown} = %v", got)
	}
	if got := testutil.ToFloat64(e.metrics.actions.WithLabelValues(string(Cordon), OutcomeRefused, ReasonInvalid)); got != 2 {
		t.Errorf("actions_total{kind=cordon,outcome=refused,reason=invalid} = %v", got)
	}
	if !strings.Contains(logs.String(), "approver=slack:U1") || !strings.Contains(logs.String(), "reason=invalid") {
		t.Errorf("log %q", logs.String())
	}
	// Every metric the issue names is exported, budgets at their limits.
	n, err := testutil.GatherAndCount(reg, "foresight_remediation_budget_remaining", "foresight_remediation_gate_waiting", "foresight_remediation_gate_in_flight")
	if err != nil || n != len(Kinds)+2 {
		t.Errorf("%d series: %v", n, err)
	}
	want := `
# HELP foresight_remediation_budget_remaining Executions of each action kind still allowed in the sliding hour (the budgets of the remediation config).
# TYPE foresight_remediation_budget_remaining gauge
foresight_remediation_budget_remaining{kind="cordon"} 3
foresight_remediation_budget_remaining{kind="evict"} 10
foresight_remediation_budget_remaining{kind="rollout-restart"} 10
foresight_remediation_budget_remaining{kind="rollout-undo"} 5
foresight_remediation_budget_remaining{kind="scale"} 10
foresight_remediation_budget_remaining{kind="uncordon"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "foresight_remediation_budget_remaining"); err != nil {
		t.Error(err)
	}
}

// TestAPIErrorNamesTheRule: a stability check the RBAC forbids says which
// rule to grant (it ends up in the gate's timeout message).
func TestAPIErrorNamesTheRule(t *testing.T) {
	err := &apiError{
		rule: rule{"policy", "poddisruptionbudgets", "list", ""}, what: "list PodDisruptionBudgets",
		err: apierrors.NewForbidden(schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"}, "", errors.New("RBAC: access denied")),
	}
	if want := `grant the approver's ServiceAccount the RBAC rule {apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["list"]} (a ClusterRole`; !strings.Contains(err.Error(), want) {
		t.Errorf("%q lacks %q", err, want)
	}
	if r := refusalFromAPI(Action{Kind: Evict, Resource: Pods, Namespace: "shop", Name: "p"}, rule{"", "pods/eviction", "create", "shop"},
		apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)); r == nil || r.Reason != ReasonPDBBlocked {
		t.Errorf("a 429 on an eviction: %+v, want pdb_blocked", r)
	}
	if r := refusalFromAPI(Action{Kind: Scale, Resource: Deployments, Namespace: "shop", Name: "web"}, rule{},
		apierrors.NewTooManyRequests("slow down", 1)); r != nil {
		t.Errorf("a 429 on a scale is no PDB: %+v", r)
	}
}

// TestKeyedLock: executions on one object never interleave; other objects
// are not held up; a waiter gives up with its context.
func TestKeyedLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l keyedLock
		var mu sync.Mutex
		inside := map[string]int{}
		var wg sync.WaitGroup
		for _, key := range []string{"a", "a", "a", "b"} {
			wg.Go(func() {
				unlock, err := l.lock(t.Context(), key)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inside[key]++
				if inside[key] > 1 {
					t.Errorf("two executions on %s at once", key)
				}
				mu.Unlock()
				time.Sleep(time.Second)
				mu.Lock()
				inside[key]--
				mu.Unlock()
				unlock()
			})
		}
		start := time.Now()
		wg.Wait()
		if got := time.Since(start); got != 3*time.Second {
			t.Errorf("three executions on a, one on b took %s, want 3s", got)
		}
		unlock, _ := l.lock(t.Context(), "a")
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := l.lock(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a held lock: %v", err)
		}
		unlock()
		if len(l.m) != 0 {
			t.Errorf("%d keys left", len(l.m))
		}
	})
}
