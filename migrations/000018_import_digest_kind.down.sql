-- Imports were recorded as repository digests before.
UPDATE observations SET digest_kind = 'repo' WHERE digest_kind = 'import';
ALTER TABLE observations DROP CONSTRAINT observations_digest_kind_check;
ALTER TABLE observations ADD CONSTRAINT observations_digest_kind_check
    CHECK (digest_kind IN ('repo', 'image-id', 'unknown'));
