package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/detect"
)

// BodyEncoder renders the bodies the store keeps for the API to serve as they are, so
// that a list reads one encoded row an item and shapes nothing: a running workload's
// containers (running_workloads.containers) and a mutation's places
// (mutations.places_json). Their shape is the API's, not the store's: the API's
// layer implements it, and the store keeps, with each body, the version that wrote it
// (migration 000029).
type BodyEncoder interface {
	// BodyVersion names the shape of both encodings. It changes whenever either does:
	// a store serves only the bodies of its own version, renders the others as it reads
	// them, and RefillBodies writes them again.
	BodyVersion() int
	// Containers encodes the containers of each of workloads, in their order (a
	// workload that stopped between two reads has none): a batch at a time, so that it
	// can share its work across them (the parsing of references they have in common).
	Containers(ws []Workload) ([][]byte, error)
	// Places encodes a mutation's places; places may be nil.
	Places(places []detect.Place) ([]byte, error)
}

// bodies is the store's BodyEncoder, or none: a store opened without one (a command
// that writes no scan) leaves the workloads' bodies NULL and keeps the places in the
// store's own encoding, both with no version, for a store with an encoder to render.
type bodies struct{ enc BodyEncoder }

// version is the encoder's version, nil without one.
func (b bodies) version() *int {
	if b.enc == nil {
		return nil
	}
	v := b.enc.BodyVersion()
	return &v
}

// containers is the containers body of each of ws, nil without an encoder.
func (b bodies) containers(ws []Workload) ([][]byte, error) {
	if b.enc == nil || len(ws) == 0 {
		return make([][]byte, len(ws)), nil
	}
	out, err := b.enc.Containers(ws)
	if err != nil {
		return nil, fmt.Errorf("encode the containers of %d workloads: %w", len(ws), err)
	}
	if len(out) != len(ws) {
		return nil, fmt.Errorf("encode the containers of %d workloads: %d bodies", len(ws), len(out))
	}
	return out, nil
}

// places encodes a mutation's places for its two columns: places, the store's own
// jsonb that the containment queries and the store's reads use, and places_json, the
// body (without an encoder, the store's own encoding, versionless).
func (b bodies) places(m detect.Mutation) (places []byte, body string, err error) {
	places, err = json.Marshal(m.Places)
	if err != nil {
		return nil, "", fmt.Errorf("encode places of %s: %w", m.Identity, err)
	}
	if b.enc == nil {
		return places, string(places), nil
	}
	encoded, err := b.enc.Places(m.Places)
	if err != nil {
		return nil, "", fmt.Errorf("encode places of %s: %w", m.Identity, err)
	}
	return places, string(encoded), nil
}

// current reports whether a body stored with version v is of the encoder's shape.
func (b bodies) current(v *int) bool {
	return b.enc != nil && v != nil && *v == b.enc.BodyVersion()
}

// Refilled is what RefillBodies wrote again.
type Refilled struct {
	Workloads, Mutations int
}

// RefillBodies writes again, batch rows a transaction, the bodies that are not of the
// store's encoder's version (or not rendered at all, as migration 000021 left the
// workloads' containers), and returns how many it wrote. It walks each table once in
// key order, logging its progress every few seconds. Readers meanwhile render what is
// not refilled yet. A row a scan holds locked meanwhile is skipped, not waited for (no
// lock order to agree on with the scans): the scan writes its body itself, in the
// version of the store it runs in. A store without an encoder refills nothing.
func (s *Store) RefillBodies(ctx context.Context, batch int, log *slog.Logger) (Refilled, error) {
	var r Refilled
	if s.bodies.enc == nil {
		return r, nil
	}
	batch = max(batch, 1)
	p := progress{log: log, every: 5 * time.Second, last: time.Now()}
	var after runningKey
	for {
		n, last, err := s.refillWorkloads(ctx, after, batch)
		if err != nil {
			return r, fmt.Errorf("refill the running workloads' containers: %w", err)
		}
		r.Workloads += n
		p.tick("running_workloads", r.Workloads)
		if last == nil {
			break
		}
		after = *last
	}
	var afterID int64
	for {
		n, last, err := s.refillPlaces(ctx, afterID, batch)
		if err != nil {
			return r, fmt.Errorf("refill the mutations' places: %w", err)
		}
		r.Mutations += n
		p.tick("mutations", r.Mutations)
		if last == 0 {
			break
		}
		afterID = last
	}
	return r, nil
}

