package charts

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/foresight-aiops/foresight/remediate"
)

// approverComponent is the app.kubernetes.io/component label of the
// approver's objects.
const approverComponent = "approver"

const approverValues = "testdata/good/approver.yaml"

// approverRelease is what approver.enabled renders.
type approverRelease struct {
	Deployment          *appsv1.Deployment
	Service             *corev1.Service
	ConfigMap           *corev1.ConfigMap // the remediation config
	ServiceAccount      *corev1.ServiceAccount
	PVC                 *corev1.PersistentVolumeClaim
	ServiceMonitor      map[string]any
	NetworkPolicy       *networkingv1.NetworkPolicy
	ClusterRoles        map[string]*rbacv1.ClusterRole
	ClusterRoleBindings map[string]*rbacv1.ClusterRoleBinding
	Roles               map[string]*rbacv1.Role        // by namespace/name
	RoleBindings        map[string]*rbacv1.RoleBinding // by namespace/name
}

func (r *release) approver() *approverRelease {
	if r.Approver == nil {
		r.Approver = &approverRelease{
			ClusterRoles: map[string]*rbacv1.ClusterRole{}, ClusterRoleBindings: map[string]*rbacv1.ClusterRoleBinding{},
			Roles: map[string]*rbacv1.Role{}, RoleBindings: map[string]*rbacv1.RoleBinding{},
		}
	}
	return r.Approver
}

// add decodes one of the approver's documents strictly into the API's
// type.
func (a *approverRelease) add(t *testing.T, kind, doc string) {
	t.Helper()
	const c = "approver"
	switch kind {
	case "Deployment":
		decodeOne(t, c, kind, doc, &a.Deployment)
	case "Service":
		decodeOne(t, c, kind, doc, &a.Service)
	case "ConfigMap":
		decodeOne(t, c, kind, doc, &a.ConfigMap)
	case "ServiceAccount":
		decodeOne(t, c, kind, doc, &a.ServiceAccount)
	case "PersistentVolumeClaim":
		decodeOne(t, c, kind, doc, &a.PVC)
	case "ServiceMonitor":
		if a.ServiceMonitor != nil {
			t.Errorf("a second approver %s rendered:\n%s", kind, doc)
		}
		decodeStrict(t, c, kind, doc, &a.ServiceMonitor)
	case "NetworkPolicy":
		decodeOne(t, c, kind, doc, &a.NetworkPolicy)
	case "ClusterRole":
		r := new(rbacv1.ClusterRole)
		decodeStrict(t, c, kind, doc, r)
		a.ClusterRoles[r.Name] = r
	case "ClusterRoleBinding":
		b := new(rbacv1.ClusterRoleBinding)
		decodeStrict(t, c, kind, doc, b)
		a.ClusterRoleBindings[b.Name] = b
	case "Role":
		r := new(rbacv1.Role)
		decodeStrict(t, c, kind, doc, r)
		a.Roles[r.Namespace+"/"+r.Name] = r
	case "RoleBinding":
		b := new(rbacv1.RoleBinding)
		decodeStrict(t, c, kind, doc, b)
		a.RoleBindings[b.Namespace+"/"+b.Name] = b
	default:
		t.Errorf("unexpected kind %s rendered for the approver: add it to this test, with its assertions", kind)
	}
}

// decodeStrict decodes one rendered document of a component strictly into
// the API's type.
func decodeStrict(t *testing.T, component, kind, doc string, into any) {
	t.Helper()
	if err := sigsyaml.UnmarshalStrict([]byte(doc), into); err != nil {
		t.Fatalf("%s %s does not decode strictly into the API's type: %v\n%s", component, kind, err, doc)
	}
}

// decodeOne decodes a component's only object of a kind into a new *slot;
// a second one of that kind is an error.
func decodeOne[T any](t *testing.T, component, kind, doc string, slot **T) {
	t.Helper()
	if *slot != nil {
		t.Errorf("a second %s %s rendered:\n%s", component, kind, doc)
	}
	*slot = new(T)
	decodeStrict(t, component, kind, doc, *slot)
}

