// Package editdist measures how far apart two short strings are, for the
// "did you mean" of error messages (a misspelt metadata key, a
// hallucinated object name).
package editdist

// Levenshtein is the edit distance between a and b, in bytes: the fewest
// insertions, deletions and substitutions that turn one into the other
// (Levenshtein 1966), by the two-row dynamic programme of Wagner and
// Fischer (1974): O(len(a)·len(b)) time, O(len(b)) space.
func Levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
