package remediate

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// budgetWindow is the sliding window of the hourly budgets.
const budgetWindow = time.Hour

// budget limits executions per action kind to limits[kind] in any sliding
// hour. An execution holds a reservation from the budget check until it
// either ran (commit: it counts for the next hour) or did not (cancel), so
// that two approvals waiting for the gate at once cannot both spend the
// last slot.
type budget struct {
	mu       sync.Mutex
	limits   map[Kind]int
	done     map[Kind][]time.Time // executions, oldest first
	reserved map[Kind]int
}

func newBudget(limits map[Kind]int) *budget {
	return &budget{limits: limits, done: map[Kind][]time.Time{}, reserved: map[Kind]int{}}
}

// reserve takes one slot of k's budget at now, or returns a *Refusal
// saying when the next slot frees.
func (b *budget) reserve(k Kind, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(k, now)
	limit := b.limits[k]
	used := len(b.done[k]) + b.reserved[k]
	if used >= limit {
		if limit == 0 {
			return &Refusal{Reason: ReasonBudget, Message: fmt.Sprintf("%s is forbidden by its budget (budgets: {%s: 0} in the remediation config); raise it to allow it", k, k)}
		}
		var when []string
		for _, t := range b.done[k] {
			when = append(when, t.UTC().Format("15:04:05"))
		}
		next := "when one of the pending executions ends"
		if len(b.done[k]) > 0 {
			next = "at " + b.done[k][0].Add(budgetWindow).UTC().Format("15:04:05") + " UTC"
		}
		used := "used at " + strings.Join(when, ", ") + " UTC"
		if len(when) == 0 {
			used = "none executed yet"
		}
		if b.reserved[k] > 0 {
			used += fmt.Sprintf(" (%d more running or waiting for the gate)", b.reserved[k])
		}
		return &Refusal{Reason: ReasonBudget, Message: fmt.Sprintf(
			"the hourly budget for %s is spent: %d per hour, %s; the next slot frees %s (approve it again then), or raise budgets.%s in the remediation config",
			k, limit, used, next, k)}
	}
	b.reserved[k]++
	return nil
}

// commit turns a reservation into an execution at now.
func (b *budget) commit(k Kind, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reserved[k] > 0 {
		b.reserved[k]--
	}
	b.done[k] = append(b.done[k], now)
	b.expire(k, now)
}

// cancel gives a reservation back.
func (b *budget) cancel(k Kind, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reserved[k] > 0 {
		b.reserved[k]--
	}
	b.expire(k, now)
}

// restore counts an execution at t that an earlier run of the approver
// made (recovered from its Events), keeping the executions sorted.
func (b *budget) restore(k Kind, t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := append(b.done[k], t)
	slices.SortFunc(d, func(x, y time.Time) int { return x.Compare(y) })
	b.done[k] = d
}

// remaining is what is left of k's budget at now.
func (b *budget) remaining(k Kind, now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(k, now)
	return b.remainingLocked(k)
}

func (b *budget) remainingLocked(k Kind) int {
	return max(0, b.limits[k]-len(b.done[k])-b.reserved[k])
}

// expire drops k's executions older than the window.
func (b *budget) expire(k Kind, now time.Time) {
	d := b.done[k]
	i := 0
	for i < len(d) && !d[i].Add(budgetWindow).After(now) {
		i++
	}
	if i > 0 {
		b.done[k] = append(d[:0:0], d[i:]...)
	}
}
