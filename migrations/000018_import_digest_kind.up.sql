-- A digest of a manifest written at import under a name ctr made up
-- (import-YYYY-MM-DD@sha256:…, as kind load imports) is its own kind, compared only with
-- other imports: it is not the registry's digest of the reference the pod asked for.
ALTER TABLE observations DROP CONSTRAINT observations_digest_kind_check;
ALTER TABLE observations ADD CONSTRAINT observations_digest_kind_check
    CHECK (digest_kind IN ('repo', 'image-id', 'import', 'unknown'));
-- What was recorded as a repository digest under such a name is reclassified, as
-- scanner/imageref parses it now (the repository normalizes to
-- docker.io/library/import-YYYY-MM-DD).
UPDATE observations SET digest_kind = 'import'
WHERE digest_kind = 'repo'
  AND image_id ~ '^(docker-pullable://|docker://)?((index\.)?docker\.io/)?(library/)?import-[0-9]{4}-[0-9]{2}-[0-9]{2}(:[^@/]*)?@';
