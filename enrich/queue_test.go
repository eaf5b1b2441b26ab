package enrich

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

var t0 = time.Date(2026, 8, 22, 10, 0, 0, 0, time.UTC)

func testAlert(i int, status string) Alert {
	return Alert{
		Status:      status,
		Labels:      map[string]string{"alertname": "KubePodCrashLooping", "namespace": "prod", "pod": fmt.Sprintf("api-%d", i)},
		Annotations: map[string]string{"summary": fmt.Sprintf("pod api-%d is crash looping", i)},
		StartsAt:    t0.Add(time.Duration(i) * time.Second),
		Fingerprint: fmt.Sprintf("%016x", i),
	}
}

func records(alerts ...Alert) []Record {
	recs := make([]Record, len(alerts))
	for i, a := range alerts {
		recs[i] = Record{Received: t0, Alert: a}
	}
	return recs
}

func openTestQueue(t *testing.T, path string, o QueueOptions) *Queue {
	t.Helper()
	q, err := OpenQueue(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestQueueDedupesAndSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openTestQueue(t, path, QueueOptions{})
	added, err := q.Enqueue(ctx, records(testAlert(1, StatusFiring), testAlert(2, StatusFiring), testAlert(1, StatusFiring)))
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 2 {
		t.Fatalf("added %d, want 2 (the third is a duplicate within the payload)", len(added))
	}
	// Alertmanager re-sends the group, now with alert 1 resolved.
	added, err = q.Enqueue(ctx, records(testAlert(1, StatusFiring), testAlert(2, StatusFiring), testAlert(1, StatusResolved)))
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 1 || added[0].Alert.Status != StatusResolved {
		t.Fatalf("re-send added %+v, want only the resolution", added)
	}
	r, err := q.Take(ctx, StageNew)
	if err != nil {
		t.Fatal(err)
	}
	if r.Alert.Fingerprint != testAlert(1, "").Fingerprint {
		t.Errorf("took %s first, want the oldest", r.Alert.Fingerprint)
	}
	if err := q.Advance(r, StageRaw); err != nil {
		t.Fatal(err)
	}
	r2, err := q.Take(ctx, StageNew) // taken, neither advanced nor done: as if the process died
	if err != nil {
		t.Fatal(err)
	}
	q.Close()

	q = openTestQueue(t, path, QueueOptions{})
	waiting, taken := q.Len()
	if waiting[StageNew] != 2 || waiting[StageRaw] != 1 || taken != 0 {
		t.Fatalf("after reopen: waiting %v, taken %d; want [2 1], 0", waiting, taken)
	}
	again, err := q.Take(ctx, StageNew)
	if err != nil {
		t.Fatal(err)
	}
	if again.Seq != r2.Seq {
		t.Errorf("after reopen took seq %d, want %d (the one in progress)", again.Seq, r2.Seq)
	}
	if err := q.Done(again); err != nil {
		t.Fatal(err)
	}
	// The dedupe memory outlives the record.
	if added, _ := q.Enqueue(ctx, records(again.Alert)); len(added) != 0 {
		t.Errorf("a done alert was queued again")
	}
	if n, err := q.PruneSeen(t0.Add(time.Second)); err != nil || n != 3 {
		t.Errorf("PruneSeen = %d, %v; want 3", n, err)
	}
	if added, _ := q.Enqueue(ctx, records(again.Alert)); len(added) != 1 {
		t.Errorf("after pruning, the alert is new again")
	}
}

func TestQueueFull(t *testing.T) {
	ctx := context.Background()
	q := openTestQueue(t, filepath.Join(t.TempDir(), "q.db"), QueueOptions{MaxRecords: 3})
	if _, err := q.Enqueue(ctx, records(testAlert(1, StatusFiring), testAlert(2, StatusFiring))); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, records(testAlert(3, StatusFiring), testAlert(4, StatusFiring))); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Enqueue past the bound: %v, want ErrQueueFull", err)
	}
	r, _ := q.Take(ctx, StageNew)
	if err := q.Done(r); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, records(testAlert(3, StatusFiring), testAlert(4, StatusFiring))); err != nil {
		t.Fatalf("Enqueue after room was made: %v", err)
	}
}

func TestQueueTakeWaits(t *testing.T) {
	q := openTestQueue(t, filepath.Join(t.TempDir(), "q.db"), QueueOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Record)
	go func() {
		r, err := q.Take(ctx, StageNew)
		if err == nil {
			got <- r
		}
		close(got)
	}()
	if _, err := q.Enqueue(context.Background(), records(testAlert(7, StatusFiring))); err != nil {
		t.Fatal(err)
	}
	r, ok := <-got
	if !ok || r.Alert.Fingerprint != testAlert(7, "").Fingerprint {
		t.Fatalf("Take returned %+v, %v", r, ok)
	}
	cancel()
	if _, err := q.Take(ctx, StageNew); !errors.Is(err, context.Canceled) {
		t.Errorf("Take on a canceled context: %v", err)
	}
}
