package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Annotations and labels the Deployment controller and kubectl use.
const (
	revisionAnnotation    = "deployment.kubernetes.io/revision"
	restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
	templateHashLabel     = appsv1.DefaultDeploymentUniqueLabelKey // pod-template-hash
)

// callTimeout bounds each call to the API server.
const callTimeout = 15 * time.Second

// rule is the RBAC rule one API call needs, to name it when the API
// server answers 403.
type rule struct {
	group, resource, verb, namespace string
}

func (r rule) String() string {
	s := fmt.Sprintf(`{apiGroups: [%q], resources: [%q], verbs: [%q]}`, r.group, r.resource, r.verb)
	if r.namespace != "" {
		return s + " in namespace " + r.namespace + " (a Role, or a ClusterRole)"
	}
	return s + " (a ClusterRole: the resource is cluster-scoped or listed in every namespace)"
}

// plan is an action worked out against the live object: whether it may
// run, and the call that runs it.
type plan struct {
	labels map[string]string
	// refusal, if not nil, stops the action (drift, a paused Deployment).
	refusal *Refusal
	// noop, if not empty, says why there is nothing to do.
	noop string
	// write is the rule the write call needs.
	write rule
	// apply runs the action (as a server-side dry run if dryRun) and
	// returns what it did, for the human.
	apply func(ctx context.Context, dryRun bool) (string, error)
}

// apiError is an error from the API server, with the rule the failed
// call needed.
type apiError struct {
	rule rule
	what string // "read deployment shop/web"
	err  error
}

func (e *apiError) Error() string {
	if apierrors.IsForbidden(e.err) {
		return e.what + ": " + e.err.Error() + "; grant the approver's ServiceAccount the RBAC rule " + e.rule.String()
	}
	return e.what + ": " + e.err.Error()
}
func (e *apiError) Unwrap() error { return e.err }