// approverValuesFile writes values that enable the approver with allow as
// its allow list (and extra merged at the top level) and returns the
// file's path.
func approverValuesFile(t *testing.T, allow []map[string]any, approver map[string]any) string {
	t.Helper()
	a := map[string]any{"enabled": true, "approvalKey": map[string]any{"existingSecret": "foresight-approval-key"}, "allow": allow}
	for k, v := range approver {
		a[k] = v
	}
	b, err := sigsyaml.Marshal(map[string]any{"demo": true, "approver": a})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestApproverOffByDefault: without approver.enabled the chart renders
// none of the approver's objects (no ServiceAccount, no RBAC, no
// Deployment), whatever else the values say; the values that enable it
// are the control.
func TestApproverOffByDefault(t *testing.T) {
	for _, file := range goodValues(t) {
		if file == approverValues {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			rel := render(t, Options{ValueFiles: []string{file}})
			if rel.Approver != nil || strings.Contains(rel.Manifest, "approver") {
				t.Errorf("approver objects rendered without approver.enabled: %v\n%s", rel.Kinds, rel.Manifest)
			}
		})
	}
	// An allow list alone, with enabled left false, still renders nothing.
	f := approverValuesFile(t, []map[string]any{{"action": "cordon"}}, map[string]any{"enabled": false})
	if rel := render(t, Options{ValueFiles: []string{f}}); rel.Approver != nil {
		t.Errorf("approver.enabled=false with an allow list rendered %v", rel.Kinds)
	}
	if rel := render(t, Options{ValueFiles: []string{approverValues}}); rel.Approver == nil || rel.Approver.Deployment == nil {
		t.Fatalf("%s renders no approver: the tests above would prove nothing", approverValues)
	}
}

// permission is one verb on one resource where the approver's bindings give
// it: Namespace is "*" for a ClusterRoleBinding.
type permission struct{ Namespace, Group, Resource, Verb string }

func (g permission) String() string {
	return fmt.Sprintf("%s %s.%s in %s", g.Verb, g.Resource, g.Group, g.Namespace)
}

// approverGrants resolves the approver's bindings to what its ServiceAccount may
// do. Every binding must name the approver's ServiceAccount alone and a
// role the chart renders; no rule may use a wildcard, resourceNames or a
// non-resource URL, so that the set is exactly what the rules list.
func approverGrants(t *testing.T, a *approverRelease, releaseNS string) map[permission]bool {
	t.Helper()
	want := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: a.ServiceAccount.Name, Namespace: releaseNS}
	got := map[permission]bool{}
	addRules := func(ns string, rules []rbacv1.PolicyRule, from string) {
		for _, r := range rules {
			if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
				t.Errorf("%s: rule %+v: the chart grants by resource, never by name or URL", from, r)
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						if g == "*" || res == "*" || v == "*" {
							t.Errorf("%s: wildcard in %+v", from, r)
						}
						got[permission{ns, g, res, v}] = true
					}
				}
			}
		}
	}
	checkSubjects := func(from string, s []rbacv1.Subject) {
		if len(s) != 1 || s[0] != want {
			t.Errorf("%s binds %+v: want the approver's ServiceAccount %s/%s alone", from, s, releaseNS, want.Name)
		}
	}
	bound := map[string]bool{}
	for name, b := range a.ClusterRoleBindings {
		checkSubjects("ClusterRoleBinding "+name, b.Subjects)
		role, ok := a.ClusterRoles[b.RoleRef.Name]
		if b.RoleRef.Kind != "ClusterRole" || !ok {
			t.Errorf("ClusterRoleBinding %s refers to %s %s, which the chart does not render", name, b.RoleRef.Kind, b.RoleRef.Name)
			continue
		}
		bound["ClusterRole/"+role.Name] = true
		addRules("*", role.Rules, "ClusterRole "+role.Name)
	}
	for key, b := range a.RoleBindings {
		checkSubjects("RoleBinding "+key, b.Subjects)
		role, ok := a.Roles[b.Namespace+"/"+b.RoleRef.Name]
		if b.RoleRef.Kind != "Role" || !ok {
			t.Errorf("RoleBinding %s refers to %s %s, which the chart does not render in %s", key, b.RoleRef.Kind, b.RoleRef.Name, b.Namespace)
			continue
		}
		bound["Role/"+key] = true
		addRules(b.Namespace, role.Rules, "Role "+key)
	}
	for name := range a.ClusterRoles {
		if !bound["ClusterRole/"+name] {
			t.Errorf("ClusterRole %s is bound to nothing", name)
		}
	}
	for key := range a.Roles {
		if !bound["Role/"+key] {
			t.Errorf("Role %s is bound to nothing", key)
		}
	}
	return got
}

// access is what one action kind needs on one resource.
type access struct {
	group, resource string
	verbs           []string
}

