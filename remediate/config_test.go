package remediate

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parseFile(t *testing.T, path string) (*Config, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Parse(f)
}

func TestParseGood(t *testing.T) {
	c, err := parseFile(t, "testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Allow) != 6 {
		t.Fatalf("%d rules, want 6", len(c.Allow))
	}
	if c.Gate != (GateConfig{Settle: 3 * time.Minute, MaxWait: 20 * time.Minute, Poll: 5 * time.Second}) {
		t.Errorf("gate %+v", c.Gate)
	}
	// Named budgets as written, the others defaulted.
	for k, want := range map[Kind]int{Cordon: 1, Evict: 0, RolloutUndo: DefaultBudgets[RolloutUndo], Scale: DefaultBudgets[Scale]} {
		if c.Budgets[k] != want {
			t.Errorf("budget of %s is %d, want %d", k, c.Budgets[k], want)
		}
	}
	// An empty resources list means every resource of the kind.
	if got := c.Allow[0].Resources; strings.Join(got, ",") != "deployments,statefulsets,daemonsets" {
		t.Errorf("rollout-restart resources defaulted to %v", got)
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse(strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if c.Gate != (GateConfig{Settle: DefaultSettle, MaxWait: DefaultMaxWait, Poll: DefaultPoll}) {
		t.Errorf("gate %+v", c.Gate)
	}
	if len(c.Budgets) != len(Kinds) {
		t.Errorf("budgets %v", c.Budgets)
	}
	// No rules: everything is refused.
	if err := c.Check(Action{Kind: Cordon, Resource: Nodes, Name: "n1"}, nil); err == nil {
		t.Error("an empty config allowed a cordon")
	}
}

// TestParseBad parses each testdata/bad file and checks the error says
// what to fix: the file's first line is "# want: <part of the message>".
func TestParseBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(f).ReadString('\n')
			f.Close()
			want, ok := strings.CutPrefix(strings.TrimSpace(line), "# want: ")
			if !ok {
				t.Fatalf("%s: the first line must be '# want: <message>'", path)
			}
			_, err = parseFile(t, path)
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\nwant it to contain %q", err, want)
			}
			if !strings.HasPrefix(err.Error(), "remediation config: ") {
				t.Errorf("error %q does not say it is about the remediation config", err)
			}
		})
	}
}

func i32(n int32) *int32 { return &n }

func TestActionValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		a    Action
		want string // "" for valid
	}{
		{"restart", Action{Kind: RolloutRestart, Resource: DaemonSets, Namespace: "kube-system", Name: "agent"}, ""},
		{"undo", Action{Kind: RolloutUndo, Resource: Deployments, Namespace: "shop", Name: "web", ToRevision: 3}, ""},
		{"scale to zero", Action{Kind: Scale, Resource: StatefulSets, Namespace: "db", Name: "pg", Replicas: i32(0)}, ""},
		{"cordon", Action{Kind: Cordon, Resource: Nodes, Name: "ip-10-0-0-1.ec2.internal"}, ""},
		{"evict", Action{Kind: Evict, Resource: Pods, Namespace: "shop", Name: "web-7c9d-x2"}, ""},
		{"unknown kind", Action{Kind: "delete", Resource: Pods, Namespace: "shop", Name: "web"}, `unknown action "delete": use one of rollout-restart, rollout-undo, scale, cordon, uncordon, evict`},
		{"wrong resource", Action{Kind: RolloutUndo, Resource: StatefulSets, Namespace: "shop", Name: "web", ToRevision: 1}, `rollout-undo cannot target "statefulsets": it acts on deployments`},
		{"bad name", Action{Kind: Cordon, Resource: Nodes, Name: "Node_1"}, `cordon: object name "Node_1"`},
		{"empty name", Action{Kind: Cordon, Resource: Nodes}, `cordon: object name ""`},
		{"node with namespace", Action{Kind: Uncordon, Resource: Nodes, Namespace: "default", Name: "n1"}, `uncordon: nodes have no namespace, got "default"`},
		{"no namespace", Action{Kind: Evict, Resource: Pods, Name: "web"}, `evict: namespace ""`},
		{"undo without revision", Action{Kind: RolloutUndo, Resource: Deployments, Namespace: "shop", Name: "web"}, "rollout-undo needs the revision to go back to (toRevision >= 1)"},
		{"scale without replicas", Action{Kind: Scale, Resource: Deployments, Namespace: "shop", Name: "web"}, "scale needs a replica count >= 0"},
		{"negative scale", Action{Kind: Scale, Resource: Deployments, Namespace: "shop", Name: "web", Replicas: i32(-1)}, "scale needs a replica count >= 0"},
		{"revision on restart", Action{Kind: RolloutRestart, Resource: Deployments, Namespace: "shop", Name: "web", ToRevision: 2}, "rollout-restart takes no revision"},
		{"replicas on cordon", Action{Kind: Cordon, Resource: Nodes, Name: "n1", Replicas: i32(2)}, "cordon takes no replica count"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.a.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("valid action refused: %v", err)
			case c.want != "" && err == nil:
				t.Errorf("accepted; want %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("error %q, want %q in it", err, c.want)
			}
		})
	}
}

