// Command render prints the foresight chart's objects as `helm template`
// would, using Helm's Go SDK, so that no helm binary is needed:
//
//	go run ./cmd/render [--values FILE]... [--set key=value]... [--release NAME] [--namespace NS]
//
// The end-to-end tests pipe its output to a real API server with
// server-side dry-run. --notes prints the rendered NOTES.txt instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/foresight-aiops/foresight/charts"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var o charts.Options
	var notes bool
	fs := flag.NewFlagSet("render", flag.ExitOnError)
	fs.Var((*listFlag)(&o.ValueFiles), "values", "values `file` (repeatable; later files win), as helm's --values")
	fs.Var((*listFlag)(&o.Set), "set", "`key=value` (repeatable, or comma separated), as helm's --set; applied after --values")
	fs.StringVar(&o.Chart, "chart", "", "chart `directory` (default: the foresight chart)")
	fs.StringVar(&o.Release, "release", "foresight", "release `name`")
	fs.StringVar(&o.Namespace, "namespace", "foresight", "release `namespace`")
	fs.StringVar(&o.KubeVersion, "kube-version", "", "Kubernetes `version` to render for (default: Helm's)")
	fs.BoolVar(&notes, "notes", false, "print the rendered NOTES.txt instead of the objects")
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "render: unexpected argument %q (flags start with --)\n", fs.Arg(0))
		os.Exit(2)
	}
	r, err := charts.Render(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	out := r.Manifest
	if notes {
		out = r.Notes
	}
	fmt.Print(out)
}
