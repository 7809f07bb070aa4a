DROP INDEX mutation_marks_place;
DROP FUNCTION place_of_open_mutation(bigint, text, text, text, text);

CREATE OR REPLACE FUNCTION mutation_marks_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM mutation_marks WHERE mutation_id = OLD.id;
    END IF;
    IF NEW.resolved_at IS NULL THEN
        INSERT INTO mutation_marks (mutation_id, owner_id, cluster, namespace, kind, name)
        SELECT DISTINCT NEW.id, NEW.cluster_id, p->>'cluster', p->>'namespace', p->'workload'->>'kind', p->'workload'->>'name'
        FROM jsonb_array_elements(NEW.places) p;
    END IF;
    RETURN NULL;
END
$$;

DROP FUNCTION open_mutation_places(mutations);
