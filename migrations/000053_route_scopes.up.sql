-- Access scopes of notification routes (issue 29): a route made or last changed by an
-- admin of some cluster groups keeps those groups' ids, and delivers only events of a
-- group among them, checked when the event is routed and again when it is sent. NULL,
-- the default, is a route of an admin of every cluster. A group deleted leaves its id
-- behind, which names no group: the route then delivers nothing of it.
ALTER TABLE notification_routes ADD COLUMN scope_groups bigint[];
