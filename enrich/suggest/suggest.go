// Package suggest checks the commands a model suggests, and never runs
// them: it parses each as a kubectl command line, refuses shell
// composition, classifies it as read-only or mutating, and checks every
// namespace, kind and object it names against the cluster, naming the
// nearest real object when one does not exist.
package suggest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/foresight-aiops/foresight/internal/editdist"
)

// Verdicts, from the best to the worst.
const (
	ReadOnly      = "read_only"
	NeedsHuman    = "needs_human"
	UnknownObject = "unknown_object"
	Rejected      = "rejected"
)

// Cluster answers what exists. Names lists the names of a kind (a
// canonical plural such as "deployments") in a namespace ("" for
// cluster-scoped kinds).
type Cluster interface {
	Namespaces(ctx context.Context) ([]string, error)
	Names(ctx context.Context, kind, namespace string) ([]string, error)
}

// ErrNotChecked is returned by a Cluster for kinds it does not read
// (Secrets).
var ErrNotChecked = errors.New("not checked")

// Result is the verdict on one command.
type Result struct {
	Command  string
	Verdict  string
	Problems []string
}

// Command is a parsed kubectl command line.
type Command struct {
	Args      []string // positional arguments after "kubectl"
	Namespace string   // -n, --namespace; "" if not given
	AllNS     bool
	Flags     map[string]string
}

type kindInfo struct {
	plural     string
	namespaced bool
}

var kinds = map[string]kindInfo{}

func init() {
	for _, k := range []struct {
		names      string
		plural     string
		namespaced bool
	}{
		{"po pod pods", "pods", true},
		{"deploy deployment deployments deployment.apps", "deployments", true},
		{"sts statefulset statefulsets statefulset.apps", "statefulsets", true},
		{"ds daemonset daemonsets daemonset.apps", "daemonsets", true},
		{"rs replicaset replicasets replicaset.apps", "replicasets", true},
		{"svc service services", "services", true},
		{"cm configmap configmaps", "configmaps", true},
		{"secret secrets", "secrets", true},
		{"job jobs job.batch", "jobs", true},
		{"cj cronjob cronjobs", "cronjobs", true},
		{"ing ingress ingresses", "ingresses", true},
		{"pvc persistentvolumeclaim persistentvolumeclaims", "persistentvolumeclaims", true},
		{"hpa horizontalpodautoscaler horizontalpodautoscalers", "horizontalpodautoscalers", true},
		{"ep endpoints", "endpoints", true},
		{"sa serviceaccount serviceaccounts", "serviceaccounts", true},
		{"ev event events", "events", true},
		{"no node nodes", "nodes", false},
		{"ns namespace namespaces", "namespaces", false},
		{"pv persistentvolume persistentvolumes", "persistentvolumes", false},
	} {
		for _, n := range strings.Fields(k.names) {
			kinds[n] = kindInfo{k.plural, k.namespaced}
		}
	}
}

// Singular is the kind's singular name for messages.
func singular(plural string) string {
	switch plural {
	case "ingresses":
		return "ingress"
	case "endpoints":
		return "endpoints"
	}
	return strings.TrimSuffix(plural, "s")
}

var readOnlyVerbs = map[string]bool{
	"get": true, "describe": true, "logs": true, "top": true, "events": true, "explain": true,
	"api-resources": true, "api-versions": true, "version": true, "cluster-info": true,
}

// ShellError is a command line that composes shell commands.
type ShellError struct{ What string }

func (e *ShellError) Error() string {
	return "shell composition (" + e.What + "): run one kubectl command at a time"
}

// Split splits a command line into words as a POSIX shell would (quotes
// and backslashes), refusing everything that composes commands or
// expands: | ; & && || > < $( ` and newlines.
func Split(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				switch {
				case line[j] == '\\' && j+1 < len(line):
					j++
					cur.WriteByte(line[j])
					continue
				case line[j] == '`' || (line[j] == '$' && j+1 < len(line) && (line[j+1] == '(' || line[j+1] == '{')):
					return nil, &ShellError{"command substitution"}
				}
				cur.WriteByte(line[j])
			}
			if j >= len(line) {
				return nil, errors.New("unterminated double quote")
			}
			i = j
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '|':
			return nil, &ShellError{"pipe"}
		case c == ';':
			return nil, &ShellError{"';'"}
		case c == '&':
			return nil, &ShellError{"'&'"}
		case c == '>' || c == '<':
			return nil, &ShellError{"redirection"}
		case c == '`' || (c == '$' && i+1 < len(line) && (line[i+1] == '(' || line[i+1] == '{')):
			return nil, &ShellError{"command substitution"}
		case c == '$':
			return nil, &ShellError{"variable expansion"}
		case c == '\n' || c == '\r':
			return nil, &ShellError{"several lines"}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// flags that take a value when given without "=".
