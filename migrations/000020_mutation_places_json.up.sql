-- A mutation's places as the API encodes them (Go's json.Marshal of []detect.Place:
-- keys in the struct's order, no spaces), so that a list of mutations is answered
-- without decoding and encoding every place again (store.ListMutations with
-- RawPlaces). The jsonb column stays for the containment queries. Rows written before
-- this migration get the same keys in the same order from the jsonb; the spaces
-- json_build_object puts in are compacted away where the API encodes the answer.
ALTER TABLE mutations ADD COLUMN places_json text;

UPDATE mutations m SET places_json = CASE WHEN jsonb_typeof(m.places) = 'array' THEN COALESCE((
    SELECT json_agg(json_build_object('cluster', p->'cluster', 'namespace', p->'namespace',
                                      'workload', json_build_object('kind', p->'workload'->'kind', 'name', p->'workload'->'name'),
                                      'pod', p->'pod', 'container', p->'container', 'digest', p->'digest') ORDER BY e.n)::text
    FROM jsonb_array_elements(m.places) WITH ORDINALITY AS e (p, n)), '[]') ELSE '[]' END;

ALTER TABLE mutations ALTER COLUMN places_json SET NOT NULL;
