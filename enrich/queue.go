package enrich

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Stage is how far an alert has gone through the pipeline. A record is
// deleted once it is Done; on restart every stored record resumes at its
// stage, so delivery is at least once.
type Stage uint8

// The stages of a queued alert.
const (
	// StageNew: stored, raw alert not yet handed to the sinks.
	StageNew Stage = iota
	// StageRaw: raw alert handed to the sinks, analysis pending.
	StageRaw
	numStages
)

func (s Stage) String() string {
	switch s {
	case StageNew:
		return "new"
	case StageRaw:
		return "analysis"
	}
	return fmt.Sprintf("stage%d", uint8(s))
}

// Record is one queued alert with what the sinks need to know about the
// notification it came in.
type Record struct {
	Seq         uint64    `json:"seq"`
	Stage       Stage     `json:"stage"`
	Received    time.Time `json:"received"`
	Receiver    string    `json:"receiver,omitempty"`
	GroupKey    string    `json:"groupKey,omitempty"`
	ExternalURL string    `json:"externalURL,omitempty"`
	Alert       Alert     `json:"alert"`
	// Held marks a raw alert held back to be sent with its analysis
	// (PipelineOptions.HoldRaw).
	Held bool `json:"held,omitempty"`
}

// ErrQueueFull is returned by Enqueue when the queue holds its maximum:
// the intake answers 503 so that Alertmanager retries later.
var ErrQueueFull = errors.New("alert queue is full")

var (
	bucketQueue = []byte("queue") // seq (8 bytes, big endian) -> Record JSON
	bucketSeen  = []byte("seen")  // DedupeKey -> first seen (unix nanoseconds, 8 bytes)
)

// Queue is the durable alert queue: a bbolt file. Enqueue returns only
// after the records are synced to disk. The order of work and the stage of
// each record are also kept in memory (a few bytes per record); the records
// themselves are read from disk when taken, so memory stays small however
// many alerts wait.
type Queue struct {
	db  *bolt.DB
	max int

	mu      sync.Mutex
	pending [numStages][]uint64 // seqs waiting at each stage, oldest first
	taken   int                 // records taken and not yet advanced or done
	wake    [numStages]chan struct{}
}

// QueueOptions configure OpenQueue. Zero values take the defaults.
type QueueOptions struct {
	// MaxRecords bounds the records stored (waiting or in progress); beyond
	// it Enqueue returns ErrQueueFull. 0 means 100,000.
	MaxRecords int
	// OpenTimeout bounds the wait for the file lock held by another
	// process. 0 means 10 s.
	OpenTimeout time.Duration
}

// OpenQueue opens or creates the queue file at path and loads the order of
// the records it holds.
func OpenQueue(path string, o QueueOptions) (*Queue, error) {
	if o.MaxRecords <= 0 {
		o.MaxRecords = 100_000
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 10 * time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.OpenTimeout})
	if err != nil {
		return nil, fmt.Errorf("open alert queue %s: %w (is another foresight enrich using it? give each its own --queue-file)", path, err)
	}
	q := &Queue{db: db, max: o.MaxRecords}
	for i := range q.wake {
		q.wake[i] = make(chan struct{}, 1)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		qb, err := tx.CreateBucketIfNotExists(bucketQueue)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketSeen); err != nil {
			return err
		}
		return qb.ForEach(func(k, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil || r.Stage >= numStages {
				// A record this version cannot read would block the queue
				// forever: start it over as new rather than drop it.
				r.Stage = StageNew
			}
			q.pending[r.Stage] = append(q.pending[r.Stage], binary.BigEndian.Uint64(k))
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("load alert queue %s: %w", path, err)
	}
	return q, nil
}

// Close closes the file. Records not done stay for the next OpenQueue.
func (q *Queue) Close() error { return q.db.Close() }

// Len returns the records waiting at each stage and the records taken.
func (q *Queue) Len() (waiting [numStages]int, taken int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.pending {
		waiting[i] = len(q.pending[i])
	}
	return waiting, q.taken
}

func (q *Queue) stored() int {
	n := q.taken
	for i := range q.pending {
		n += len(q.pending[i])
	}
	return n
}

