-- The references that ran a digest, for its web page (store.DigestUses with Refs), from
-- the reference summary: one row a reference, digest and cluster, instead of every
-- interval of a digest that may have run in many thousands of pods (241 ms for one of
-- 13,000 intervals at 1M rows, 0.1 ms here). A scan writes this index only for the
-- summary rows it adds, a few for each reference and digest it sees for the first time.
CREATE INDEX ref_digest_clusters_digest ON ref_digest_clusters (digest, ref);