func dryRunOpt(dryRun bool) []string {
	if dryRun {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// planFor reads the object a acts on and works out the plan.
func (e *Executor) planFor(ctx context.Context, a Action) (*plan, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	switch a.Kind {
	case RolloutRestart:
		return e.planRestart(ctx, a)
	case RolloutUndo:
		return e.planUndo(ctx, a)
	case Scale:
		return e.planScale(ctx, a)
	case Cordon, Uncordon:
		return e.planCordon(ctx, a)
	case Evict:
		return e.planEvict(ctx, a)
	}
	return nil, &Refusal{Reason: ReasonInvalid, Message: fmt.Sprintf("unknown action %q: use one of %s", a.Kind, kindList())}
}

// workload is what the plans need of a Deployment, StatefulSet or
// DaemonSet.
type workload struct {
	meta     metav1.ObjectMeta
	replicas *int32
	paused   bool
}

func (e *Executor) getWorkload(ctx context.Context, a Action) (*workload, error) {
	apps := e.client.AppsV1()
	r := rule{"apps", a.Resource, "get", a.Namespace}
	var (
		w   workload
		err error
	)
	switch a.Resource {
	case Deployments:
		var d *appsv1.Deployment
		if d, err = apps.Deployments(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{}); err == nil {
			w = workload{meta: d.ObjectMeta, replicas: d.Spec.Replicas, paused: d.Spec.Paused}
		}
	case StatefulSets:
		var s *appsv1.StatefulSet
		if s, err = apps.StatefulSets(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{}); err == nil {
			w = workload{meta: s.ObjectMeta, replicas: s.Spec.Replicas}
		}
	case DaemonSets:
		var s *appsv1.DaemonSet
		if s, err = apps.DaemonSets(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{}); err == nil {
			w = workload{meta: s.ObjectMeta}
		}
	default:
		return nil, &Refusal{Reason: ReasonInvalid, Message: fmt.Sprintf("%s cannot target %q", a.Kind, a.Resource)}
	}
	if err != nil {
		return nil, &apiError{rule: r, what: "read " + objectRef(a), err: err}
	}
	return &w, nil
}

// uidDrift refuses when the object was replaced (same name, new UID).
func uidDrift(a Action, uid types.UID) *Refusal {
	if a.Observed.UID != "" && string(uid) != a.Observed.UID {
		return &Refusal{Reason: ReasonDrifted, Message: fmt.Sprintf(
			"%s was deleted and re-created since the proposal (UID %s, proposed for %s): propose again against the new object", objectRef(a), uid, a.Observed.UID)}
	}
	return nil
}

func pausedRefusal(a Action) *Refusal {
	return &Refusal{Reason: ReasonPaused, Message: fmt.Sprintf(
		"%s is paused: kubectl refuses this on a paused Deployment too; resume it first (kubectl rollout resume deployment/%s -n %s) and approve again", objectRef(a), a.Name, a.Namespace)}
}

func (e *Executor) planRestart(ctx context.Context, a Action) (*plan, error) {
	w, err := e.getWorkload(ctx, a)
	if err != nil {
		return nil, err
	}
	p := &plan{labels: w.meta.Labels, refusal: uidDrift(a, w.meta.UID), write: rule{"apps", a.Resource, "patch", a.Namespace}}
	if p.refusal == nil && w.paused {
		p.refusal = pausedRefusal(a)
	}
	p.apply = func(ctx context.Context, dryRun bool) (string, error) {
		stamp := e.now().Format(time.RFC3339)
		// The resourceVersion read makes the patch conditional: a change
		// since (labels the allowlist matched, say) is a conflict.
		patch, _ := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": w.meta.ResourceVersion},
			"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
				"annotations": map[string]string{restartedAtAnnotation: stamp},
			}}},
		})
		opts := metav1.PatchOptions{DryRun: dryRunOpt(dryRun), FieldManager: fieldManager}
		apps := e.client.AppsV1()
		var err error
		switch a.Resource {
		case Deployments:
			_, err = apps.Deployments(a.Namespace).Patch(ctx, a.Name, types.StrategicMergePatchType, patch, opts)
		case StatefulSets:
			_, err = apps.StatefulSets(a.Namespace).Patch(ctx, a.Name, types.StrategicMergePatchType, patch, opts)
		case DaemonSets:
			_, err = apps.DaemonSets(a.Namespace).Patch(ctx, a.Name, types.StrategicMergePatchType, patch, opts)
		}
		return fmt.Sprintf("restarted %s: its pods are replaced by its rollout strategy (%s=%s)", objectRef(a), restartedAtAnnotation, stamp), err
	}
	return p, nil
}

// fieldManager is the approver's name in managedFields.
const fieldManager = "foresight-approver"

