-- A notification event of the first scan of a newly registered cluster (a baseline) is
-- sent only by routes that ask for the baseline. The delivery's check of its routes
-- when it is first sent (000045) reads this, so that a route edited to stop sending
-- the baseline while its deliveries wait drops them. Events written before are not
-- baselines.
ALTER TABLE notification_events ADD COLUMN baseline boolean NOT NULL DEFAULT false;