// kindAccess is the RBAC each action kind needs: the calls of
// remediate's executor, their server-side dry runs included (the same
// rules as e2e/controlplane's real-API-server test of the executor: a
// scale goes through UpdateScale, so it needs update on /scale and no
// get or patch there). A kind remediate adds fails here until the chart
// learns its RBAC.
func kindAccess(t *testing.T, k remediate.Kind, resources []string) []access {
	t.Helper()
	var out []access
	switch k {
	case remediate.RolloutRestart:
		for _, r := range resources {
			out = append(out, access{"apps", r, []string{"get", "patch"}})
		}
	case remediate.RolloutUndo:
		out = []access{{"apps", "deployments", []string{"get", "patch"}}, {"apps", "replicasets", []string{"list"}}}
	case remediate.Scale:
		for _, r := range resources {
			out = append(out, access{"apps", r, []string{"get"}}, access{"apps", r + "/scale", []string{"update"}})
		}
	case remediate.Cordon, remediate.Uncordon:
		out = []access{{"", "nodes", []string{"get", "patch"}}}
	case remediate.Evict:
		out = []access{{"", "pods", []string{"get"}}, {"", "pods/eviction", []string{"create"}}}
	default:
		t.Fatalf("remediate has an action kind %q this test does not know: give it its RBAC in the chart (foresight.approver.rules, foresight.approver.kinds) and here", k)
	}
	return out
}

// gateGrants are what every enabled approver gets: the stability gate's
// cluster-wide reads and the audit trail's Events.
var gateGrants = []permission{
	{"*", "", "nodes", "list"},
	{"*", "", "pods", "list"},
	{"*", "policy", "poddisruptionbudgets", "list"},
	{"*", "events.k8s.io", "events", "create"},
	{"*", "events.k8s.io", "events", "list"},
}

// expectedGrants is what an allow list must grant, from kindAccess: in
// each namespace an entry names, cluster-wide for "*" and node actions.
func expectedGrants(t *testing.T, allow []map[string]any) map[permission]bool {
	t.Helper()
	want := map[permission]bool{}
	for _, g := range gateGrants {
		want[g] = true
	}
	for _, e := range allow {
		k := remediate.Kind(e["action"].(string))
		res := remediate.ResourcesOf(k)
		if rs, ok := e["resources"].([]string); ok {
			res = rs
		}
		namespaces := []string{"*"}
		if ns, ok := e["namespaces"].([]string); ok && !slices.Contains(ns, "*") {
			namespaces = ns
		}
		for _, ns := range namespaces {
			for _, a := range kindAccess(t, k, res) {
				for _, v := range a.verbs {
					want[permission{ns, a.group, a.resource, v}] = true
				}
			}
		}
	}
	return want
}

// TestApproverRBAC renders allow lists and resolves the approver's
// bindings to the verbs its ServiceAccount gets: they must be exactly the
// verbs the listed kinds need, where the entries say (a Role in each
// named namespace, a ClusterRole for "*" and for node actions), plus the
// gate's reads and Events, and nothing for a kind not in the list. One
// case per kind of remediate.Kinds, with its default resources, keeps
// the chart's table of kinds in step with remediate's.
func TestApproverRBAC(t *testing.T) {
	type tc struct {
		name  string
		allow []map[string]any
		// never are grants this allow list must not give (the exact
		// comparison already refuses them; these say why it matters).
		never []permission
	}
	cases := []tc{
		{
			name:  "undo-only",
			allow: []map[string]any{{"action": "rollout-undo", "namespaces": []string{"shop"}}},
			never: []permission{
				{"*", "", "nodes", "patch"},
				{"shop", "", "pods/eviction", "create"},
				{"shop", "apps", "deployments/scale", "update"},
				{"shop", "apps", "statefulsets", "patch"},
				{"*", "apps", "deployments", "patch"},
				{"payments", "apps", "deployments", "patch"},
			},
		},
		{
			name:  "restart-narrowed",
			allow: []map[string]any{{"action": "rollout-restart", "resources": []string{"statefulsets"}, "namespaces": []string{"db", "cache"}}},
			never: []permission{{"db", "apps", "deployments", "patch"}, {"db", "apps", "daemonsets", "patch"}},
		},
		{
			name: "scale-two-namespaces",
			allow: []map[string]any{
				{"action": "scale", "resources": []string{"deployments"}, "namespaces": []string{"shop", "payments"}, "minReplicas": 2, "maxReplicas": 20},
				{"action": "scale", "resources": []string{"statefulsets"}, "namespaces": []string{"payments"}, "minReplicas": 1, "maxReplicas": 3},
			},
			never: []permission{
				{"shop", "apps", "statefulsets/scale", "update"},
				{"shop", "apps", "deployments", "patch"},
				{"shop", "apps", "deployments/scale", "patch"},
			},
		},
		{
			name: "everywhere-and-one-namespace",
			allow: []map[string]any{
				{"action": "evict", "namespaces": []string{"*"}, "selector": "foresight.io/evictable=true"},
				{"action": "rollout-undo", "namespaces": []string{"shop"}},
			},
			never: []permission{{"*", "apps", "deployments", "patch"}},
		},
		{
			name:  "nodes-only",
			allow: []map[string]any{{"action": "cordon", "selector": "node-role.kubernetes.io/worker"}},
			never: []permission{{"*", "", "pods/eviction", "create"}, {"*", "apps", "deployments", "patch"}},
		},
	}
	for _, k := range remediate.Kinds {
		e := map[string]any{"action": string(k)}
		if remediate.ResourcesOf(k)[0] != remediate.Nodes {
			e["namespaces"] = []string{"team-" + string(k)}
		}
		if k == remediate.Scale {
			e["minReplicas"], e["maxReplicas"] = 1, 5
		}
		cases = append(cases, tc{name: "kind-" + string(k), allow: []map[string]any{e}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rel := render(t, Options{ValueFiles: []string{approverValuesFile(t, c.allow, nil)}})
			a := rel.Approver
			if a == nil || a.ServiceAccount == nil || a.Deployment == nil {
				t.Fatalf("approver.enabled: want its Deployment and ServiceAccount, got %v", rel.Kinds)
			}
			got := approverGrants(t, a, rel.Deployment.Namespace)
			want := expectedGrants(t, c.allow)
			for g := range want {
				if !got[g] {
					t.Errorf("missing: %s", g)
				}
			}
			for g := range got {
				if !want[g] {
					t.Errorf("granted but not needed by the allow list: %s", g)
				}
			}
			for _, g := range c.never {
				if got[g] {
					t.Errorf("granted %s, which no listed kind needs", g)
				}
			}
		})
	}
}

