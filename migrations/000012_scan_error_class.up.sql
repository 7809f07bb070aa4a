-- A failed scan is recorded as a short class (unreachable, tls, unauthorized, forbidden,
-- timeout, redirect refused, not found, policy, ...) and a message tagdrift wrote, never
-- text a cluster sent. Errors recorded before could hold such text: they are replaced.
ALTER TABLE scans ADD COLUMN error_class text NOT NULL DEFAULT '';
UPDATE scans SET error_class = 'unknown', error = 'the scan failed (recorded before scan errors were classified)'
WHERE error <> '';
