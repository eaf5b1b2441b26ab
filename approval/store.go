package approval

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var claimsBucket = []byte("claims")

// Claim is who decided a proposal first, and how.
type Claim struct {
	By       string    `json:"by"`
	Decision string    `json:"decision"` // "approve" or "reject"
	At       time.Time `json:"at"`
	// Expires is the proposal's expiry: after it (and PruneGrace) the
	// claim may be pruned, since Verify refuses the token anyway.
	Expires time.Time `json:"expires"`
}

// Decisions.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// PruneGrace keeps a claim this long past its proposal's expiry, so that a
// clock stepped back a little cannot revive a used token.
const PruneGrace = 24 * time.Hour

// Store remembers which proposals were decided: single use that survives
// a restart (bbolt, fsynced on every claim).
type Store struct {
	db *bolt.DB
}

// OpenStore opens (or creates) the store file. A second process holding
// the file makes it fail after 10 s rather than hang.
func OpenStore(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open the approval store %s: %w (is another approver using it? give each its own --state-dir)", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(claimsBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("approval store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Claim records c for proposal id unless the proposal was decided before.
// It is atomic (one bbolt write transaction): of concurrent claims exactly
// one gets first == true; the others get the first claim back.
func (s *Store) Claim(id string, c Claim) (first bool, prev Claim, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(claimsBucket)
		if v := b.Get([]byte(id)); v != nil {
			if err := json.Unmarshal(v, &prev); err != nil {
				return fmt.Errorf("claim %s: stored record unreadable: %w", id, err)
			}
			return nil
		}
		v, err := json.Marshal(c)
		if err != nil {
			return err
		}
		first = true
		return b.Put([]byte(id), v)
	})
	if err != nil {
		return false, Claim{}, fmt.Errorf("approval store: %w", err)
	}
	return first, prev, nil
}

// Release deletes the claim of id if it is still c (the claim this
// process made), so that the proposal can be decided again: for an
// approval whose execution was refused without writing anything, for a
// reason that may pass later (remediate.Result.Retryable). It reports
// whether it deleted the claim.
func (s *Store) Release(id string, c Claim) (bool, error) {
	var released bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(claimsBucket)
		v := b.Get([]byte(id))
		if v == nil {
			return nil
		}
		var cur Claim
		if err := json.Unmarshal(v, &cur); err != nil {
			return fmt.Errorf("release %s: stored record unreadable: %w", id, err)
		}
		if cur.By != c.By || cur.Decision != c.Decision || !cur.At.Equal(c.At) {
			return nil
		}
		released = true
		return b.Delete([]byte(id))
	})
	if err != nil {
		return false, fmt.Errorf("approval store: %w", err)
	}
	return released, nil
}

// Get returns the claim of id, if any.
func (s *Store) Get(id string) (Claim, bool, error) {
	var c Claim
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(claimsBucket).Get([]byte(id))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &c)
	})
	if err != nil {
		return Claim{}, false, fmt.Errorf("approval store: %w", err)
	}
	return c, ok, nil
}

// Prune deletes the claims whose proposals expired more than PruneGrace
// before now, and returns how many.
func (s *Store) Prune(now time.Time) (int, error) {
	var n int
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(claimsBucket)
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var cl Claim
			if err := json.Unmarshal(v, &cl); err != nil || cl.Expires.Add(PruneGrace).Before(now) {
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
		return 0, fmt.Errorf("prune the approval store: %w", err)
	}
	return n, nil
}
