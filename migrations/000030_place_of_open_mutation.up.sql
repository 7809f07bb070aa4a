-- The one definition of "the place of an open mutation" in SQL. open_mutation_places
-- is which workloads a mutation marks while it is open: the marks trigger of migration
-- 000027 keeps mutation_marks from it, and place_of_open_mutation, which the workloads
-- list asks of each workload it shows (store.workloadPageSQL, store.walkPageSQL),
-- reads those marks, where before the list tested the open mutations' places itself,
-- a second copy of the rule. A new state of a mutation (acknowledged, say) changes
-- open_mutation_places and the columns the trigger watches, nothing else.
CREATE FUNCTION open_mutation_places(m mutations)
    RETURNS TABLE (cluster text, namespace text, kind text, name text)
    LANGUAGE sql IMMUTABLE AS $$
    SELECT DISTINCT p->>'cluster', p->>'namespace', p->'workload'->>'kind', p->'workload'->>'name'
    FROM jsonb_array_elements(m.places) p
    WHERE m.resolved_at IS NULL
$$;

CREATE OR REPLACE FUNCTION mutation_marks_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM mutation_marks WHERE mutation_id = OLD.id;
    END IF;
    INSERT INTO mutation_marks (mutation_id, owner_id, cluster, namespace, kind, name)
    SELECT NEW.id, NEW.cluster_id, p.cluster, p.namespace, p.kind, p.name
    FROM open_mutation_places(NEW) p;
    RETURN NULL;
END
$$;

-- Whether a workload (its cluster's id and name, namespace, kind and name) is a place of
-- an open mutation of its cluster, or of one across clusters. A plain SQL expression,
-- which PostgreSQL inlines into the query that calls it; the names compare by bytes, as
-- the marks keep them, through mutation_marks_place.
CREATE FUNCTION place_of_open_mutation(cluster_id bigint, cluster text, namespace text, kind text, name text)
    RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM mutation_marks k
                   WHERE k.namespace = $3 COLLATE "C" AND k.kind = $4 COLLATE "C" AND k.name = $5 COLLATE "C"
                     AND k.cluster COLLATE "C" = $2 COLLATE "C" AND (k.owner_id IS NULL OR k.owner_id = $1))
$$;

CREATE INDEX mutation_marks_place ON mutation_marks (namespace, kind, name);
