DROP TABLE cluster_watches;