var valueFlags = map[string]bool{
	"-n": true, "--namespace": true, "-c": true, "--container": true, "-l": true, "--selector": true,
	"-o": true, "--output": true, "--tail": true, "--since": true, "--replicas": true, "--to-revision": true,
	"-f": true, "--filename": true, "--context": true, "--cluster": true, "--field-selector": true,
	"--for": true, "--sort-by": true, "--types": true, "--grace-period": true, "--timeout": true, "-p": true, "--patch": true,
	"--type": true, "--image": true, "--kubeconfig": true, "--user": true, "-i": false, "--limit-bytes": true,
}

// Parse parses a kubectl command line.
func Parse(line string) (Command, error) {
	line = strings.TrimSpace(strings.Trim(strings.TrimSpace(line), "`"))
	line = strings.TrimPrefix(line, "$ ")
	words, err := Split(line)
	if err != nil {
		return Command{}, err
	}
	if len(words) == 0 || words[0] != "kubectl" {
		return Command{}, errors.New("not a kubectl command")
	}
	c := Command{Flags: map[string]string{}}
	rest := words[1:]
	for i := 0; i < len(rest); i++ {
		w := rest[i]
		if w == "--" {
			break // what follows is for the container (exec): not ours to read
		}
		if !strings.HasPrefix(w, "-") || w == "-" {
			c.Args = append(c.Args, w)
			continue
		}
		name, val, hasVal := strings.Cut(w, "=")
		if !hasVal && valueFlags[name] && i+1 < len(rest) {
			val = rest[i+1]
			i++
		}
		// -nprod
		if !hasVal && strings.HasPrefix(name, "-n") && len(name) > 2 && !strings.HasPrefix(name, "--") {
			name, val = "-n", name[2:]
		}
		c.Flags[name] = val
		switch name {
		case "-n", "--namespace":
			c.Namespace = val
		case "-A", "--all-namespaces":
			c.AllNS = true
		}
	}
	return c, nil
}

// objectRef is a kind and name named by a command.
type objectRef struct{ kind, name string }

// refs returns the verb and the objects a command names.
func (c Command) refs() (verb string, refs []objectRef, unknownKind string) {
	if len(c.Args) == 0 {
		return "", nil, ""
	}
	verb = c.Args[0]
	args := c.Args[1:]
	if verb == "rollout" || verb == "auth" || verb == "set" || verb == "config" {
		if len(args) > 0 {
			verb += " " + args[0]
			args = args[1:]
		}
	}
	switch c.Args[0] {
	case "logs", "exec", "attach", "port-forward", "cp":
		if len(args) > 0 {
			if k, n, ok := strings.Cut(args[0], "/"); ok {
				refs = append(refs, objectRef{k, n})
			} else {
				refs = append(refs, objectRef{"pod", args[0]})
			}
		}
		return verb, refs, ""
	case "cordon", "uncordon", "drain":
		for _, a := range args {
			refs = append(refs, objectRef{"node", a})
		}
		return verb, refs, ""
	case "events":
		if f := c.Flags["--for"]; f != "" {
			if k, n, ok := strings.Cut(f, "/"); ok {
				refs = append(refs, objectRef{k, n})
			}
		}
		return verb, refs, ""
	case "top":
		if len(args) > 0 {
			k := args[0]
			for _, n := range args[1:] {
				refs = append(refs, objectRef{k, n})
			}
		}
		return verb, refs, ""
	}
	if len(args) == 0 {
		return verb, nil, ""
	}
	if strings.Contains(args[0], "/") {
		for _, a := range args {
			if k, n, ok := strings.Cut(a, "/"); ok {
				refs = append(refs, objectRef{k, n})
			}
		}
		return verb, refs, ""
	}
	kind := strings.ToLower(args[0])
	if strings.Contains(kind, ",") {
		return verb, nil, "" // get pods,svc: several kinds, nothing named
	}
	if _, ok := kinds[kind]; !ok {
		return verb, nil, args[0]
	}
	if len(args) == 1 {
		refs = append(refs, objectRef{kind, ""})
	}
	for _, n := range args[1:] {
		refs = append(refs, objectRef{kind, n})
	}
	return verb, refs, ""
}

var mutatingVerbs = map[string]bool{
	"delete": true, "apply": true, "create": true, "edit": true, "patch": true, "replace": true, "scale": true,
	"autoscale": true, "cordon": true, "uncordon": true, "drain": true, "taint": true, "label": true,
	"annotate": true, "exec": true, "cp": true, "run": true, "expose": true, "debug": true, "attach": true,
	"port-forward": true, "proxy": true,
}

// Checker checks commands against a cluster; a nil Cluster checks syntax
// and verbs only.
type Checker struct {
	cluster Cluster
}

// NewChecker returns a checker over cluster (nil: no cluster checks).
func NewChecker(cluster Cluster) *Checker { return &Checker{cluster: cluster} }

