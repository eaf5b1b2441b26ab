package enrich

import (
	"slices"
	"strings"
	"time"

	"github.com/foresight-aiops/foresight/approval"
)

// Slack Block Kit limits (https://api.slack.com/reference/block-kit).
const (
	slackSectionMax  = 3000 // characters of a section's text
	slackValueMax    = 2000 // characters of a button's value
	slackConfirmMax  = 300  // characters of a confirm dialog's text
	slackBlockPrefix = "foresight_"
)

// withButtons returns n with the approval links removed from the
// proposals that get buttons (a token too long for a button keeps its
// link).
func withButtons(n Notification) Notification {
	an := *n.Analysis
	an.Proposals = slices.Clone(an.Proposals)
	for i := range an.Proposals {
		if len(an.Proposals[i].Token) <= slackValueMax {
			an.Proposals[i].URL = ""
		}
	}
	n.Analysis = &an
	return n
}

// slackBlocks renders text (already escaped) as sections, then each
// proposal as a section and an actions block with Approve (primary, with
// a confirm dialog) and Reject; the button value is the signed token, which
// foresight approver reads from the block_actions payload.
func slackBlocks(text string, props []ProposalView) []map[string]any {
	var blocks []map[string]any
	for _, chunk := range chunkLines(text, slackSectionMax) {
		blocks = append(blocks, map[string]any{"type": "section", "text": mrkdwn(chunk)})
	}
	for _, p := range props {
		if len(p.Token) > slackValueMax {
			continue
		}
		cmd := "`" + slackEscape(p.Command) + "`"
		blocks = append(blocks,
			map[string]any{"type": "section", "text": mrkdwn("*Proposed fix* (approvable until " + p.Expires.UTC().Format(time.RFC3339) + "): " + cmd)},
			map[string]any{
				"type":     "actions",
				"block_id": slackBlockPrefix + p.ID,
				"elements": []map[string]any{
					{
						"type": "button", "action_id": approval.ActionApprove, "style": "primary", "value": p.Token,
						"text": plain("Approve"),
						"confirm": map[string]any{
							"title":   plain("Run this fix?"),
							"text":    mrkdwn(truncate(cmd+"\nforesight approver re-checks the allowlist and the live object, dry-runs it, then runs it once.", slackConfirmMax)),
							"confirm": plain("Approve"),
							"deny":    plain("Cancel"),
						},
					},
					{"type": "button", "action_id": approval.ActionReject, "value": p.Token, "text": plain("Reject")},
				},
			})
	}
	return blocks
}

func mrkdwn(s string) map[string]any { return map[string]any{"type": "mrkdwn", "text": s} }
func plain(s string) map[string]any  { return map[string]any{"type": "plain_text", "text": s} }

// truncate cuts s to at most n characters (runes), marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// chunkLines splits s at line ends into pieces of at most n characters
// (a longer line is cut).
func chunkLines(s string, n int) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(strings.TrimRight(s, "\n"), "\n") {
		for len([]rune(line)) > n {
			r := []rune(line)
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
			out = append(out, string(r[:n]))
			line = string(r[n:])
		}
		if len([]rune(cur.String()))+len([]rune(line)) > n {
			out = append(out, cur.String())
			cur.Reset()
		}
		cur.WriteString(line)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
