DROP TABLE observations;
DROP TABLE scans;
DROP TABLE clusters;
