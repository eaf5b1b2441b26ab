package enrich

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// anonymizedLabels are the alert labels whose values name cluster objects.
var anonymizedLabels = []string{"namespace", "pod", "container", "node", "deployment", "statefulset", "daemonset", "job_name", "service", "cronjob", "persistentvolumeclaim", "horizontalpodautoscaler"}

// Anonymizer replaces the names of an alert's objects by placeholders
// ("pod-1", "namespace-1") in everything sent to the model, and puts the
// real names back in the answer. Unlike a plain string replace, names
// match only as whole names (not inside a longer name), longer names are
// replaced first (a pod before the deployment its name starts with), and
// names are quoted for the regular expression, so a name with "." cannot
// match other text.
type Anonymizer struct {
	forward  []pair
	backward []pair
}

type pair struct {
	re   *regexp.Regexp
	with string
}

// nameChar is what may continue a Kubernetes name.
const nameChar = `A-Za-z0-9_.-`

func wholeName(s string) *regexp.Regexp {
	return regexp.MustCompile(`(^|[^` + nameChar + `])` + regexp.QuoteMeta(s) + `($|[^` + nameChar + `])`)
}

// NewAnonymizer builds the mapping from an alert's labels and the objects
// met while gathering context (kind -> names; may be nil).
func NewAnonymizer(labels map[string]string, objects map[string][]string) *Anonymizer {
	seen := map[string]string{}
	count := map[string]int{}
	type name struct{ real, alias string }
	var names []name
	for _, l := range anonymizedLabels {
		v := labels[l]
		if v == "" || len(v) < 3 {
			continue // too short to replace safely
		}
		if _, ok := seen[v]; ok {
			continue
		}
		kind := strings.TrimSuffix(l, "_name")
		count[kind]++
		alias := fmt.Sprintf("%s-%d", kind, count[kind])
		seen[v] = alias
		names = append(names, name{v, alias})
	}
	kinds := make([]string, 0, len(objects))
	for k := range objects {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		for _, v := range objects[kind] {
			if _, ok := seen[v]; ok || len(v) < 3 {
				continue
			}
			count[kind]++
			alias := fmt.Sprintf("%s-%d", kind, count[kind])
			seen[v] = alias
			names = append(names, name{v, alias})
		}
	}
	sort.Slice(names, func(i, j int) bool { return len(names[i].real) > len(names[j].real) })
	a := &Anonymizer{}
	for _, n := range names {
		a.forward = append(a.forward, pair{wholeName(n.real), n.alias})
		a.backward = append(a.backward, pair{wholeName(n.alias), n.real})
	}
	return a
}

func apply(ps []pair, s string) string {
	for _, p := range ps {
		// Twice: adjacent matches share a boundary character.
		for range 2 {
			s = p.re.ReplaceAllString(s, "${1}"+strings.ReplaceAll(p.with, "$", "$$")+"${2}")
		}
	}
	return s
}

// Hide replaces real names by placeholders.
func (a *Anonymizer) Hide(s string) string { return apply(a.forward, s) }

// Reveal puts the real names back.
func (a *Anonymizer) Reveal(s string) string { return apply(a.backward, s) }