// Check judges one suggested command; defaultNS is the alert's namespace,
// used when the command names none.
func (ch *Checker) Check(ctx context.Context, line, defaultNS string) Result {
	r := Result{Command: strings.TrimSpace(line), Verdict: ReadOnly}
	c, err := Parse(line)
	if err != nil {
		r.Verdict = Rejected
		r.Problems = append(r.Problems, err.Error())
		return r
	}
	verb, refs, unknownKind := c.refs()
	switch {
	case verb == "":
		r.Verdict = Rejected
		r.Problems = append(r.Problems, "kubectl without a command")
		return r
	case readOnlyVerbs[verb], verb == "rollout status", verb == "rollout history", verb == "auth can-i", verb == "config view", verb == "config current-context":
	case mutatingVerbs[c.Args[0]], strings.HasPrefix(verb, "rollout "), strings.HasPrefix(verb, "set "):
		r.Verdict = NeedsHuman
		r.Problems = append(r.Problems, "changes the cluster: a human must decide to run it")
	default:
		r.Verdict = NeedsHuman
		r.Problems = append(r.Problems, fmt.Sprintf("unknown kubectl command %q: a human must read it", verb))
	}
	if unknownKind != "" {
		r.Verdict = UnknownObject
		r.Problems = append(r.Problems, fmt.Sprintf("unknown kind %q", unknownKind))
	}
	if ch.cluster == nil || c.Flags["--context"] != "" || c.Flags["--kubeconfig"] != "" {
		return r
	}
	ns := c.Namespace
	if ns == "" && !c.AllNS {
		ns = defaultNS
		for _, ref := range refs {
			if k, ok := kinds[strings.ToLower(ref.kind)]; ok && k.namespaced && defaultNS != "" {
				r.Problems = append(r.Problems, "no -n: kubectl uses your current namespace; the alert's is "+defaultNS)
				break
			}
		}
	}
	if ns != "" && c.Namespace != "" {
		if all, err := ch.cluster.Namespaces(ctx); err == nil && !contains(all, ns) {
			r.Verdict = UnknownObject
			r.Problems = append(r.Problems, fmt.Sprintf("no namespace %s%s", ns, nearest(ns, map[string][]string{"namespace": all})))
			return r
		}
	}
	for _, ref := range refs {
		ki, ok := kinds[strings.ToLower(ref.kind)]
		if !ok {
			r.Verdict = UnknownObject
			r.Problems = append(r.Problems, fmt.Sprintf("unknown kind %q", ref.kind))
			continue
		}
		if ref.name == "" {
			continue
		}
		scope := ns
		if !ki.namespaced {
			scope = ""
		} else if scope == "" {
			continue // all namespaces or none known: nothing to check against
		}
		names, err := ch.cluster.Names(ctx, ki.plural, scope)
		if errors.Is(err, ErrNotChecked) {
			r.Problems = append(r.Problems, fmt.Sprintf("%s %s not checked: foresight does not read %s", singular(ki.plural), ref.name, ki.plural))
			continue
		}
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("could not check %s %s: %v", singular(ki.plural), ref.name, err))
			continue
		}
		if contains(names, ref.name) {
			continue
		}
		r.Verdict = UnknownObject
		where := ""
		if scope != "" {
			where = " in " + scope
		}
		cands := map[string][]string{singular(ki.plural): names}
		if ki.namespaced {
			for _, other := range []string{"deployments", "statefulsets", "daemonsets", "pods", "services", "jobs", "cronjobs"} {
				if other == ki.plural {
					continue
				}
				if n, err := ch.cluster.Names(ctx, other, scope); err == nil {
					cands[singular(other)] = n
				}
			}
		}
		r.Problems = append(r.Problems, fmt.Sprintf("no %s %s%s%s", singular(ki.plural), ref.name, where, nearest(ref.name, cands)))
	}
	return r
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// nearest names the most similar candidate: "; statefulset postgres-db
// exists", or "" when nothing is similar enough (similarity below 0.3).
// Similarity is the larger of the Jaccard index of the names' words (split
// on - . _ and digits) and 1 - Levenshtein distance / longer length.
func nearest(name string, cands map[string][]string) string {
	best, bestKind, bestScore := "", "", 0.3
	kindsSorted := make([]string, 0, len(cands))
	for k := range cands {
		kindsSorted = append(kindsSorted, k)
	}
	sort.Strings(kindsSorted)
	for _, k := range kindsSorted {
		for _, c := range cands[k] {
			if s := similarity(name, c); s > bestScore {
				best, bestKind, bestScore = c, k, s
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; %s %s exists", bestKind, best)
}

func similarity(a, b string) float64 {
	wa, wb := words(a), words(b)
	inter := 0
	for w := range wa {
		if wb[w] {
			inter++
		}
	}
	union := len(wa) + len(wb) - inter
	j := 0.0
	if union > 0 {
		j = float64(inter) / float64(union)
	}
	l := 1 - float64(editdist.Levenshtein(a, b))/float64(max(len(a), len(b), 1))
	return max(j, l)
}

func words(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return r == '-' || r == '.' || r == '_' || (r >= '0' && r <= '9')
	}) {
		out[w] = true
	}
	return out
}
