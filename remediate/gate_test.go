package remediate

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeProbe is a stability probe whose answer is a function of the time
// (the synctest bubble's), and which records what it was asked.
type fakeProbe struct {
	mu     sync.Mutex
	stable func(now time.Time) (bool, string)
	calls  int
	since  []time.Time
}

func (p *fakeProbe) probe(_ context.Context, since time.Time) (bool, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	p.since = append(p.since, since)
	ok, why := p.stable(time.Now())
	return ok, why, nil
}

var testGate = GateConfig{Settle: 2 * time.Minute, MaxWait: 10 * time.Minute, Poll: 10 * time.Second}

func newTestGate(p *fakeProbe) *gate {
	return newGate(testGate, p.probe, time.Now)
}

// runOne passes the gate and acts at once (began, release).
func runOne(t *testing.T, g *gate) {
	t.Helper()
	p, err := g.enter(t.Context(), "cordon", func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	p.began()
	p.release()
}

// TestGateFirstAction: the first disruptive action since the process
// started (nothing recalled) is checked too: it passes at once if the
// cluster is stable, and otherwise waits until it has been stable for
// Settle, as later actions do (the old gate let it through unchecked).
func TestGateFirstAction(t *testing.T) {
	for _, c := range []struct {
		name     string
		unstable time.Duration // unstable for this long after it arrived
		want     time.Duration // passes after this long
		probes   int
	}{
		{"stable", 0, 0, 1},
		// Polls at 0, 10s, ..., 170s unstable; stable from 180s: + 2m.
		{"nodes NotReady for 3m", 175 * time.Second, 300 * time.Second, 18 + 13},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				t0 := time.Now()
				probe := &fakeProbe{stable: func(now time.Time) (bool, string) {
					if now.Sub(t0) < c.unstable {
						return false, "nodes not Ready: n2 (Ready=False KubeletNotReady)"
					}
					return true, ""
				}}
				g := newTestGate(probe)
				var msgs []string
				p, err := g.enter(t.Context(), "kubectl cordon n1", func(m string) { msgs = append(msgs, m) })
				if err != nil {
					t.Fatal(err)
				}
				if got := time.Since(t0); got != c.want || probe.calls != c.probes {
					t.Errorf("passed after %s with %d probes, want %s with %d", got, probe.calls, c.want, c.probes)
				}
				if c.unstable == 0 && len(msgs) != 0 {
					t.Errorf("a stable cluster, yet waiting messages %q", msgs)
				}
				if c.unstable > 0 && (len(msgs) != 1 || !strings.Contains(msgs[0], "the cluster is not stable now: nodes not Ready: n2")) {
					t.Errorf("waiting messages %q", msgs)
				}
				// Pods count as new from Settle before it arrived.
				if want := t0.Add(-testGate.Settle); !probe.since[0].Equal(want) {
					t.Errorf("probe asked about pods since %s, want %s", probe.since[0], want)
				}
				p.began()
				p.release()
			})
		})
	}
}

// TestGateSettle: after an action, the next waits until the probe has said
// stable continuously for Settle; instability restarts the count.
func TestGateSettle(t *testing.T) {
	for _, c := range []struct {
		name     string
		unstable [2]time.Duration // [from, to) after the second action arrives
		want     time.Duration    // when it passes, after it arrived
	}{
		{"stable throughout", [2]time.Duration{}, 2 * time.Minute},
		// Polls at 0, 10s, ...: unstable at 30..60, stable again at 70:
		// 70s + 2m.
		{"unstable for a while", [2]time.Duration{25 * time.Second, 65 * time.Second}, 190 * time.Second},
		{"unstable at first", [2]time.Duration{0, time.Second}, 130 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var t0 time.Time
				probe := &fakeProbe{stable: func(now time.Time) (bool, string) {
					d := now.Sub(t0)
					if d >= c.unstable[0] && d < c.unstable[1] {
						return false, "1 pod(s) Pending"
					}
					return true, ""
				}}
				g := newTestGate(probe)
				began := time.Now()
				runOne(t, g)
				time.Sleep(time.Minute)
				t0 = time.Now()
				var msgs []string
				probe.since = nil
				p, err := g.enter(t.Context(), "kubectl cordon n2", func(m string) { msgs = append(msgs, m) })
				if err != nil {
					t.Fatal(err)
				}
				if got := time.Since(t0); got != c.want {
					t.Errorf("passed after %s, want %s", got, c.want)
				}
				if len(msgs) != 1 || !strings.Contains(msgs[0], "has been stable for 2m0s; the last one, cordon, began at 00:00:00 UTC") {
					t.Errorf("waiting messages %q", msgs)
				}
				for _, s := range probe.since {
					if !s.Equal(began) {
						t.Errorf("probe asked about pods since %s, want %s (when the last action began)", s, began)
					}
				}
				p.release()
			})
		})
	}
}

func TestGateGivesUpAfterMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		probe := &fakeProbe{stable: func(time.Time) (bool, string) { return true, "" }}
		g := newTestGate(probe)
		runOne(t, g)
		probe.stable = func(time.Time) (bool, string) { return false, "nodes not Ready: n1 (Ready=Unknown NodeStatusUnknown)" }
		t0 := time.Now()
		_, err := g.enter(t.Context(), "kubectl cordon n2", func(string) {})
		r, ok := IsRefusal(err)
		if !ok || r.Reason != ReasonGate {
			t.Fatalf("%v, want a gate_timeout refusal", err)
		}
		if got := time.Since(t0); got != testGate.MaxWait {
			t.Errorf("gave up after %s, want %s", got, testGate.MaxWait)
		}
		for _, want := range []string{"not stable for 2m0s (gate.settle) within 10m0s (gate.maxWait)", "n1 (Ready=Unknown NodeStatusUnknown)", "nothing was done"} {
			if !strings.Contains(r.Message, want) {
				t.Errorf("message %q lacks %q", r.Message, want)
			}
		}
		// The turn was handed on: the next one is not stuck behind it.
		probe.stable = func(time.Time) (bool, string) { return true, "" }
		p, err := g.enter(t.Context(), "kubectl cordon n3", func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		p.release()
	})
}

// TestGateOneAtATimeFIFO: while one action is in flight, nothing else
// passes however stable the cluster; waiters then pass in arrival order,
// each after its own settle period.
func TestGateOneAtATimeFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		probe := &fakeProbe{stable: func(time.Time) (bool, string) { return true, "" }}
		g := newTestGate(probe)
		g.cfg.MaxWait = 30 * time.Minute // the queue's wait counts too
		var inFlight, maxInFlight int
		var mu sync.Mutex
		g.inFlight = func(b bool) {
			mu.Lock()
			defer mu.Unlock()
			if b {
				inFlight++
			} else {
				inFlight--
			}
			maxInFlight = max(maxInFlight, inFlight)
		}
		waiting := 0
		g.waiting = func(d int) { mu.Lock(); waiting += d; mu.Unlock() }

		first, err := g.enter(t.Context(), "cordon a", func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		first.began()
		t0 := time.Now()
		var order []string
		var passedAt []time.Duration
		var wg sync.WaitGroup
		for _, name := range []string{"b", "c", "d"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var ahead string
				p, err := g.enter(t.Context(), "cordon "+name, func(m string) { ahead = m })
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, name)
				passedAt = append(passedAt, time.Since(t0))
				mu.Unlock()
				if name == "c" && !strings.Contains(ahead, "2 disruptive action(s) ahead of it (in flight or waiting)") {
					t.Errorf("c's waiting message %q", ahead)
				}
				p.began()
				time.Sleep(time.Second) // acting
				p.release()
			}()
			synctest.Wait() // b queues before c, c before d
		}
		time.Sleep(5 * time.Minute) // a is slow: nobody passes meanwhile
		synctest.Wait()
		mu.Lock()
		if len(order) != 0 || waiting != 3 {
			t.Errorf("while a was in flight: passed %v, %d waiting", order, waiting)
		}
		mu.Unlock()
		first.release()
		wg.Wait()
		if strings.Join(order, "") != "bcd" {
			t.Errorf("served in order %v, want b, c, d", order)
		}
		// b: 5m + 2m settle; c: 1s acting + 2m; d likewise.
		want := []time.Duration{7 * time.Minute, 9*time.Minute + time.Second, 11*time.Minute + 2*time.Second}
		for i := range want {
			if len(passedAt) != len(want) || passedAt[i] != want[i] {
				t.Errorf("passed at %v, want %v", passedAt, want)
				break
			}
		}
		if maxInFlight != 1 || waiting != 0 {
			t.Errorf("%d in flight at most, %d still waiting", maxInFlight, waiting)
		}
	})
}

// TestGateCancel: a waiter whose context ends leaves the queue, and the
// one behind it is served.
func TestGateCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		probe := &fakeProbe{stable: func(time.Time) (bool, string) { return true, "" }}
		g := newTestGate(probe)
		first, err := g.enter(t.Context(), "cordon a", func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		first.began()
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			_, err := g.enter(ctx, "cordon b", func(string) {})
			errc <- err
		}()
		synctest.Wait()
		done := make(chan struct{})
		go func() {
			defer close(done)
			p, err := g.enter(t.Context(), "cordon c", func(string) {})
			if err != nil {
				t.Error(err)
				return
			}
			p.release()
		}()
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("the canceled waiter got %v", err)
		}
		first.release()
		<-done
		// Canceled while polling for stability (its turn came).
		synctest.Wait()
		ctx, cancel = context.WithCancel(t.Context())
		go func() { time.Sleep(30 * time.Second); cancel() }()
		if _, err := g.enter(ctx, "cordon d", func(string) {}); !errors.Is(err, context.Canceled) {
			t.Errorf("canceled while settling: %v", err)
		}
		if len(g.queue) != 0 {
			t.Errorf("%d left in the queue", len(g.queue))
		}
	})
}

// TestGateUnusedPass: a pass released without began (the dry run failed)
// does not start a settle period for the next action.
func TestGateUnusedPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		probe := &fakeProbe{stable: func(time.Time) (bool, string) { return true, "" }}
		g := newTestGate(probe)
		p, err := g.enter(t.Context(), "cordon a", func(string) {})
		if err != nil {
			t.Fatal(err)
		}
		p.release()
		p.release() // idempotent
		t0 := time.Now()
		p, err = g.enter(t.Context(), "cordon b", func(string) {})
		if err != nil || time.Since(t0) != 0 {
			t.Fatalf("waited %s: %v", time.Since(t0), err)
		}
		p.release()
	})
}
