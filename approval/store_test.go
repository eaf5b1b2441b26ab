package approval

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openTestStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreClaimSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "approvals.db")
	s := openTestStore(t, path)
	first, _, err := s.Claim("p1", Claim{By: "slack:U1 (alice)", Decision: DecisionApprove, At: t0, Expires: t0.Add(time.Hour)})
	if err != nil || !first {
		t.Fatalf("first claim: first=%v err=%v", first, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, path)
	defer s.Close()
	first, prev, err := s.Claim("p1", Claim{By: "link:mallory (self-declared)", Decision: DecisionApprove, At: t0.Add(time.Minute)})
	if err != nil || first {
		t.Fatalf("claim after restart: first=%v err=%v, want the earlier claim", first, err)
	}
	if prev.By != "slack:U1 (alice)" || !prev.At.Equal(t0) || prev.Decision != DecisionApprove {
		t.Fatalf("claim after restart returned %+v", prev)
	}
}

func TestStoreConcurrentClaims(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "approvals.db"))
	defer s.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := 0
	for i := range 10 {
		wg.Go(func() {
			first, _, err := s.Claim("p", Claim{By: string(rune('a' + i)), At: t0})
			if err != nil {
				t.Error(err)
			}
			if first {
				mu.Lock()
				firsts++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firsts != 1 {
		t.Fatalf("%d of 10 concurrent claims were first, want exactly 1", firsts)
	}
}

func TestStorePrune(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "approvals.db"))
	defer s.Close()
	for _, c := range []struct {
		id      string
		expires time.Time
	}{{"old1", t0.Add(-PruneGrace - time.Minute)}, {"old2", t0.Add(-PruneGrace - time.Hour)}, {"recent", t0.Add(-time.Hour)}, {"live", t0.Add(time.Hour)}} {
		if _, _, err := s.Claim(c.id, Claim{By: "x", At: t0, Expires: c.expires}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Prune(t0)
	if err != nil || n != 2 {
		t.Fatalf("Prune: %d, %v; want the 2 claims expired more than PruneGrace ago", n, err)
	}
	for id, want := range map[string]bool{"old1": false, "old2": false, "recent": true, "live": true} {
		if _, ok, err := s.Get(id); err != nil || ok != want {
			t.Errorf("Get(%s): present %v (err %v), want %v", id, ok, err, want)
		}
	}
}

func TestStoreRelease(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "approvals.db"))
	defer s.Close()
	mine := Claim{By: "slack:U1 (alice)", Decision: DecisionApprove, At: t0, Expires: t0.Add(time.Hour)}
	if first, _, err := s.Claim("p", mine); err != nil || !first {
		t.Fatalf("claim: %v %v", first, err)
	}
	// Another claim's release (a stale one, say) leaves it alone.
	other := mine
	other.At = t0.Add(time.Second)
	if ok, err := s.Release("p", other); err != nil || ok {
		t.Fatalf("Release of a claim that is not the stored one: %v %v, want false", ok, err)
	}
	if ok, err := s.Release("p", mine); err != nil || !ok {
		t.Fatalf("Release: %v %v, want true", ok, err)
	}
	if _, used, _ := s.Get("p"); used {
		t.Fatal("the released proposal is still used")
	}
	if ok, err := s.Release("p", mine); err != nil || ok {
		t.Fatalf("second Release: %v %v, want false", ok, err)
	}
	// Released, the proposal can be claimed again.
	if first, _, err := s.Claim("p", other); err != nil || !first {
		t.Fatalf("claim after release: %v %v", first, err)
	}
}