// progress logs a long refill's progress now and then.
type progress struct {
	log   *slog.Logger
	every time.Duration
	last  time.Time
}

func (p *progress) tick(table string, done int) {
	if p.log == nil || time.Since(p.last) < p.every {
		return
	}
	p.last = time.Now()
	p.log.Info("refilling stored bodies", "table", table, "rows", done)
}

// refillWorkloadsSQL locks the next batch of running workloads after a key, each
// with whether its body is of a version: in the primary key's order, so that the walk
// reads each row once.
const refillWorkloadsSQL = `
	SELECT cluster_id, namespace, kind, name, containers IS NOT NULL AND body_version IS NOT DISTINCT FROM $6
	FROM running_workloads
	WHERE (cluster_id, namespace, kind, name) > ($1, $2, $3, $4)
	ORDER BY cluster_id, namespace, kind, name
	LIMIT $5
	FOR UPDATE SKIP LOCKED`

// refillWorkloads writes again the bodies of the next batch of running workloads after
// a key, and returns how many it wrote and the batch's last key (nil at the end).
func (s *Store) refillWorkloads(ctx context.Context, after runningKey, batch int) (int, *runningKey, error) {
	keys := runningKeys{}
	var last runningKey
	seen := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, refillWorkloadsSQL, after.clusterID, after.namespace, after.kind, after.name, batch,
			s.bodies.enc.BodyVersion())
		if err != nil {
			return err
		}
		for rows.Next() {
			var current bool
			if err := rows.Scan(&last.clusterID, &last.namespace, &last.kind, &last.name, &current); err != nil {
				rows.Close()
				return err
			}
			seen++
			if !current {
				keys[last] = struct{}{}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = refreshWorkloads(ctx, tx, s.bodies, keys)
		return err
	})
	// A short batch is the end: SKIP LOCKED fills a batch from the rows past a locked
	// one, so fewer than batch rows means no more free ones.
	if err != nil || seen < batch {
		return len(keys), nil, err
	}
	return len(keys), &last, nil
}

// refillPlacesSQL locks the next batch of mutations after an id, each with its places
// and whether its places body is of a version.
const refillPlacesSQL = `
	SELECT id, places, body_version IS NOT DISTINCT FROM $3 FROM mutations
	WHERE id > $1 ORDER BY id LIMIT $2
	FOR UPDATE SKIP LOCKED`

// refillPlaces writes again the places bodies of the next batch of mutations after an
// id, and returns how many it wrote and the batch's last id (0 at the end).
func (s *Store) refillPlaces(ctx context.Context, after int64, batch int) (int, int64, error) {
	var ids []int64
	var bodies []string
	var last int64
	seen := 0
	version := s.bodies.enc.BodyVersion()
	err := s.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, refillPlacesSQL, after, batch, version)
		if err != nil {
			return err
		}
		for rows.Next() {
			var places []detect.Place
			var current bool
			if err := rows.Scan(&last, &places, &current); err != nil {
				rows.Close()
				return err
			}
			seen++
			if current {
				continue
			}
			_, body, err := s.bodies.places(detect.Mutation{Places: places})
			if err != nil {
				rows.Close()
				return fmt.Errorf("mutation %d: %w", last, err)
			}
			ids, bodies = append(ids, last), append(bodies, body)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `
			UPDATE mutations m SET places_json = u.body, body_version = $3
			FROM unnest($1::bigint[], $2::text[]) AS u (id, body) WHERE m.id = u.id`, ids, bodies, version)
		return err
	})
	if err != nil || seen < batch {
		return len(ids), 0, err
	}
	return len(ids), last, nil
}

// ofVersion is a body read with its version: the body when it is of the encoder's
// shape, else nil, for the reader to render.
func (b bodies) ofVersion(body []byte, v *int) []byte {
	if !b.current(v) {
		return nil
	}
	return body
}
