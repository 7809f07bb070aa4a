-- The shape version of the bodies the store keeps rendered for the API to serve as they
-- are: running_workloads.containers and mutations.places_json. The version is the
-- encoder's (store.BodyEncoder.BodyVersion) that wrote the body; a reader whose encoder
-- has another version renders the body itself instead of serving it, and `tagdrift
-- serve` refills those bodies at start (store.RefillBodies). NULL is no known version:
-- rendered again like another one. The bodies written before this migration have the
-- shape of version 1.
ALTER TABLE running_workloads ADD COLUMN body_version integer;
ALTER TABLE mutations ADD COLUMN body_version integer;
UPDATE running_workloads SET body_version = 1 WHERE containers IS NOT NULL;
UPDATE mutations SET body_version = 1;