// TestApproverServiceAccount: the approver runs as its own account, never
// the scaler's or the metrics API server's, and no binding of another
// component names it.
func TestApproverServiceAccount(t *testing.T) {
	rel := render(t, Options{ValueFiles: []string{approverValues, metricsAPIValues}})
	a, m := rel.Approver, rel.MetricsAPI
	if a == nil || m == nil || a.ServiceAccount == nil || m.ServiceAccount == nil || rel.ServiceAccount == nil {
		t.Fatalf("want the scaler's, the metrics API server's and the approver's ServiceAccounts, got %v", rel.Kinds)
	}
	sa := a.ServiceAccount.Name
	if pod := a.Deployment.Spec.Template.Spec; pod.ServiceAccountName != sa {
		t.Errorf("approver pods run as %q, want its own ServiceAccount %q", pod.ServiceAccountName, sa)
	}
	for _, other := range []string{rel.ServiceAccount.Name, m.ServiceAccount.Name, rel.Deployment.Spec.Template.Spec.ServiceAccountName, m.Deployment.Spec.Template.Spec.ServiceAccountName} {
		if other == sa {
			t.Errorf("the approver shares ServiceAccount %q with another component", sa)
		}
	}
	for name, b := range m.ClusterRoleBindings {
		for _, s := range b.Subjects {
			if s.Name == sa {
				t.Errorf("the metrics API server's ClusterRoleBinding %s names the approver's account", name)
			}
		}
	}
	_ = approverGrants(t, a, rel.Deployment.Namespace) // every approver binding names the approver alone
	if pod := a.Deployment.Spec.Template.Spec; pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
		t.Error("the approver acts through the API and needs its token")
	}
	if len(rel.RBACDocuments) > 0 {
		t.Errorf("RBAC outside the approver's and the metrics API server's:\n%s", strings.Join(rel.RBACDocuments, "\n---"))
	}

	custom := approverValuesFile(t, []map[string]any{{"action": "cordon"}}, map[string]any{"serviceAccount": map[string]any{"name": "remediator"}})
	rel = render(t, Options{ValueFiles: []string{custom}})
	if rel.Approver.ServiceAccount.Name != "remediator" || rel.Approver.Deployment.Spec.Template.Spec.ServiceAccountName != "remediator" {
		t.Errorf("approver.serviceAccount.name=remediator: account %q, pods run as %q", rel.Approver.ServiceAccount.Name, rel.Approver.Deployment.Spec.Template.Spec.ServiceAccountName)
	}
	for _, b := range rel.Approver.ClusterRoleBindings {
		if b.Subjects[0].Name != "remediator" {
			t.Errorf("ClusterRoleBinding %s binds %s, want remediator", b.Name, b.Subjects[0].Name)
		}
	}
}

// approverFlags are the flags of `foresight approver` (issue 8's CLI
// contract, and who may approve: self-declared link names, Slack allow
// lists). TestApproverPodStarts runs the real binary with the rendered
// arguments, so a flag it does not have fails there too.
var approverFlags = []string{
	"--remediation-config", "--approval-key-file", "--listen", "--public-url", "--slack-signing-secret-file",
	"--slack-token-file", "--result-webhook", "--identity-header", "--state-dir", "--audit-log", "--kubeconfig",
	"--allow-self-declared-approvers", "--slack-allowed-teams", "--slack-allowed-channels", "--slack-allowed-users",
}

