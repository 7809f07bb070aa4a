DROP TABLE running_pods;
