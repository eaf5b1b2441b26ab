package remediate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/labels"
)

// Config is the approver's policy: which actions are allowed on which
// objects, the stability gate and the hourly budgets. It is read from YAML
// (see Parse); the enrichment reads the same file to propose only what the
// approver would accept.
//
//	allow:
//	  - action: rollout-undo
//	    namespaces: [shop]
//	    selector: app.kubernetes.io/part-of=shop
//	  - action: scale
//	    resources: [deployments]
//	    namespaces: [shop]
//	    minReplicas: 2
//	    maxReplicas: 20
//	  - action: cordon
//	    selector: node-role.kubernetes.io/worker
//	gate:
//	  settle: 2m
//	budgets:
//	  cordon: 2
type Config struct {
	Allow   []Rule       `yaml:"allow"`
	Gate    GateConfig   `yaml:"gate"`
	Budgets map[Kind]int `yaml:"budgets"`
}

// Rule allows one action kind on the objects it scopes.
type Rule struct {
	Action Kind `yaml:"action"`
	// Resources narrows the resources the action may target; empty means
	// every resource the kind acts on (ResourcesOf).
	Resources []string `yaml:"resources"`
	// Namespaces the rule covers; required for namespaced resources,
	// ["*"] means every namespace. Must be empty for node actions.
	Namespaces []string `yaml:"namespaces"`
	// Selector is a label selector the live object must match
	// (kubectl syntax, "app=web,tier!=db"); "" matches every object.
	Selector string `yaml:"selector"`
	// MinReplicas and MaxReplicas bound a scale (both required for scale).
	MinReplicas *int32 `yaml:"minReplicas"`
	MaxReplicas *int32 `yaml:"maxReplicas"`

	selector labels.Selector
}

// GateConfig configures the stability gate for disruptive actions
// (Kind.Disruptive).
type GateConfig struct {
	// Settle is how long the cluster must have been stable (every node
	// Ready; no pod terminating since the last disruptive action, and no
	// pod created since then that is unschedulable or Pending for longer
	// than Poll; every PodDisruptionBudget healthy) before the next
	// disruptive action runs. The first one after a start runs at once
	// if the cluster is stable, and otherwise waits for it to be stable
	// this long too. 0 means 2m.
	Settle time.Duration `yaml:"settle"`
	// MaxWait is how long an approved disruptive action waits for the
	// gate before it is refused (and reported back). 0 means 30m.
	MaxWait time.Duration `yaml:"maxWait"`
	// Poll is how often the gate re-checks stability (a new pod Pending
	// for longer than this counts as unstable). 0 means 10s.
	Poll time.Duration `yaml:"poll"`
}

// DefaultBudgets are the executions allowed per hour and kind when the
// configuration names none for a kind.
var DefaultBudgets = map[Kind]int{
	RolloutRestart: 10,
	RolloutUndo:    5,
	Scale:          10,
	Cordon:         2,
	Uncordon:       5,
	Evict:          10,
}

// Defaults for GateConfig's zero values.
const (
	DefaultSettle  = 2 * time.Minute
	DefaultMaxWait = 30 * time.Minute
	DefaultPoll    = 10 * time.Second
	// MinPoll is the shortest gate.poll allowed.
	MinPoll = time.Second
)

