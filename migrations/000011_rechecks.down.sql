DROP TABLE rechecks;