// revisionOf parses the revision annotation (0 when absent or malformed,
// as the Deployment controller treats it).
func revisionOf(m metav1.ObjectMeta) int64 {
	v, err := strconv.ParseInt(m.Annotations[revisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// annotationsToKeep are the Deployment's own annotations a rollback keeps
// instead of copying them from the ReplicaSet (as kubectl's rollback
// does).
var annotationsToKeep = []string{
	corev1.LastAppliedConfigAnnotation,
	revisionAnnotation,
	"deployment.kubernetes.io/revision-history",
	"deployment.kubernetes.io/desired-replicas",
	"deployment.kubernetes.io/max-replicas",
	appsv1.DeprecatedRollbackTo,
}

func (e *Executor) planUndo(ctx context.Context, a Action) (*plan, error) {
	d, err := e.client.AppsV1().Deployments(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
	if err != nil {
		return nil, &apiError{rule: rule{"apps", Deployments, "get", a.Namespace}, what: "read " + objectRef(a), err: err}
	}
	p := &plan{labels: d.Labels, write: rule{"apps", Deployments, "patch", a.Namespace}}
	if p.refusal = uidDrift(a, d.UID); p.refusal != nil {
		return p, nil
	}
	current := revisionOf(d.ObjectMeta)
	if a.Observed.Revision != 0 && current != a.Observed.Revision {
		p.refusal = &Refusal{Reason: ReasonDrifted, Message: fmt.Sprintf(
			"%s is at revision %d, not %d as when the undo to revision %d was proposed: another rollout happened since; look at kubectl rollout history deployment/%s -n %s and propose again",
			objectRef(a), current, a.Observed.Revision, a.ToRevision, a.Name, a.Namespace)}
		return p, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("%s has an invalid selector: %w", objectRef(a), err)
	}
	rss, err := e.client.AppsV1().ReplicaSets(a.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, &apiError{rule: rule{"apps", "replicasets", "list", a.Namespace}, what: "list the ReplicaSets of " + objectRef(a), err: err}
	}
	var (
		target *appsv1.ReplicaSet
		kept   []int64
	)
	for i := range rss.Items {
		rs := &rss.Items[i]
		if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID {
			continue
		}
		rev := revisionOf(rs.ObjectMeta)
		kept = append(kept, rev)
		if rev == a.ToRevision {
			target = rs
		}
	}
	slices.Sort(kept)
	if target == nil {
		p.refusal = &Refusal{Reason: ReasonDrifted, Message: fmt.Sprintf(
			"no ReplicaSet of %s has revision %d any more (revisions kept: %s; spec.revisionHistoryLimit prunes old ones): propose again", objectRef(a), a.ToRevision, joinInts(kept))}
		return p, nil
	}
	if h := a.Observed.TemplateHash; h != "" && target.Labels[templateHashLabel] != h {
		p.refusal = &Refusal{Reason: ReasonDrifted, Message: fmt.Sprintf(
			"revision %d of %s is now ReplicaSet %s (pod-template-hash %s), not the template %s the undo was proposed for: propose again",
			a.ToRevision, objectRef(a), target.Name, target.Labels[templateHashLabel], h)}
		return p, nil
	}
	if d.Spec.Paused {
		p.refusal = pausedRefusal(a)
		return p, nil
	}
	if equalIgnoreHash(&target.Spec.Template, &d.Spec.Template) {
		p.noop = fmt.Sprintf("%s already runs the template of revision %d (ReplicaSet %s): nothing to undo", objectRef(a), a.ToRevision, target.Name)
		return p, nil
	}
	// As kubectl's rollback does: the ReplicaSet's pod template without its
	// pod-template-hash label replaces the Deployment's, and the
	// ReplicaSet's annotations (change-cause and the like) replace the
	// Deployment's, except the controller's own bookkeeping.
	tmpl := target.Spec.Template.DeepCopy()
	delete(tmpl.Labels, templateHashLabel)
	ann := map[string]string{}
	for _, k := range annotationsToKeep {
		if v, ok := d.Annotations[k]; ok {
			ann[k] = v
		}
	}
	for k, v := range target.Annotations {
		if !slices.Contains(annotationsToKeep, k) {
			ann[k] = v
		}
	}
	// The test operations make the patch fail if the Deployment was
	// replaced or rolled out again since it was read; the resourceVersion
	// read makes it conditional on no change at all (a conflict).
	ops := []map[string]any{
		{"op": "test", "path": "/metadata/uid", "value": d.UID},
		{"op": "replace", "path": "/metadata/resourceVersion", "value": d.ResourceVersion},
	}
	if v, ok := d.Annotations[revisionAnnotation]; ok {
		ops = append(ops, map[string]any{"op": "test", "path": "/metadata/annotations/" + jsonPointerEscape(revisionAnnotation), "value": v})
	}
	ops = append(ops,
		map[string]any{"op": "replace", "path": "/spec/template", "value": tmpl},
		map[string]any{"op": "replace", "path": "/metadata/annotations", "value": ann})
	patch, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("encode the rollback patch of %s: %w", objectRef(a), err)
	}
	p.apply = func(ctx context.Context, dryRun bool) (string, error) {
		_, err := e.client.AppsV1().Deployments(a.Namespace).Patch(ctx, a.Name, types.JSONPatchType, patch,
			metav1.PatchOptions{DryRun: dryRunOpt(dryRun), FieldManager: fieldManager})
		return fmt.Sprintf("rolled back %s from revision %d to revision %d (the template of ReplicaSet %s: %s); the Deployment controller rolls it out as revision %d",
			objectRef(a), current, a.ToRevision, target.Name, images(tmpl), max(current, kept[len(kept)-1])+1), err
	}
	return p, nil
}

// equalIgnoreHash compares two pod templates without their
// pod-template-hash labels, as kubectl's rollback does.
func equalIgnoreHash(t1, t2 *corev1.PodTemplateSpec) bool {
	a, b := t1.DeepCopy(), t2.DeepCopy()
	delete(a.Labels, templateHashLabel)
	delete(b.Labels, templateHashLabel)
	return equality.Semantic.DeepEqual(a, b)
}

// images lists a template's containers as name=image.
func images(t *corev1.PodTemplateSpec) string {
	var s []string
	for _, c := range t.Spec.Containers {
		s = append(s, c.Name+"="+c.Image)
	}
	return "images " + strings.Join(s, ", ")
}

func jsonPointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func joinInts(xs []int64) string {
	if len(xs) == 0 {
		return "none"
	}
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(s, ", ")
}

func (e *Executor) planScale(ctx context.Context, a Action) (*plan, error) {
	w, err := e.getWorkload(ctx, a)
	if err != nil {
		return nil, err
	}
	p := &plan{labels: w.meta.Labels, refusal: uidDrift(a, w.meta.UID), write: rule{"apps", a.Resource + "/scale", "update", a.Namespace}}
	from := int32(1) // the API server's default for spec.replicas
	if w.replicas != nil {
		from = *w.replicas
	}
	if p.refusal == nil && a.Observed.Replicas != nil && from != *a.Observed.Replicas {
		p.refusal = &Refusal{Reason: ReasonDrifted, Message: fmt.Sprintf(
			"%s has %d replicas, not %d as when the scale to %d was proposed: an autoscaler or someone scaled it since; propose again",
			objectRef(a), from, *a.Observed.Replicas, *a.Replicas)}
	}
	to := *a.Replicas
	if from == to {
		p.noop = fmt.Sprintf("%s already has %d replicas: nothing to scale", objectRef(a), to)
	}
	p.apply = func(ctx context.Context, dryRun bool) (string, error) {
		s := &autoscalingv1.Scale{
			// The resourceVersion read (the scale subresource shares the
			// object's) makes the update conditional: an autoscaler
			// scaling it since is a conflict.
			ObjectMeta: metav1.ObjectMeta{Name: a.Name, Namespace: a.Namespace, ResourceVersion: w.meta.ResourceVersion},
			Spec:       autoscalingv1.ScaleSpec{Replicas: to},
		}
		opts := metav1.UpdateOptions{DryRun: dryRunOpt(dryRun), FieldManager: fieldManager}
		var err error
		switch a.Resource {
		case Deployments:
			_, err = e.client.AppsV1().Deployments(a.Namespace).UpdateScale(ctx, a.Name, s, opts)
		case StatefulSets:
			_, err = e.client.AppsV1().StatefulSets(a.Namespace).UpdateScale(ctx, a.Name, s, opts)
		}
		return fmt.Sprintf("scaled %s from %d to %d replicas (an autoscaler acting on it may change this again)", objectRef(a), from, to), err
	}
	return p, nil
}

func (e *Executor) planCordon(ctx context.Context, a Action) (*plan, error) {
	n, err := e.client.CoreV1().Nodes().Get(ctx, a.Name, metav1.GetOptions{})
	if err != nil {
		return nil, &apiError{rule: rule{"", Nodes, "get", ""}, what: "read " + objectRef(a), err: err}
	}
	want := a.Kind == Cordon
	p := &plan{labels: n.Labels, refusal: uidDrift(a, n.UID), write: rule{"", Nodes, "patch", ""}}
	if n.Spec.Unschedulable == want {
		p.noop = fmt.Sprintf("node %s is already %sed: nothing changed", a.Name, a.Kind)
	}
	p.apply = func(ctx context.Context, dryRun bool) (string, error) {
		// Conditional on the resourceVersion read (the labels the
		// allowlist matched).
		patch, _ := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": n.ResourceVersion},
			"spec":     map[string]any{"unschedulable": want},
		})
		_, err := e.client.CoreV1().Nodes().Patch(ctx, a.Name, types.StrategicMergePatchType, patch,
			metav1.PatchOptions{DryRun: dryRunOpt(dryRun), FieldManager: fieldManager})
		if want {
			return fmt.Sprintf("cordoned node %s: no new pods are scheduled on it, the ones there keep running (uncordon to undo)", a.Name), err
		}
		return fmt.Sprintf("uncordoned node %s: pods may be scheduled on it again", a.Name), err
	}
	return p, nil
}

func (e *Executor) planEvict(ctx context.Context, a Action) (*plan, error) {
	pod, err := e.client.CoreV1().Pods(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
	if err != nil {
		return nil, &apiError{rule: rule{"", Pods, "get", a.Namespace}, what: "read " + objectRef(a), err: err}
	}
	p := &plan{labels: pod.Labels, refusal: uidDrift(a, pod.UID), write: rule{"", "pods/eviction", "create", a.Namespace}}
	if pod.DeletionTimestamp != nil {
		p.noop = fmt.Sprintf("pod %s/%s is already being deleted: nothing to evict", a.Namespace, a.Name)
	}
	uid := pod.UID
	p.apply = func(ctx context.Context, dryRun bool) (string, error) {
		err := e.client.CoreV1().Pods(a.Namespace).EvictV1(ctx, &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: a.Name, Namespace: a.Namespace},
			// The precondition: never evict a same-named successor.
			DeleteOptions: &metav1.DeleteOptions{DryRun: dryRunOpt(dryRun), Preconditions: &metav1.Preconditions{UID: &uid}},
		})
		return fmt.Sprintf("evicted pod %s/%s through the Eviction API (no PodDisruptionBudget objected); its controller, if any, replaces it", a.Namespace, a.Name), err
	}
	return p, nil
}