// TestApproverObjects checks that the approver's objects fit together for
// the full values and for the least ones: the container's arguments are
// the contract's flags with the values' settings, every file a flag names
// is mounted from the Secret key or ConfigMap key it should be, the state
// directory is the one writable mount, the Service and the ServiceMonitor
// reach the approver's pod and only it, and the remediation config is one
// remediate.Parse accepts, rule for rule.
func TestApproverObjects(t *testing.T) {
	minimal := approverValuesFile(t, []map[string]any{
		{"action": "rollout-restart", "namespaces": []string{"shop"}},
	}, nil)
	for _, c := range []struct {
		name, file string
		args       []string
	}{
		{"full", approverValues, []string{
			"approver",
			"--remediation-config=/etc/foresight/remediation/remediation.yaml",
			"--approval-key-file=/etc/foresight/approver/approval-key/approval-key",
			"--listen=:8090",
			"--state-dir=/var/lib/foresight-approver",
			"--audit-log=-",
			"--public-url=https://approve.example.com",
			"--slack-signing-secret-file=/etc/foresight/approver/slack-signing-secret/signing-secret",
			"--slack-token-file=/etc/foresight/approver/slack-token/bot-token",
			"--result-webhook=https://hooks.example.com/foresight",
			"--identity-header=X-Forwarded-Email",
			"--slack-allowed-teams=T0FORESIGHT",
			"--slack-allowed-channels=C0OPS,C0SRE",
		}},
		{"minimal", minimal, []string{
			"approver",
			"--remediation-config=/etc/foresight/remediation/remediation.yaml",
			"--approval-key-file=/etc/foresight/approver/approval-key/approval-key",
			"--listen=:8090",
			"--state-dir=/var/lib/foresight-approver",
			"--audit-log=-",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rel := render(t, Options{ValueFiles: []string{c.file}})
			a := rel.Approver
			if a == nil || a.Deployment == nil || a.Service == nil || a.ConfigMap == nil || a.ServiceAccount == nil || a.PVC == nil {
				t.Fatalf("approver.enabled: want its Deployment, Service, ConfigMap, ServiceAccount and PVC, got %v", rel.Kinds)
			}
			d := a.Deployment
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("replicas %v strategy %q: want exactly one replica replaced with Recreate (bbolt has one writer)", d.Spec.Replicas, d.Spec.Strategy.Type)
			}
			pod := d.Spec.Template
			ctr := pod.Spec.Containers[0]
			if ctr.Command != nil || !slices.Equal(ctr.Args, c.args) {
				t.Errorf("command %v args\n%s\nwant\n%s", ctr.Command, strings.Join(ctr.Args, "\n"), strings.Join(c.args, "\n"))
			}
			flagValue := map[string]string{}
			for _, arg := range ctr.Args[1:] {
				name, value, _ := strings.Cut(arg, "=")
				if !slices.Contains(approverFlags, name) {
					t.Errorf("argument %s: not a flag of foresight approver (%v)", arg, approverFlags)
				}
				flagValue[name] = value
			}

			// Every file a flag names is mounted read-only from the key it
			// should come from; the state directory alone is writable.
			volumes := map[string]corev1.Volume{}
			for _, v := range pod.Spec.Volumes {
				volumes[v.Name] = v
			}
			mountOf := map[string]corev1.VolumeMount{}
			for _, m := range ctr.VolumeMounts {
				mountOf[m.MountPath] = m
				if _, ok := volumes[m.Name]; !ok {
					t.Errorf("volumeMount %s has no volume", m.Name)
				}
			}
			source := func(file string) (corev1.Volume, string) {
				t.Helper()
				m, ok := mountOf[path.Dir(file)]
				if !ok {
					t.Fatalf("%s: no volume is mounted at %s", file, path.Dir(file))
				}
				if !m.ReadOnly {
					t.Errorf("%s is mounted writable", m.MountPath)
				}
				return volumes[m.Name], path.Base(file)
			}
			secrets := map[string]string{
				"--approval-key-file":         "foresight-approval-key/approval-key",
				"--slack-signing-secret-file": "foresight-slack/signing-secret",
				"--slack-token-file":          "foresight-slack/bot-token",
			}
			for flag, want := range secrets {
				file, ok := flagValue[flag]
				if !ok {
					continue
				}
				v, key := source(file)
				if v.Secret == nil || len(v.Secret.Items) != 1 || v.Secret.Items[0].Path != key || v.Secret.SecretName+"/"+v.Secret.Items[0].Key != want {
					t.Errorf("%s=%s: volume %+v, want the key %s projected as %s", flag, file, v.VolumeSource, want, key)
				}
				if m := v.Secret.DefaultMode; m == nil || *m&0o007 != 0 {
					t.Errorf("%s: mode %v: others must not read a secret", flag, m)
				}
			}
			v, key := source(flagValue["--remediation-config"])
			if v.ConfigMap == nil || v.ConfigMap.Name != a.ConfigMap.Name {
				t.Fatalf("--remediation-config comes from %+v, want ConfigMap %s", v.VolumeSource, a.ConfigMap.Name)
			}
			text, ok := a.ConfigMap.Data[key]
			if !ok {
				t.Fatalf("ConfigMap %s has no key %s", a.ConfigMap.Name, key)
			}
			if _, ok := pod.Annotations["checksum/remediation-config"]; !ok {
				t.Error("no checksum/remediation-config annotation: a new allow list would not roll the pod, which reads it at start")
			}
			state, ok := mountOf[flagValue["--state-dir"]]
			if !ok || state.ReadOnly {
				t.Errorf("--state-dir %s: mount %+v, want a writable volume there", flagValue["--state-dir"], state)
			} else if pvc := volumes[state.Name].PersistentVolumeClaim; pvc == nil || pvc.ClaimName != a.PVC.Name {
				t.Errorf("the state volume is %+v, want the PVC %s", volumes[state.Name].VolumeSource, a.PVC.Name)
			}
			for _, m := range ctr.VolumeMounts {
				if !m.ReadOnly && m.MountPath != flagValue["--state-dir"] {
					t.Errorf("%s is mounted writable; only --state-dir may be", m.MountPath)
				}
			}
			wantMounts := 3 // config, key, state, and each Slack secret given
			for flag := range secrets {
				if _, ok := flagValue[flag]; ok && flag != "--approval-key-file" {
					wantMounts++
				}
			}
			if len(ctr.VolumeMounts) != wantMounts || len(pod.Spec.Volumes) != wantMounts {
				t.Errorf("%d mounts, %d volumes: want %d (config, key, state, and each Slack secret given)", len(ctr.VolumeMounts), len(pod.Spec.Volumes), wantMounts)
			}

			// The Service reaches the approver's pod on its port, and no
			// other Service, PDB or ServiceMonitor selects that pod.
			ports := map[string]int32{}
			for _, p := range ctr.Ports {
				ports[p.Name] = p.ContainerPort
			}
			if !strings.HasSuffix(flagValue["--listen"], fmt.Sprintf(":%d", ports["http"])) {
				t.Errorf("--listen=%s but the container's http port is %d", flagValue["--listen"], ports["http"])
			}
			if sel := labels.SelectorFromSet(a.Service.Spec.Selector); !sel.Matches(labels.Set(pod.Labels)) || sel.Matches(labels.Set(rel.Deployment.Spec.Template.Labels)) {
				t.Errorf("approver Service selects %v: want the approver's pod (%v) and not the scaler's", a.Service.Spec.Selector, pod.Labels)
			}
			if len(a.Service.Spec.Ports) != 1 || a.Service.Spec.Ports[0].Port != 8090 || a.Service.Spec.Ports[0].TargetPort.String() != "http" || ports["http"] != 8090 {
				t.Errorf("approver Service ports %+v, container ports %v: want 8090 to the container's http port", a.Service.Spec.Ports, ports)
			}
			for name, svc := range rel.Services {
				if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
					t.Errorf("the scaler's Service %s selects the approver's pod", name)
				}
			}
			if rel.PDB != nil && labels.SelectorFromSet(rel.PDB.Spec.Selector.MatchLabels).Matches(labels.Set(pod.Labels)) {
				t.Error("the scaler's PodDisruptionBudget counts the approver's pod")
			}
			if labels.SelectorFromSet(d.Spec.Selector.MatchLabels).Matches(labels.Set(rel.Deployment.Spec.Template.Labels)) {
				t.Error("the approver's Deployment selects the scaler's pods")
			}
			if (a.ServiceMonitor != nil) != (rel.ServiceMonitor != nil) {
				t.Errorf("serviceMonitor.enabled must scrape the approver with the scaler: scaler %v, approver %v", rel.ServiceMonitor != nil, a.ServiceMonitor != nil)
			}
			if a.ServiceMonitor != nil {
				spec, _ := a.ServiceMonitor["spec"].(map[string]any)
				match, _ := spec["selector"].(map[string]any)["matchLabels"].(map[string]any)
				set := labels.Set{}
				for k, v := range match {
					set[k], _ = v.(string)
				}
				if !labels.SelectorFromSet(set).Matches(labels.Set(a.Service.Labels)) {
					t.Errorf("the approver's ServiceMonitor selects %v, which its Service (%v) does not carry", set, a.Service.Labels)
				}
				eps, _ := spec["endpoints"].([]any)
				if len(eps) != 1 || eps[0].(map[string]any)["port"] != "http" || eps[0].(map[string]any)["path"] != "/metrics" {
					t.Errorf("approver ServiceMonitor endpoints %v, want /metrics on the http port", eps)
				}
				scalerSel, _ := rel.ServiceMonitor["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
				other := labels.Set{}
				for k, v := range scalerSel {
					other[k], _ = v.(string)
				}
				if labels.SelectorFromSet(other).Matches(labels.Set(a.Service.Labels)) {
					t.Error("the scaler's ServiceMonitor also selects the approver's Service")
				}
			}
			for probe, name := range map[*corev1.Probe]string{ctr.LivenessProbe: "liveness", ctr.ReadinessProbe: "readiness"} {
				if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != "/healthz" || probe.HTTPGet.Port.String() != "http" {
					t.Errorf("%s probe %+v: want /healthz on the http port (--listen)", name, probe)
				}
			}
			if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Requests.Memory().IsZero() || ctr.Resources.Limits.Memory().IsZero() {
				t.Errorf("want CPU and memory requests and a memory limit, got %+v", ctr.Resources)
			}

			// The remediation config is remediate's, and says what the values say.
			cfg, err := remediate.Parse(strings.NewReader(text))
			if err != nil {
				t.Fatalf("remediate.Parse refuses the rendered config: %v\n%s", err, text)
			}
			if c.name == "minimal" {
				if len(cfg.Allow) != 1 || cfg.Gate.Settle != remediate.DefaultSettle || cfg.Budgets[remediate.Cordon] != remediate.DefaultBudgets[remediate.Cordon] {
					t.Errorf("minimal config: %+v", cfg)
				}
				if err := cfg.Check(remediate.Action{Kind: remediate.RolloutRestart, Resource: remediate.Deployments, Namespace: "shop", Name: "api"}, nil); err != nil {
					t.Errorf("the rendered allow list refuses the restart it lists: %v", err)
				}
				return
			}
			if len(cfg.Allow) != 6 || cfg.Gate.Settle != 3*time.Minute || cfg.Gate.MaxWait != 20*time.Minute || cfg.Gate.Poll != remediate.DefaultPoll ||
				cfg.Budgets[remediate.Cordon] != 1 || cfg.Budgets[remediate.Evict] != 4 || cfg.Budgets[remediate.Scale] != remediate.DefaultBudgets[remediate.Scale] {
				t.Errorf("remediation config lost values in rendering: %+v\n%s", cfg, text)
			}
			replicas := func(n int32) *int32 { return &n }
			for _, tc := range []struct {
				a      remediate.Action
				labels map[string]string
				reason string
			}{
				{remediate.Action{Kind: remediate.Scale, Resource: remediate.Deployments, Namespace: "payments", Name: "api", Replicas: replicas(5)}, nil, ""},
				{remediate.Action{Kind: remediate.Scale, Resource: remediate.Deployments, Namespace: "shop", Name: "api", Replicas: replicas(50)}, nil, remediate.ReasonOutOfBounds},
				{remediate.Action{Kind: remediate.RolloutUndo, Resource: remediate.Deployments, Namespace: "shop", Name: "api", ToRevision: 3}, map[string]string{"app.kubernetes.io/part-of": "shop"}, ""},
				{remediate.Action{Kind: remediate.RolloutUndo, Resource: remediate.Deployments, Namespace: "payments", Name: "api", ToRevision: 3}, map[string]string{"app.kubernetes.io/part-of": "shop"}, remediate.ReasonNotAllowlisted},
				{remediate.Action{Kind: remediate.Cordon, Resource: remediate.Nodes, Name: "worker-1"}, map[string]string{"node-role.kubernetes.io/worker": ""}, ""},
			} {
				err := cfg.Check(tc.a, tc.labels)
				r, _ := remediate.IsRefusal(err)
				switch {
				case tc.reason == "" && err != nil:
					t.Errorf("%s: refused by the rendered config: %v", tc.a, err)
				case tc.reason != "" && (r == nil || r.Reason != tc.reason):
					t.Errorf("%s: %v, want a refusal %s", tc.a, err, tc.reason)
				}
			}
			if !strings.Contains(rel.Notes, a.Deployment.Name) || !strings.Contains(rel.Notes, "--approver-url=https://approve.example.com") {
				t.Errorf("NOTES do not tell how to reach and check the approver:\n%s", rel.Notes)
			}
		})
	}
}