// Parse reads a Config from YAML, strictly: unknown keys are errors. It
// fills in defaults and validates.
func Parse(r io.Reader) (*Config, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read the remediation config: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("remediation config: %w; fix the YAML at that line: the keys are allow (a list of {action, resources, namespaces, selector, minReplicas, maxReplicas}), gate {settle, maxWait, poll: durations with a unit, like 2m} and budgets {action: executions per hour}", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate fills in defaults and checks every rule; the error names the
// rule (by index and action) and what to fix.
func (c *Config) Validate() error {
	if c.Gate.Settle == 0 {
		c.Gate.Settle = DefaultSettle
	}
	if c.Gate.MaxWait == 0 {
		c.Gate.MaxWait = DefaultMaxWait
	}
	if c.Gate.Poll == 0 {
		c.Gate.Poll = DefaultPoll
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"settle", c.Gate.Settle}, {"maxWait", c.Gate.MaxWait}, {"poll", c.Gate.Poll}} {
		if d.v < 0 {
			return fmt.Errorf("remediation config: gate.%s is %s: use a positive duration (or leave it out for the default)", d.name, d.v)
		}
	}
	if c.Gate.Poll < MinPoll {
		return fmt.Errorf("remediation config: gate.poll is %s: each poll lists the cluster's nodes, Pending pods and PodDisruptionBudgets, so poll at most every %s", c.Gate.Poll, MinPoll)
	}
	for k, n := range c.Budgets {
		if _, ok := resourcesOf[k]; !ok {
			return fmt.Errorf("remediation config: budgets: unknown action %q: use one of %s", k, kindList())
		}
		if n < 0 {
			return fmt.Errorf("remediation config: budgets: %s: %d per hour; use 0 to forbid it or a positive number", k, n)
		}
	}
	if c.Budgets == nil {
		c.Budgets = map[Kind]int{}
	}
	for k, n := range DefaultBudgets {
		if _, ok := c.Budgets[k]; !ok {
			c.Budgets[k] = n
		}
	}
	for i := range c.Allow {
		if err := c.Allow[i].validate(); err != nil {
			return fmt.Errorf("remediation config: allow[%d] (%s): %w", i, c.Allow[i].Action, err)
		}
	}
	return nil
}

func (r *Rule) validate() error {
	res, ok := resourcesOf[r.Action]
	if !ok {
		return fmt.Errorf("unknown action: use one of %s", kindList())
	}
	if len(r.Resources) == 0 {
		r.Resources = slices.Clone(res)
	}
	for _, x := range r.Resources {
		if !contains(res, x) {
			return fmt.Errorf("resources: %s cannot target %q; it acts on %s", r.Action, x, strings.Join(res, ", "))
		}
	}
	nodes := res[0] == Nodes
	switch {
	case nodes && len(r.Namespaces) > 0:
		return errors.New("namespaces: nodes have no namespace; scope node actions with a selector")
	case !nodes && len(r.Namespaces) == 0:
		return errors.New(`namespaces: name the namespaces this rule covers, or ["*"] for all`)
	}
	sel, err := labels.Parse(r.Selector)
	if err != nil {
		return fmt.Errorf("selector %q: %w", r.Selector, err)
	}
	r.selector = sel
	if r.Action == Scale {
		if r.MinReplicas == nil || r.MaxReplicas == nil {
			return errors.New("scale needs minReplicas and maxReplicas")
		}
		if *r.MinReplicas < 0 || *r.MaxReplicas < *r.MinReplicas {
			return fmt.Errorf("scale bounds [%d, %d]: need 0 <= minReplicas <= maxReplicas", *r.MinReplicas, *r.MaxReplicas)
		}
	} else if r.MinReplicas != nil || r.MaxReplicas != nil {
		return errors.New("minReplicas/maxReplicas apply to scale only")
	}
	return nil
}

// Refusal is why an action may not run. Reason is a stable, low-cardinality
// word for metrics and the audit log; Message says what to do.
type Refusal struct {
	Reason  string
	Message string
}

func (r *Refusal) Error() string { return r.Message }

// Reasons of a Refusal.
const (
	ReasonInvalid        = "invalid"         // the action is malformed
	ReasonNotAllowlisted = "not_allowlisted" // no rule covers it
	ReasonOutOfBounds    = "out_of_bounds"   // a scale outside every rule's bounds
	ReasonDrifted        = "drifted"         // the live object changed since the proposal
	ReasonGone           = "gone"            // the object no longer exists
	ReasonDryRun         = "dry_run_failed"  // the API server rejected the dry run
	ReasonBudget         = "budget_spent"    // the hourly budget for the kind is used up
	ReasonGate           = "gate_timeout"    // the cluster did not settle within MaxWait
	ReasonForbidden      = "forbidden"       // the approver's ServiceAccount may not do it
	ReasonPDBBlocked     = "pdb_blocked"     // an eviction's dry run would violate a PodDisruptionBudget (HTTP 429)
	ReasonPaused         = "paused"          // a paused Deployment: kubectl refuses to restart or undo it too
	ReasonCanceled       = "canceled"        // the approver shut down (or the request ended) while waiting
	ReasonAPIError       = "api_error"       // the API server could not be read or rejected the real call (Outcome failed)
)

// IsRefusal returns the Refusal in err's chain, if any.
func IsRefusal(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}

// Check reports whether a rule allows a on an object with the given labels
// (the live object's; nil when not known yet, in which case only rules
// without a selector match). It returns nil or a *Refusal.
func (c *Config) Check(a Action, objLabels map[string]string) error {
	return c.check(a, objLabels, false)
}

// mayAllow is Check with every selector taken as matching: whether a
// rule could allow a once its object's labels are known. The executor
// asks it before it reads anything, so that an action outside the
// allowlist is refused as such (and not as forbidden by RBAC).
func (c *Config) mayAllow(a Action) error {
	return c.check(a, nil, true)
}

func (c *Config) check(a Action, objLabels map[string]string, anyLabels bool) error {
	if err := a.Validate(); err != nil {
		return &Refusal{Reason: ReasonInvalid, Message: err.Error()}
	}
	outOfBounds := ""
	for i := range c.Allow {
		r := &c.Allow[i]
		if r.Action != a.Kind || !contains(r.Resources, a.Resource) {
			continue
		}
		if a.Resource != Nodes && !contains(r.Namespaces, "*") && !contains(r.Namespaces, a.Namespace) {
			continue
		}
		if !anyLabels && r.selector != nil && !r.selector.Empty() && (objLabels == nil || !r.selector.Matches(labels.Set(objLabels))) {
			continue
		}
		if a.Kind == Scale && (*a.Replicas < *r.MinReplicas || *a.Replicas > *r.MaxReplicas) {
			outOfBounds = fmt.Sprintf("scale to %d replicas is outside the allowed [%d, %d] for %s/%s", *a.Replicas, *r.MinReplicas, *r.MaxReplicas, a.Namespace, a.Name)
			continue
		}
		return nil
	}
	if outOfBounds != "" {
		return &Refusal{Reason: ReasonOutOfBounds, Message: outOfBounds}
	}
	where := ""
	if a.Resource != Nodes {
		where = fmt.Sprintf(" in namespace %q", a.Namespace)
	}
	if objLabels != nil {
		where += " with labels " + labelList(objLabels, 8)
	}
	return &Refusal{Reason: ReasonNotAllowlisted, Message: fmt.Sprintf(
		"%s is not allowlisted: no rule in the remediation config's allow list covers %s of %s%s; add a rule (action, resources, namespaces, selector) if it should be",
		a, a.Kind, a.Resource, where)}
}

// labelList renders labels sorted, at most n of them: "{a=1, b=2, ...}".
func labelList(l map[string]string, n int) string {
	keys := slices.Sorted(maps.Keys(l))
	var s []string
	for i, k := range keys {
		if i == n {
			s = append(s, fmt.Sprintf("and %d more", len(keys)-n))
			break
		}
		s = append(s, k+"="+l[k])
	}
	return "{" + strings.Join(s, ", ") + "}"
}
