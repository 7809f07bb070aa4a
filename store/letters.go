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
// letters of its reference, in the order the summary says it was first seen, and
// records the summary's sightings (recordSightings): for RebuildSummary, after a bulk
// load outside CompleteScan.
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
	if _, err := tx.Exec(ctx, `
		INSERT INTO digest_sightings (ref, digest, cluster_id, first_seen)
		SELECT ref, digest, cluster_id, first_seen FROM ref_digest_clusters
		ON CONFLICT (ref, digest, cluster_id) DO UPDATE SET first_seen = excluded.first_seen
		WHERE excluded.first_seen < digest_sightings.first_seen`); err != nil {
		return fmt.Errorf("fill the digest sightings: %w", err)
	}
	return nil
}

// Letters are the letters of digests of references as a reader of scope sc sees them:
// each key that has one. Every cluster's reader (the zero Scope) gets the stored
// letters (digest_letters), given across all clusters. A limited scope gets letters of
// its own (scopeLetters), so that no letter hints at a digest its clusters never ran.
func (s *Store) Letters(ctx context.Context, keys []RefDigest, sc Scope) (map[RefDigest]string, error) {
	out, err := lettersOf(ctx, s.pool, keys, sc)
	if err != nil {
		return nil, fmt.Errorf("letters of %d digests: %w", len(keys), err)
	}
	return out, nil
}

// lettersOf is Letters through q.
func lettersOf(ctx context.Context, q querier, keys []RefDigest, sc Scope) (map[RefDigest]string, error) {
	out := make(map[RefDigest]string, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if sc.Limited {
		refs := make([]string, 0, len(keys))
		for _, k := range keys {
			refs = append(refs, k.Ref)
		}
		seqs, err := scopeLetters(ctx, q, refs, sc)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if seq, ok := seqs[k]; ok {
				out[k] = LetterName(seq)
			}
		}
		return out, nil
	}
	refs := make([]string, len(keys))
	digests := make([]string, len(keys))
	for i, k := range keys {
		refs[i], digests[i] = k.Ref, k.Digest
	}
	rows, err := q.Query(ctx, `
		SELECT l.ref, l.digest, l.seq FROM digest_letters l
		JOIN unnest($1::text[], $2::text[]) AS k (ref, digest) ON l.ref = k.ref AND l.digest = k.digest`, refs, digests)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k RefDigest
		var seq int
		if err := rows.Scan(&k.Ref, &k.Digest, &seq); err != nil {
			return nil, err
		}
		out[k] = LetterName(seq)
	}
	return out, rows.Err()
}

// scopeLettersSQL gives the letters (seq) of every digest of the references $1 that a
// cluster of the groups $2 ran: in the order those clusters first ran them (ties by
// digest), as digest_letters orders the letters given across all clusters. The
// sightings are kept past retention (digest_sightings, migration 000061), so that a
// retention run shifts no letter.
const scopeLettersSQL = `
	SELECT s.ref, s.digest, (row_number() OVER (PARTITION BY s.ref ORDER BY min(s.first_seen), s.digest) - 1)::int
	FROM digest_sightings s
	WHERE s.ref = ANY($1::text[]) AND s.cluster_id IN (SELECT c.id FROM clusters c WHERE c.group_id = ANY($2::bigint[]))
	GROUP BY s.ref, s.digest`

// scopeLetters are the letters (seq) of the digests of refs as the limited scope sc
// counts them: A for the first digest of a reference one of its clusters ran, then B
// and on, whatever other clusters ran (docs/access.md). A digest none of its clusters
// ran has none.
func scopeLetters(ctx context.Context, q querier, refs []string, sc Scope) (map[RefDigest]int, error) {
	slices.Sort(refs)
	refs = slices.Compact(refs)
	rows, err := q.Query(ctx, scopeLettersSQL, refs, sc.ids())
	if err != nil {
		return nil, fmt.Errorf("letters of %d references in scope: %w", len(refs), err)
	}
	defer rows.Close()
	out := map[RefDigest]int{}
	for rows.Next() {
		var k RefDigest
		var seq int
		if err := rows.Scan(&k.Ref, &k.Digest, &seq); err != nil {
			return nil, fmt.Errorf("letters of %d references in scope: %w", len(refs), err)
		}
		out[k] = seq
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("letters of %d references in scope: %w", len(refs), err)
	}
	return out, nil
}

// recordSightings keeps when each cluster first ran each digest of each reference of
// the fresh intervals (as CompleteScan copies them), for the letters of a scope: a row
// is written the first time and kept (an earlier sighting moves it back), so that most
// scans, which open intervals of digests their cluster ran before, write nothing.
func recordSightings(ctx context.Context, tx pgx.Tx, fresh [][]any) error {
	type key struct {
		cluster     int64
		ref, digest string
	}
	first := map[key]time.Time{}
	for _, r := range fresh {
		k := key{r[freshClusterID].(int64), r[freshRef].(string), r[freshDigest].(string)}
		at := r[freshFirstSeen].(time.Time)
		if t, ok := first[k]; !ok || at.Before(t) {
			first[k] = at
		}
	}
	if len(first) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(first))
	refs := make([]string, 0, len(first))
	digests := make([]string, 0, len(first))
	ats := make([]time.Time, 0, len(first))
	for k, at := range first {
		ids, refs, digests, ats = append(ids, k.cluster), append(refs, k.ref), append(digests, k.digest), append(ats, at)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO digest_sightings (ref, digest, cluster_id, first_seen)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[])
		ORDER BY 1, 2, 3
		ON CONFLICT (ref, digest, cluster_id) DO UPDATE SET first_seen = excluded.first_seen
		WHERE excluded.first_seen < digest_sightings.first_seen`, refs, digests, ids, ats); err != nil {
		return fmt.Errorf("record the sightings of %d digests: %w", len(first), err)
	}
	return nil
}
