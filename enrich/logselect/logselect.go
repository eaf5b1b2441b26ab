// Package logselect picks the log lines worth a small model's context
// window: evidence first, instead of a blind tail. It is pure: no I/O.
//
// Selection, for a budget of B tokens:
//
//  1. Fold repeated lines. Two lines repeat when they are equal after
//     masking digits and hex runs (timestamps, ids, counters); the first
//     is kept with a count, "(repeated N times)".
//  2. Rank the folded lines: strong evidence first (exceptions, panics,
//     exit codes, OOM, kills, connection, DNS, TLS, permission, disk,
//     probe and configuration failures), then weak evidence (lines that only
//     say "error" or "warn": a level, not a cause), then the first HeadLines
//     lines after start, then the last TailLines lines, then the rest from
//     the end backwards. Within each evidence tier the first and the last
//     come before the middle ones: the first error is usually the cause,
//     the last the symptom.
//  3. Take lines in rank order while their estimated tokens fit in B, and
//     print them in log order, with "[... N lines omitted ...]" for gaps.
package logselect

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// EstimateTokens is a conservative token count for s: one token per three
// bytes, plus one per line. BPE tokenizers of current open models
// (Llama 3, Qwen, Mistral) average 3.5-4.5 bytes per token on English and
// logs; counting three overestimates, so that a prompt built to the
// estimate fits the real window.
func EstimateTokens(s string) int {
	return (len(s)+2)/3 + strings.Count(s, "\n")
}

// Options configure Select; zero values take the defaults.
type Options struct {
	// HeadLines after start and TailLines at the end rank after evidence;
	// 0 means 10 and 20.
	HeadLines, TailLines int
	// MaxLineBytes truncates longer lines; 0 means 400.
	MaxLineBytes int
}

// strongPhrases mark the failures that explain incidents: crashes, exits,
// resources and limits, network, DNS, TLS, permissions, probes, bad
// configuration. Matched case-insensitively as substrings.
var strongPhrases = strings.Split("exception,traceback,panic,fatal,crash,exited,exit code,exit status,killed,oom,"+
	"out of memory,outofmemory,cannot allocate,segmentation,sigsegv,sigkill,refused,econnrefused,econnreset,"+
	"etimedout,reset by peer,timed out,timeout,deadline exceeded,unreachable,no route to host,no such host,"+
	"name resolution,nxdomain,servfail,permission denied,access denied,forbidden,unauthorized,"+
	"authentication failed,x509,certificate,tls handshake,no space left,disk full,read-only,readonly,"+
	"no such file,not found,not allowed,invalid,failed,failure,cannot,unable to,could not,denied,too many,"+
	"already in use,already exists,unknown,missing,not present,backoff,back-off,unhealthy,notready,"+
	"not healthy,evict,throttl,exceed,quota,limit,capped,maximum,max replicas", ",")

// strongCamel matches exception class names: ModuleNotFoundError,
// NullPointerException.
var strongCamel = regexp.MustCompile(`[a-z](?:Error|Exception)\b`)

func isStrong(line string) bool {
	if strongCamel.MatchString(line) {
		return true
	}
	l := strings.ToLower(line)
	for _, p := range strongPhrases {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}

// weak marks generic error lines: "level=error", "ERROR", "err=".
var weak = regexp.MustCompile(`(?i)\b(?:error|err|errno|warn(?:ing)?|critical|severe|alert|emerg)\b`)

var mask = regexp.MustCompile(`[0-9a-fA-F]{6,}|[0-9]+`)

// Line is one selected line.
type Line struct {
	Index int    // position in the input, 0-based
	Text  string // possibly truncated
	Count int    // occurrences folded into it
	Gap   int    // input lines left out just before it (not folded into a shown line)
}

// Selection is what Select keeps.
type Selection struct {
	Lines    []Line
	Trailing int // input lines left out after the last shown line
}

// Select returns the lines to show within budget tokens, in log order.
func Select(lines []string, budget int, o Options) Selection {
	if o.HeadLines <= 0 {
		o.HeadLines = 10
	}
	if o.TailLines <= 0 {
		o.TailLines = 20
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 400
	}
	// 1. Fold.
	var folded []Line
	byKey := map[string]int{}
	owner := make([]int, len(lines)) // folded line of each input line, -1 for blanks
	for i, l := range lines {
		owner[i] = -1
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		key := mask.ReplaceAllString(l, "#")
		if j, ok := byKey[key]; ok {
			folded[j].Count++
			owner[i] = j
			continue
		}
		owner[i] = len(folded)
		if len(l) > o.MaxLineBytes {
			l = l[:o.MaxLineBytes] + "…"
		}
		byKey[key] = len(folded)
		folded = append(folded, Line{Index: i, Text: l, Count: 1})
	}
	// 2. Rank.
	var strongs, weaks, rest []int
	for j, l := range folded {
		switch {
		case isStrong(l.Text):
			strongs = append(strongs, j)
		case weak.MatchString(l.Text):
			weaks = append(weaks, j)
		default:
			rest = append(rest, j)
		}
	}
	order := make([]int, 0, len(folded))
	for _, ev := range [][]int{strongs, weaks} {
		for lo, hi := 0, len(ev)-1; lo <= hi; lo, hi = lo+1, hi-1 {
			order = append(order, ev[lo])
			if hi != lo {
				order = append(order, ev[hi])
			}
		}
	}
	seen := make([]bool, len(folded))
	for _, j := range order {
		seen[j] = true
	}
	add := func(j int) {
		if !seen[j] {
			seen[j] = true
			order = append(order, j)
		}
	}
	for k := 0; k < len(rest) && k < o.HeadLines; k++ {
		add(rest[k])
	}
	for k := len(rest) - 1; k >= 0 && k >= len(rest)-o.TailLines; k-- {
		add(rest[k])
	}
	for k := len(rest) - 1; k >= 0; k-- {
		add(rest[k])
	}
	// 3. Fill the budget (gap markers are paid for as they may appear).
	var chosen []int
	used := 0
	for _, j := range order {
		cost := EstimateTokens(render(folded[j])+"\n") + 12 // and a gap marker
		if used+cost > budget {
			continue
		}
		used += cost
		chosen = append(chosen, j)
	}
	sort.Ints(chosen)
	shown := make([]bool, len(folded))
	for _, j := range chosen {
		shown[j] = true
	}
	var sel Selection
	gap := 0
	for i, j := range owner {
		switch {
		case j >= 0 && shown[j] && folded[j].Index == i:
			l := folded[j]
			l.Gap, gap = gap, 0
			sel.Lines = append(sel.Lines, l)
		case j < 0 || !shown[j]:
			gap++
		}
	}
	sel.Trailing = gap
	return sel
}

func render(l Line) string {
	if l.Count > 1 {
		return fmt.Sprintf("%s (repeated %d times)", l.Text, l.Count)
	}
	return l.Text
}

// String prints the selected lines with markers for omitted stretches.
func (s Selection) String() string {
	var b strings.Builder
	for _, l := range s.Lines {
		if l.Gap > 0 {
			fmt.Fprintf(&b, "[... %d lines omitted ...]\n", l.Gap)
		}
		b.WriteString(render(l))
		b.WriteByte('\n')
	}
	if s.Trailing > 0 && len(s.Lines) > 0 {
		fmt.Fprintf(&b, "[... %d lines omitted ...]\n", s.Trailing)
	}
	return b.String()
}
