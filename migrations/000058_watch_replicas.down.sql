DROP TABLE watch_replicas;
