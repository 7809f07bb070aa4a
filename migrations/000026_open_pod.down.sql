DROP INDEX observations_open_pod;
