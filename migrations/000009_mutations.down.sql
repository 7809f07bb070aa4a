DROP TABLE mutations;