// TestApproverPersistence: the single-use record lives on a PVC by
// default, on an existing claim when one is named, and on an emptyDir
// (lost at each restart, as the README and NOTES warn) only when
// persistence is switched off.
func TestApproverPersistence(t *testing.T) {
	allow := []map[string]any{{"action": "cordon"}}
	for _, c := range []struct {
		name        string
		persistence map[string]any
		claim       string // "" for an emptyDir
		pvc         bool
	}{
		{"default", nil, "foresight-approver", true},
		{"storage-class", map[string]any{"storageClassName": "fast", "size": "1Gi"}, "foresight-approver", true},
		{"existing-claim", map[string]any{"existingClaim": "approver-state"}, "approver-state", false},
		{"empty-dir", map[string]any{"enabled": false}, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var extra map[string]any
			if c.persistence != nil {
				extra = map[string]any{"persistence": c.persistence}
			}
			rel := render(t, Options{ValueFiles: []string{approverValuesFile(t, allow, extra)}})
			a := rel.Approver
			if (a.PVC != nil) != c.pvc {
				t.Errorf("PVC rendered: %v, want %v", a.PVC != nil, c.pvc)
			}
			var state *corev1.Volume
			for i, v := range a.Deployment.Spec.Template.Spec.Volumes {
				if v.Name == "state" {
					state = &a.Deployment.Spec.Template.Spec.Volumes[i]
				}
			}
			switch {
			case state == nil:
				t.Fatal("no state volume")
			case c.claim == "" && (state.EmptyDir == nil || state.EmptyDir.SizeLimit == nil):
				t.Errorf("state volume %+v, want an emptyDir with a size limit", state.VolumeSource)
			case c.claim != "" && (state.PersistentVolumeClaim == nil || state.PersistentVolumeClaim.ClaimName != c.claim):
				t.Errorf("state volume %+v, want the claim %s", state.VolumeSource, c.claim)
			}
			if c.name == "storage-class" {
				if sc := a.PVC.Spec.StorageClassName; sc == nil || *sc != "fast" || a.PVC.Spec.Resources.Requests.Storage().String() != "1Gi" {
					t.Errorf("PVC spec %+v, want class fast and 1Gi", a.PVC.Spec)
				}
			}
			if c.name == "default" && a.PVC.Spec.StorageClassName != nil {
				t.Errorf("storageClassName %q set, want the cluster's default class", *a.PVC.Spec.StorageClassName)
			}
			if warned := strings.Contains(rel.Notes, "emptyDir"); warned != (c.claim == "") {
				t.Errorf("NOTES warn of the emptyDir: %v, want %v", warned, c.claim == "")
			}
		})
	}
}