func TestActionString(t *testing.T) {
	for _, c := range []struct {
		a    Action
		want string
	}{
		{Action{Kind: RolloutRestart, Resource: Deployments, Namespace: "shop", Name: "web"}, "kubectl rollout restart deployment/web -n shop"},
		{Action{Kind: RolloutUndo, Resource: Deployments, Namespace: "shop", Name: "web", ToRevision: 3}, "kubectl rollout undo deployment/web --to-revision=3 -n shop"},
		{Action{Kind: Scale, Resource: StatefulSets, Namespace: "db", Name: "pg", Replicas: i32(4)}, "kubectl scale statefulset/pg --replicas=4 -n db"},
		{Action{Kind: Cordon, Resource: Nodes, Name: "n1"}, "kubectl cordon n1"},
		{Action{Kind: Evict, Resource: Pods, Namespace: "shop", Name: "web-1"}, "kubectl evict pod/web-1 -n shop (Eviction API)"},
	} {
		if got := c.a.String(); got != c.want {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	c, err := parseFile(t, "testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	shop := map[string]string{"app.kubernetes.io/part-of": "shop"}
	worker := map[string]string{"node-role.kubernetes.io/worker": ""}
	scalable := map[string]string{"foresight.io/scalable": "true"}
	for _, tc := range []struct {
		name   string
		a      Action
		labels map[string]string
		want   string // "" allowed, else the Refusal reason
		msg    string // part of the message
	}{
		{"restart in scope", Action{Kind: RolloutRestart, Resource: StatefulSets, Namespace: "payments", Name: "api"}, shop, "", ""},
		{
			"restart, other namespace",
			Action{Kind: RolloutRestart, Resource: Deployments, Namespace: "kube-system", Name: "coredns"},
			shop, ReasonNotAllowlisted,
			`no rule in the remediation config's allow list covers rollout-restart of deployments in namespace "kube-system" with labels {app.kubernetes.io/part-of=shop}; add a rule`,
		},
		{"restart, selector does not match", Action{Kind: RolloutRestart, Resource: Deployments, Namespace: "shop", Name: "web"}, map[string]string{"app": "web"}, ReasonNotAllowlisted, "add a rule (action, resources, namespaces, selector) if it should be"},
		{"restart, labels unknown", Action{Kind: RolloutRestart, Resource: Deployments, Namespace: "shop", Name: "web"}, nil, ReasonNotAllowlisted, ""},
		{"undo, no selector, labels unknown", Action{Kind: RolloutUndo, Resource: Deployments, Namespace: "shop", Name: "web", ToRevision: 2}, nil, "", ""},
		{"scale within bounds, any namespace", Action{Kind: Scale, Resource: Deployments, Namespace: "anything", Name: "web", Replicas: i32(20)}, scalable, "", ""},
		{
			"scale above bounds",
			Action{Kind: Scale, Resource: Deployments, Namespace: "shop", Name: "web", Replicas: i32(21)},
			scalable, ReasonOutOfBounds,
			"scale to 21 replicas is outside the allowed [2, 20] for shop/web",
		},
		{"scale below bounds", Action{Kind: Scale, Resource: Deployments, Namespace: "shop", Name: "web", Replicas: i32(1)}, scalable, ReasonOutOfBounds, "outside the allowed [2, 20]"},
		{"scale of a statefulset", Action{Kind: Scale, Resource: StatefulSets, Namespace: "shop", Name: "db", Replicas: i32(3)}, scalable, ReasonNotAllowlisted, ""},
		{"cordon a worker", Action{Kind: Cordon, Resource: Nodes, Name: "n1"}, worker, "", ""},
		{
			"cordon a control-plane node",
			Action{Kind: Cordon, Resource: Nodes, Name: "cp1"},
			map[string]string{"node-role.kubernetes.io/control-plane": ""},
			ReasonNotAllowlisted,
			"kubectl cordon cp1 is not allowlisted: no rule in the remediation config's allow list covers cordon of nodes with labels {node-role.kubernetes.io/control-plane=}",
		},
		{"uncordon anything", Action{Kind: Uncordon, Resource: Nodes, Name: "cp1"}, nil, "", ""},
		{"evict, selector !=", Action{Kind: Evict, Resource: Pods, Namespace: "shop", Name: "web-1"}, map[string]string{"app": "web"}, "", ""},
		{"evict the db", Action{Kind: Evict, Resource: Pods, Namespace: "shop", Name: "db-0"}, map[string]string{"app": "db"}, ReasonNotAllowlisted, ""},
		{"malformed", Action{Kind: Evict, Resource: Nodes, Name: "n1"}, nil, ReasonInvalid, `evict cannot target "nodes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Check(tc.a, tc.labels)
			if tc.want == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			r, ok := IsRefusal(err)
			if !ok {
				t.Fatalf("error %v, want a Refusal %s", err, tc.want)
			}
			if r.Reason != tc.want || !strings.Contains(r.Message, tc.msg) {
				t.Errorf("refusal %s %q, want %s with %q", r.Reason, r.Message, tc.want, tc.msg)
			}
		})
	}
}

// TestMayAllow: before it reads the object, the executor refuses what no
// rule could allow whatever its labels; the selector waits for the read.
func TestMayAllow(t *testing.T) {
	c, err := parseFile(t, "testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.mayAllow(Action{Kind: RolloutRestart, Resource: Deployments, Namespace: "shop", Name: "web"}); err != nil {
		t.Errorf("a restart in shop, labels unknown yet: %v", err)
	}
	if err := c.mayAllow(Action{Kind: Cordon, Resource: Nodes, Name: "n1"}); err != nil {
		t.Errorf("a cordon, labels unknown yet: %v", err)
	}
	for _, a := range []Action{
		{Kind: RolloutRestart, Resource: Deployments, Namespace: "kube-system", Name: "coredns"},
		{Kind: Scale, Resource: StatefulSets, Namespace: "shop", Name: "db", Replicas: i32(3)},
	} {
		if r, ok := IsRefusal(c.mayAllow(a)); !ok || r.Reason != ReasonNotAllowlisted {
			t.Errorf("%s: %v, want not_allowlisted", a, r)
		}
	}
	if r, ok := IsRefusal(c.mayAllow(Action{Kind: Scale, Resource: Deployments, Namespace: "shop", Name: "web", Replicas: i32(50)})); !ok || r.Reason != ReasonOutOfBounds {
		t.Errorf("a scale to 50: %v, want out_of_bounds before any read", r)
	}
}

// FuzzParse checks that no input crashes Parse, and that what it accepts
// is valid and checks actions without panicking.
func FuzzParse(f *testing.F) {
	good, err := os.ReadFile("testdata/good.yml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(good))
	bad, _ := filepath.Glob("testdata/bad/*.yml")
	for _, p := range bad {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("allow: [{action: scale, namespaces: ['*'], minReplicas: 0, maxReplicas: 2147483647}]\n")
	probes := []Action{
		{Kind: Scale, Resource: Deployments, Namespace: "shop", Name: "web", Replicas: i32(3)},
		{Kind: Cordon, Resource: Nodes, Name: "n1"},
		{Kind: Evict, Resource: Pods, Namespace: "shop", Name: "web-1"},
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "remediation config: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if c.Gate.Settle <= 0 || c.Gate.MaxWait <= 0 || c.Gate.Poll < MinPoll {
			t.Fatalf("accepted gate %+v", c.Gate)
		}
		for _, a := range probes {
			if err := c.Check(a, map[string]string{"app": "web"}); err != nil {
				if _, ok := IsRefusal(err); !ok {
					t.Fatalf("Check returned a non-Refusal: %v", err)
				}
			}
		}
	})
}
