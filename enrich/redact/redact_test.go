package redact

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	secretMark = regexp.MustCompile(`⟦([^⟧]*)⟧`)
	keepMark   = regexp.MustCompile(`⟪([^⟫]*)⟫`)
)

// TestCorpus plants every secret of testdata/corpus.txt in its context and
// requires all of them gone, and the marked context kept.
func TestCorpus(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "corpus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	text := strings.Join(lines, "\n")
	secrets := secretMark.FindAllStringSubmatch(text, -1)
	keeps := keepMark.FindAllStringSubmatch(text, -1)
	plain := keepMark.ReplaceAllString(secretMark.ReplaceAllString(text, "$1"), "$1")
	// Line by line, as logs are redacted, and the whole text at once.
	var perLine []string
	for _, l := range strings.Split(plain, "\n") {
		r, _ := Redact(l)
		perLine = append(perLine, r)
	}
	whole, findings := Redact(plain)
	for name, out := range map[string]string{"per line": strings.Join(perLine, "\n"), "whole": whole} {
		removed := 0
		for _, s := range secrets {
			if strings.Contains(out, s[1]) {
				t.Errorf("%s: secret %q survived", name, s[1])
				continue
			}
			removed++
		}
		t.Logf("%s: %d of %d planted secrets removed (%.0f%%)", name, removed, len(secrets), 100*float64(removed)/float64(len(secrets)))
		for _, k := range keeps {
			if !strings.Contains(out, k[1]) {
				t.Errorf("%s: context %q was redacted", name, k[1])
			}
		}
	}
	if len(secrets) < 40 {
		t.Errorf("corpus has %d secrets; it should plant at least 40", len(secrets))
	}
	if len(findings) == 0 {
		t.Error("no findings reported")
	}
}

func TestKeepsOrdinaryText(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "keep.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if got, f := Redact(l); got != l {
			t.Errorf("changed a line without secrets (%v):\n got %s\nwant %s", f, got, l)
		}
	}
}

func TestRedactIsIdempotent(t *testing.T) {
	in := "password=x1 Bearer abcdefgh12345678 postgres://u:p@h/db"
	once, _ := Redact(in)
	twice, f := Redact(once)
	if once != twice || len(f) != 0 {
		t.Errorf("second pass changed %q to %q (%v)", once, twice, f)
	}
}

func FuzzRedact(f *testing.F) {
	b, _ := os.ReadFile(filepath.Join("testdata", "corpus.txt"))
	for _, l := range strings.Split(string(b), "\n") {
		f.Add(secretMark.ReplaceAllString(l, "$1"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, _ := Redact(s)
		// Redacting never makes a redacted text longer than the input plus
		// its markers, and a second pass finds nothing new.
		again, found := Redact(out)
		if again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, out, again, found)
		}
		// A planted password always goes, whatever surrounds it.
		planted := s + " password=Zq9xPlanted "
		if r, _ := Redact(planted); strings.Contains(r, "Zq9xPlanted") {
			t.Fatalf("planted password survived in %q", r)
		}
	})
}
