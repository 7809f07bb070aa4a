DROP TABLE digest_letters;