// stable is the stability probe of the gate, against the API server:
// every Node Ready; no pod terminating since the last disruptive action
// began (deletionTimestamp at or after since: an evicted pod still going
// away); no pod created since then that is still Pending and either
// unschedulable (PodScheduled=False) or Pending for longer than one poll
// (a pod pulling its image for a moment does not count); every
// PodDisruptionBudget healthy.
func (e *Executor) stable(ctx context.Context, since time.Time) (bool, string, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	nodes, err := e.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, "", &apiError{rule: rule{"", Nodes, "list", ""}, what: "list nodes", err: err}
	}
	var notReady []string
	for _, n := range nodes.Items {
		if c := readyCondition(n.Status.Conditions); c == nil || c.Status != corev1.ConditionTrue {
			st := "no Ready condition"
			if c != nil {
				st = fmt.Sprintf("Ready=%s %s", c.Status, c.Reason)
			}
			notReady = append(notReady, fmt.Sprintf("%s (%s)", n.Name, st))
		}
	}
	if len(notReady) > 0 {
		return false, "nodes not Ready: " + strings.Join(first(notReady, 5), ", "), nil
	}
	pods, err := e.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, "", &apiError{rule: rule{"", Pods, "list", ""}, what: "list pods", err: err}
	}
	// creationTimestamp has a resolution of a second: a pod created in the
	// second the action began counts as new.
	cut := since.Truncate(time.Second)
	now := e.now()
	var pending, terminating []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			if !p.DeletionTimestamp.Time.Before(cut) {
				terminating = append(terminating, p.Namespace+"/"+p.Name)
			}
			continue
		}
		if p.Status.Phase != corev1.PodPending || p.CreationTimestamp.Time.Before(cut) {
			continue
		}
		if unschedulable(p.Status.Conditions) || now.Sub(p.CreationTimestamp.Time) > e.cfg.Gate.Poll {
			pending = append(pending, p.Namespace+"/"+p.Name)
		}
	}
	if len(terminating) > 0 {
		return false, fmt.Sprintf("%d pod(s) terminating since the last disruptive action: %s", len(terminating), strings.Join(first(terminating, 5), ", ")), nil
	}
	if len(pending) > 0 {
		return false, fmt.Sprintf("%d pod(s) Pending since the last disruptive action: %s", len(pending), strings.Join(first(pending, 5), ", ")), nil
	}
	pdbs, err := e.client.PolicyV1().PodDisruptionBudgets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, "", &apiError{rule: rule{"policy", "poddisruptionbudgets", "list", ""}, what: "list PodDisruptionBudgets", err: err}
	}
	var unhealthy []string
	for _, b := range pdbs.Items {
		if b.Status.CurrentHealthy < b.Status.DesiredHealthy {
			unhealthy = append(unhealthy, fmt.Sprintf("%s/%s (%d of %d healthy)", b.Namespace, b.Name, b.Status.CurrentHealthy, b.Status.DesiredHealthy))
		}
	}
	if len(unhealthy) > 0 {
		return false, "PodDisruptionBudgets below their desired healthy pods: " + strings.Join(first(unhealthy, 5), ", "), nil
	}
	return true, "", nil
}