// Enqueue stores the alerts that are not duplicates of one already seen
// and returns them as records. It returns once they are on disk. Concurrent
// calls are batched into one transaction (and one fsync).
func (q *Queue) Enqueue(ctx context.Context, recs []Record) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	full := q.stored()+len(recs) > q.max
	q.mu.Unlock()
	if full {
		return nil, ErrQueueFull
	}
	var added []Record
	err := q.db.Batch(func(tx *bolt.Tx) error {
		added = added[:0] // Batch may run the function again
		qb, seen := tx.Bucket(bucketQueue), tx.Bucket(bucketSeen)
		inTx := map[string]bool{}
		for _, r := range recs {
			key := []byte(r.Alert.DedupeKey())
			if seen.Get(key) != nil || inTx[string(key)] {
				continue
			}
			inTx[string(key)] = true
			seq, err := qb.NextSequence()
			if err != nil {
				return err
			}
			r.Seq, r.Stage = seq, StageNew
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := qb.Put(seqKey(seq), v); err != nil {
				return err
			}
			var ts [8]byte
			binary.BigEndian.PutUint64(ts[:], uint64(r.Received.UnixNano()))
			if err := seen.Put(key, ts[:]); err != nil {
				return err
			}
			added = append(added, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store alerts: %w", err)
	}
	if len(added) > 0 {
		q.mu.Lock()
		for _, r := range added {
			q.pending[StageNew] = append(q.pending[StageNew], r.Seq)
		}
		q.mu.Unlock()
		q.signal(StageNew)
	}
	return added, nil
}

func (q *Queue) signal(s Stage) {
	select {
	case q.wake[s] <- struct{}{}:
	default:
	}
}

// Take waits for the oldest record waiting at stage s and returns it; the
// caller must then Advance or Done it. Records taken but neither advanced
// nor done when the process dies are taken again after a restart.
func (q *Queue) Take(ctx context.Context, s Stage) (Record, error) {
	for {
		q.mu.Lock()
		if len(q.pending[s]) > 0 {
			seq := q.pending[s][0]
			q.pending[s] = q.pending[s][1:]
			q.taken++
			more := len(q.pending[s]) > 0
			q.mu.Unlock()
			if more {
				q.signal(s) // let another taker in
			}
			r, err := q.get(seq)
			if err != nil {
				q.mu.Lock()
				q.taken--
				q.mu.Unlock()
				return Record{}, err
			}
			r.Stage = s
			return r, nil
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return Record{}, ctx.Err()
		case <-q.wake[s]:
		}
	}
}

func (q *Queue) get(seq uint64) (Record, error) {
	var r Record
	err := q.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketQueue).Get(seqKey(seq))
		if v == nil {
			return fmt.Errorf("alert record %d vanished from the queue", seq)
		}
		return json.Unmarshal(v, &r)
	})
	if err != nil {
		return Record{}, fmt.Errorf("read alert record %d: %w", seq, err)
	}
	r.Seq = seq
	return r, nil
}

// Waiting returns the records waiting at stage s, oldest first, without
// taking them.
func (q *Queue) Waiting(s Stage) ([]Record, error) {
	q.mu.Lock()
	seqs := append([]uint64(nil), q.pending[s]...)
	q.mu.Unlock()
	out := make([]Record, 0, len(seqs))
	for _, seq := range seqs {
		r, err := q.get(seq)
		if err != nil {
			return out, err
		}
		r.Stage = s
		out = append(out, r)
	}
	return out, nil
}

// Advance moves a taken record to stage s, on disk and then in memory.
func (q *Queue) Advance(r Record, s Stage) error {
	r.Stage = s
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	err = q.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucketQueue).Put(seqKey(r.Seq), v) })
	if err != nil {
		return fmt.Errorf("advance alert record %d: %w", r.Seq, err)
	}
	q.mu.Lock()
	q.taken--
	q.pending[s] = append(q.pending[s], r.Seq)
	q.mu.Unlock()
	q.signal(s)
	return nil
}

// Done deletes a taken record: it has been fully handled.
func (q *Queue) Done(r Record) error {
	err := q.db.Batch(func(tx *bolt.Tx) error { return tx.Bucket(bucketQueue).Delete(seqKey(r.Seq)) })
	q.mu.Lock()
	q.taken--
	q.mu.Unlock()
	if err != nil {
		return fmt.Errorf("delete alert record %d: %w", r.Seq, err)
	}
	return nil
}

// PruneSeen forgets the dedupe keys first seen before cutoff, so that the
// file does not grow forever; a re-send older than that is queued again.
// It returns how many it removed.
func (q *Queue) PruneSeen(cutoff time.Time) (int, error) {
	n := 0
	err := q.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSeen)
		var old [][]byte // deleting under a cursor would skip keys
		err := b.ForEach(func(k, v []byte) error {
			if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) < cutoff.UnixNano() {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("prune dedupe keys: %w", err)
	}
	return n, nil
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}
