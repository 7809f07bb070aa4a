-- The digest history index without the interval id, so that B-tree deduplication folds
-- the intervals one scan opened for one digest (they share their first sighting) into
-- one entry: the index a scan writes for each interval it opens is about as small as
-- migration 1's index on the digest alone was. A page of the history sorts the few
-- intervals of one first sighting by id as it reads them (store.DigestUses).
CREATE INDEX observations_digest_seen ON observations (digest, first_seen);
DROP INDEX observations_digest_history;
