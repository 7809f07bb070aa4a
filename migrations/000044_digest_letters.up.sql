-- Each digest's letter per reference (A, B, … Z, AA, …: seq 0, 1, …), in the order the
-- reference first ran it, so that `B` names the same image on every page, in the API
-- and in the CSV. Kept apart from the reference summary, whose rows a retention run
-- deletes with their intervals: a letter, once given, is never taken back nor shifted.
-- A scan gives the next letters to the digests a reference runs for the first time, in
-- its own transaction (store.assignLetters), under an advisory lock per reference taken
-- only when there is one to give.
CREATE TABLE digest_letters (
    ref    text    NOT NULL,
    digest text    NOT NULL,
    seq    integer NOT NULL CHECK (seq >= 0),
    PRIMARY KEY (ref, digest),
    UNIQUE (ref, seq)
);

-- What ran before, in the order it was first seen (the earliest sighting the summary
-- still keeps), ties by digest.
INSERT INTO digest_letters (ref, digest, seq)
SELECT ref, digest, row_number() OVER (PARTITION BY ref ORDER BY min(first_seen), digest) - 1
FROM ref_digest_clusters
GROUP BY ref, digest;
