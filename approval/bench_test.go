package approval

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkVerify: checking a token (HMAC-SHA256 over ~500 bytes, JSON
// decode, action validation) is far below a request's other costs.
func BenchmarkVerify(b *testing.B) {
	tok := mustSign(b, testKey, testProposal(testID))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(testKey, tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaim: one fsynced bbolt transaction per decision bounds the
// approvals per second (humans click a few a minute).
func BenchmarkClaim(b *testing.B) {
	s, err := OpenStore(filepath.Join(b.TempDir(), "approvals.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	i := 0
	for b.Loop() {
		i++
		if _, _, err := s.Claim(strconv.Itoa(i), Claim{By: "x", At: t0, Expires: t0.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
}