// TestApproverExample: the example values file renders, alone with a
// datasource, and its allow list is one remediate accepts.
func TestApproverExample(t *testing.T) {
	example := filepath.Join(Dir(), "examples", "values-approver.yaml")
	rel := render(t, Options{ValueFiles: []string{example}, Set: []string{"demo=true"}})
	if rel.Approver == nil || rel.Approver.ConfigMap == nil {
		t.Fatalf("%s renders no approver: %v", example, rel.Kinds)
	}
	if _, err := remediate.Parse(strings.NewReader(rel.Approver.ConfigMap.Data["remediation.yaml"])); err != nil {
		t.Errorf("the example's remediation config: %v", err)
	}
	checkHardening(t, rel.Approver.Deployment)
}

// With approver.networkPolicy, only the listed peers reach the approver's
// port, and the policy selects exactly the approver's pods; without it
// (the default) there is none.
func TestApproverNetworkPolicy(t *testing.T) {
	if a := render(t, Options{ValueFiles: []string{approverValuesFile(t, []map[string]any{{"action": "cordon"}}, nil)}}).Approver; a.NetworkPolicy != nil {
		t.Errorf("a NetworkPolicy without approver.networkPolicy.enabled:\n%+v", a.NetworkPolicy)
	}
	a := render(t, Options{ValueFiles: []string{approverValues}}).Approver
	np := a.NetworkPolicy
	if np == nil {
		t.Fatal("approver.networkPolicy.enabled rendered no NetworkPolicy")
	}
	if got, want := np.Spec.PodSelector.MatchLabels, a.Deployment.Spec.Template.Labels; !selectorMatches(got, want) || !selectorMatches(got, a.Service.Spec.Selector) {
		t.Errorf("podSelector %v does not select the approver's pods %v", got, want)
	}
	if len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress || len(np.Spec.Ingress) != 1 {
		t.Fatalf("want one Ingress rule, got types %v, %d rules", np.Spec.PolicyTypes, len(np.Spec.Ingress))
	}
	in := np.Spec.Ingress[0]
	if len(in.From) != 2 || in.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "ingress-nginx" ||
		in.From[1].PodSelector.MatchLabels["app.kubernetes.io/name"] != "prometheus" {
		t.Errorf("from %+v, want the two peers of %s", in.From, approverValues)
	}
	if len(in.Ports) != 1 || in.Ports[0].Port.IntValue() != int(a.Deployment.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort) {
		t.Errorf("ports %+v, want the approver's container port only", in.Ports)
	}
}

// selectorMatches reports whether every label of sel is in labels.
func selectorMatches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}
