-- The data version at which what a cluster runs (its open intervals) last changed, set
-- in the transaction that opened or closed them (store.bumpRunsVersion): behind the tag
-- is judged again only for the clusters whose runs moved since the last judgement
-- (store/behind.go), not for every workload at every change.
ALTER TABLE clusters ADD COLUMN runs_version bigint NOT NULL DEFAULT 0;
