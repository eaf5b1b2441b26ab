// Package remediate executes the few fixes an operator may approve from an
// alert's notification: restart or undo a rollout, scale within bounds,
// cordon or uncordon a node, evict a pod. An action runs only if the
// allowlist (Config) names it for that object, a human approved it, the
// live object still matches what was proposed, a server-side dry run
// passes, the stability gate is open and the hourly budget is not spent.
//
// The enrichment side stays read-only: it only proposes. This package is
// the narrowly privileged half, run as its own Deployment and
// ServiceAccount (foresight approver).
package remediate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Kind names an action. The values are what the allowlist, the audit log
// and the metrics use.
type Kind string

// The allowlistable actions.
const (
	RolloutRestart Kind = "rollout-restart" // Deployment, StatefulSet, DaemonSet
	RolloutUndo    Kind = "rollout-undo"    // Deployment, to a named revision
	Scale          Kind = "scale"           // Deployment, StatefulSet, within bounds
	Cordon         Kind = "cordon"          // Node
	Uncordon       Kind = "uncordon"        // Node
	Evict          Kind = "evict"           // Pod, through the Eviction API
)

// Kinds lists every action kind, in a stable order.
var Kinds = []Kind{RolloutRestart, RolloutUndo, Scale, Cordon, Uncordon, Evict}

// Resources an action may target (canonical plurals, as kubectl and RBAC
// spell them).
const (
	Deployments  = "deployments"
	StatefulSets = "statefulsets"
	DaemonSets   = "daemonsets"
	Nodes        = "nodes"
	Pods         = "pods"
)

// resourcesOf lists the resources each kind may target.
var resourcesOf = map[Kind][]string{
	RolloutRestart: {Deployments, StatefulSets, DaemonSets},
	RolloutUndo:    {Deployments},
	Scale:          {Deployments, StatefulSets},
	Cordon:         {Nodes},
	Uncordon:       {Nodes},
	Evict:          {Pods},
}

// ResourcesOf returns the resources kind k may target (nil for an unknown
// kind).
func ResourcesOf(k Kind) []string { return resourcesOf[k] }

// Disruptive reports whether k takes capacity away from the cluster: a
// cordon or an eviction. At most one disruptive action is in flight
// cluster-wide (the stability gate). Uncordon gives capacity back; the
// rollout actions and scale act on one workload and are bounded by the
// hourly budget only.
func (k Kind) Disruptive() bool { return k == Cordon || k == Evict }

// Action is one concrete fix: what to do to which object, with the
// parameters fixed at proposal time.
type Action struct {
	Kind      Kind   `json:"kind"`
	Resource  string `json:"resource"`            // one of ResourcesOf(Kind)
	Namespace string `json:"namespace,omitempty"` // "" for nodes
	Name      string `json:"name"`
	// ToRevision is the revision a rollout-undo goes back to (the
	// deployment.kubernetes.io/revision annotation of its ReplicaSet).
	ToRevision int64 `json:"toRevision,omitempty"`
	// Replicas is the target of a scale.
	Replicas *int32 `json:"replicas,omitempty"`
	// Observed is the live state the proposal was made against; the
	// approver refuses to act if the object has drifted from it.
	Observed Observed `json:"observed,omitzero"`
}

// Observed is what a proposal saw of its object. Zero fields are not
// checked.
type Observed struct {
	UID string `json:"uid,omitempty"`
	// Revision is a Deployment's current revision when a rollout-undo was
	// proposed: if another rollout happened since, the undo is stale.
	Revision int64 `json:"revision,omitempty"`
	// TemplateHash is the pod-template-hash of the ReplicaSet at
	// ToRevision: if that ReplicaSet was replaced, the undo is stale.
	TemplateHash string `json:"templateHash,omitempty"`
	// Replicas is the spec.replicas a scale was proposed from.
	Replicas *int32 `json:"replicas,omitempty"`
}

// String renders a as the kubectl command an operator would type for it.
func (a Action) String() string {
	ns := ""
	if a.Namespace != "" {
		ns = " -n " + a.Namespace
	}
	obj := strings.TrimSuffix(a.Resource, "s") + "/" + a.Name
	switch a.Kind {
	case RolloutRestart:
		return "kubectl rollout restart " + obj + ns
	case RolloutUndo:
		return "kubectl rollout undo " + obj + " --to-revision=" + strconv.FormatInt(a.ToRevision, 10) + ns
	case Scale:
		r := "?"
		if a.Replicas != nil {
			r = strconv.Itoa(int(*a.Replicas))
		}
		return "kubectl scale " + obj + " --replicas=" + r + ns
	case Cordon, Uncordon:
		return "kubectl " + string(a.Kind) + " " + a.Name
	case Evict:
		return "kubectl evict " + obj + ns + " (Eviction API)"
	}
	return string(a.Kind) + " " + obj + ns
}

// Validate checks that a is well formed: a known kind, a resource it may
// target, valid names, and the parameters its kind needs. It does not
// consult the allowlist (Config.Check does).
func (a Action) Validate() error {
	res, ok := resourcesOf[a.Kind]
	if !ok {
		return fmt.Errorf("unknown action %q: use one of %s", a.Kind, kindList())
	}
	if !contains(res, a.Resource) {
		return fmt.Errorf("%s cannot target %q: it acts on %s", a.Kind, a.Resource, strings.Join(res, ", "))
	}
	if errs := validation.IsDNS1123Subdomain(a.Name); len(errs) > 0 {
		return fmt.Errorf("%s: object name %q: %s", a.Kind, a.Name, strings.Join(errs, "; "))
	}
	if a.Resource == Nodes {
		if a.Namespace != "" {
			return fmt.Errorf("%s: nodes have no namespace, got %q", a.Kind, a.Namespace)
		}
	} else if errs := validation.IsDNS1123Label(a.Namespace); len(errs) > 0 {
		return fmt.Errorf("%s: namespace %q: %s", a.Kind, a.Namespace, strings.Join(errs, "; "))
	}
	switch a.Kind {
	case RolloutUndo:
		if a.ToRevision < 1 {
			return errors.New("rollout-undo needs the revision to go back to (toRevision >= 1)")
		}
	case Scale:
		if a.Replicas == nil || *a.Replicas < 0 {
			return errors.New("scale needs a replica count >= 0")
		}
	}
	if a.Kind != RolloutUndo && a.ToRevision != 0 {
		return fmt.Errorf("%s takes no revision", a.Kind)
	}
	if a.Kind != Scale && a.Replicas != nil {
		return fmt.Errorf("%s takes no replica count", a.Kind)
	}
	return nil
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
