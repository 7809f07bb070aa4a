-- A page of a digest's history, newest first (by first sighting, then interval), read
-- from an index instead of sorting every interval of a digest that may have run in
-- many thousands of pods (store.DigestUses). It takes the place of migration 1's index
-- on the digest alone, which the look-ups by digest and the search's digest prefixes
-- still read through its first column, so that a scan writes as many indexes as before
-- (if a little wider: see README Performance).
CREATE INDEX observations_digest_history ON observations (digest, first_seen, id);
DROP INDEX observations_digest;
