DROP TABLE digest_sightings;