// unschedulable reports whether a pod's PodScheduled condition is False.
func unschedulable(cs []corev1.PodCondition) bool {
	for _, c := range cs {
		if c.Type == corev1.PodScheduled {
			return c.Status == corev1.ConditionFalse
		}
	}
	return false
}

func readyCondition(cs []corev1.NodeCondition) *corev1.NodeCondition {
	for i := range cs {
		if cs[i].Type == corev1.NodeReady {
			return &cs[i]
		}
	}
	return nil
}

// first returns at most n of xs, with "and k more" appended.
func first(xs []string, n int) []string {
	if len(xs) <= n {
		return xs
	}
	return append(slices.Clone(xs[:n]), fmt.Sprintf("and %d more", len(xs)-n))
}

// refusalFromAPI maps an API error of a call to a Refusal, or returns nil
// when it is none of the refusal classes (the caller decides).
func refusalFromAPI(a Action, r rule, err error) *Refusal {
	switch {
	case apierrors.IsForbidden(err):
		return &Refusal{Reason: ReasonForbidden, Message: fmt.Sprintf(
			"the approver's ServiceAccount may not %s %s: grant it the RBAC rule %s and get a fresh proposal, or remove the action from the allowlist (the API server said: %s)",
			r.verb, r.resource, r, apiMessage(err))}
	case apierrors.IsNotFound(err):
		return &Refusal{Reason: ReasonGone, Message: objectRef(a) + " no longer exists: nothing to do"}
	case apierrors.IsConflict(err):
		return &Refusal{Reason: ReasonDrifted, Message: fmt.Sprintf("%s kept changing while it was being acted on (%s): nothing was done; get a fresh proposal from a new analysis", objectRef(a), apiMessage(err))}
	case apierrors.IsTooManyRequests(err) && a.Kind == Evict:
		return &Refusal{Reason: ReasonPDBBlocked, Message: fmt.Sprintf(
			"evicting pod %s/%s would violate a PodDisruptionBudget (the API server answered 429: %s); nothing was done: approve again once the budget allows a disruption (kubectl get pdb -n %s)",
			a.Namespace, a.Name, apiMessage(err), a.Namespace)}
	}
	return nil
}

func apiMessage(err error) string {
	var s apierrors.APIStatus
	if errors.As(err, &s) && s.Status().Message != "" {
		return s.Status().Message
	}
	return err.Error()
}
