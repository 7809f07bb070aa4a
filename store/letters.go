package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// LetterName is the letter of the seq-th digest a reference ran (from 0): A … Z, AA …
// AZ, BA …
func LetterName(seq int) string {
	if seq < 0 {
		return ""
	}
	s := ""
	for {
		s = string(rune('A'+seq%26)) + s
		seq = seq/26 - 1
		if seq < 0 {
			return s
		}
	}
}

// RefDigest is one digest of one reference.
type RefDigest struct {
	Ref, Digest string
}

// assignLetters gives the digests of the fresh intervals (as CompleteScan copies them)
// that their reference never ran before the next letters of that reference, in the
// order they were first seen (ties by digest), and returns the letter (seq) of every
// digest of the fresh intervals. Most scans open intervals of digests that have a
// letter already: one read then, and no lock. Otherwise the references that get a
// letter are locked (a transaction-scoped advisory lock each, in one order) so that two
// scans giving letters to one reference at once take turns, and the second counts on
// from what the first committed.
func assignLetters(ctx context.Context, tx pgx.Tx, fresh [][]any) (map[RefDigest]int, error) {
	if len(fresh) == 0 {
		return nil, nil
	}
	first := map[RefDigest]time.Time{}
	for _, r := range fresh {
		k := RefDigest{r[freshRef].(string), r[freshDigest].(string)}
		at := r[freshFirstSeen].(time.Time)
		if t, ok := first[k]; !ok || at.Before(t) {
			first[k] = at
		}
	}
	refs := make([]string, 0, len(first))
	digests := make([]string, 0, len(first))
	for k := range first {
		refs, digests = append(refs, k.Ref), append(digests, k.Digest)
	}
	letters := make(map[RefDigest]int, len(first))
	read := func(rows pgx.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k RefDigest
			var seq int
			if err := rows.Scan(&k.Ref, &k.Digest, &seq); err != nil {
				return err
			}
			letters[k] = seq
		}
		return rows.Err()
	}
	if err := read(tx.Query(ctx, `
		SELECT l.ref, l.digest, l.seq FROM unnest($1::text[], $2::text[]) AS k (ref, digest)
		JOIN digest_letters l ON l.ref = k.ref AND l.digest = k.digest`, refs, digests)); err != nil {
		return nil, fmt.Errorf("read the letters of the digests: %w", err)
	}
	if len(letters) == len(first) {
		return letters, nil
	}
	var missing []RefDigest
	for k := range first {
		if _, ok := letters[k]; !ok {
			missing = append(missing, k)
		}
	}
	slices.SortFunc(missing, func(a, b RefDigest) int {
		if c := strings.Compare(a.Ref, b.Ref); c != 0 {
			return c
		}
		if c := first[a].Compare(first[b]); c != 0 {
			return c
		}
		return strings.Compare(a.Digest, b.Digest)
	})
	refs, digests = refs[:0], digests[:0]
	var lock []string
	for _, k := range missing {
		refs, digests = append(refs, k.Ref), append(digests, k.Digest)
		if len(lock) == 0 || lock[len(lock)-1] != k.Ref {
			lock = append(lock, k.Ref)
		}
	}
	// The lock in a statement of its own: the insert's snapshot, taken after it, sees
	// the letters another scan committed meanwhile.
	if _, err := tx.Exec(ctx, `
		SELECT pg_advisory_xact_lock(hashtextextended('digest-letters/' || r, 0))
		FROM unnest($1::text[]) WITH ORDINALITY AS r (r, i) ORDER BY i`, lock); err != nil {
		return nil, fmt.Errorf("lock the letters of %d references: %w", len(lock), err)
	}
	// What another scan gave meanwhile is read back, the rest given on from there.
	if err := read(tx.Query(ctx, `
		WITH k AS (
			SELECT * FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k (ref, digest, i)
		), given AS (
			INSERT INTO digest_letters (ref, digest, seq)
			SELECT k.ref, k.digest,
			       coalesce((SELECT max(l.seq) FROM digest_letters l WHERE l.ref = k.ref), -1)
			       + row_number() OVER (PARTITION BY k.ref ORDER BY k.i)
			FROM k
			WHERE NOT EXISTS (SELECT 1 FROM digest_letters l WHERE l.ref = k.ref AND l.digest = k.digest)
			ORDER BY k.i
			RETURNING ref, digest, seq
		)
		SELECT ref, digest, seq FROM given
		UNION ALL
		SELECT l.ref, l.digest, l.seq FROM k JOIN digest_letters l ON l.ref = k.ref AND l.digest = k.digest`,
		refs, digests)); err != nil {
		return nil, fmt.Errorf("give %d digests their letters: %w", len(missing), err)
	}
	return letters, nil
}

// fillLetters gives every digest of the reference summary that has no letter the next
// letters of its reference, in the order the summary says it was first seen: for
// RebuildSummary, after a bulk load outside CompleteScan.
func fillLetters(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `LOCK TABLE digest_letters IN EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("lock the digest letters: %w", err)
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO digest_letters (ref, digest, seq)
		SELECT s.ref, s.digest,
		       coalesce((SELECT max(l.seq) FROM digest_letters l WHERE l.ref = s.ref), -1)
		       + row_number() OVER (PARTITION BY s.ref ORDER BY min(s.first_seen), s.digest)
		FROM ref_digest_clusters s
		WHERE NOT EXISTS (SELECT 1 FROM digest_letters l WHERE l.ref = s.ref AND l.digest = s.digest)
		GROUP BY s.ref, s.digest`)
	if err != nil {
		return fmt.Errorf("fill the digest letters: %w", err)
	}
	return nil
}

// Letters are the stored letters of digests of references: each key that has one.
func (s *Store) Letters(ctx context.Context, keys []RefDigest) (map[RefDigest]string, error) {
	out := make(map[RefDigest]string, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	refs := make([]string, len(keys))
	digests := make([]string, len(keys))
	for i, k := range keys {
		refs[i], digests[i] = k.Ref, k.Digest
	}
	rows, err := s.pool.Query(ctx, `
		SELECT l.ref, l.digest, l.seq FROM digest_letters l
		JOIN unnest($1::text[], $2::text[]) AS k (ref, digest) ON l.ref = k.ref AND l.digest = k.digest`, refs, digests)
	if err != nil {
		return nil, fmt.Errorf("letters of %d digests: %w", len(keys), err)
	}
	defer rows.Close()
	for rows.Next() {
		var k RefDigest
		var seq int
		if err := rows.Scan(&k.Ref, &k.Digest, &seq); err != nil {
			return nil, fmt.Errorf("letters of %d digests: %w", len(keys), err)
		}
		out[k] = LetterName(seq)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("letters of %d digests: %w", len(keys), err)
	}
	return out, nil
}
