-- 007: what happens to support requests, for an external helpdesk
-- (SUPPORT_WEBHOOK_URL). The support package writes one row per event
-- (created, message, assigned, solved, closed, reopened, rated) in the same
-- transaction as the change it reports, and only while a webhook is
-- configured; support.Webhook posts the rows.
--
-- Delivery works like the payments scheduler's (005): a claim is one short
-- statement that writes claimed_by and claimed_until and commits, the POST
-- runs with no transaction open, and a second short statement marks the
-- row sent, or failed with its backoff. Events of one request go out in
-- the order of their ids: a claim takes a request's unsent events only
-- when the oldest of them is due and nobody holds it.

CREATE TABLE support_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key: the events are the helpdesk's copy, not the request's
    -- own data, and must not stop a request from ever being deleted.
    request_id    bigint NOT NULL,
    kind          text NOT NULL,
    payload       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0,
    next_at       timestamptz NOT NULL DEFAULT now(),
    claimed_by    text,          -- the worker that holds the lease
    claimed_until timestamptz,   -- the lease: nobody else claims the row before this
    sent_at       timestamptz,   -- the receiver answered 2xx
    failed_at     timestamptz,   -- given up: still failing a day after it was written
    last_error    text NOT NULL DEFAULT '' -- the last failure, for whoever reads the table
);

-- The rows still to send, in request order: the claim's "oldest unsent
-- event of each request".
CREATE INDEX support_events_pending ON support_events (request_id, id) WHERE sent_at IS NULL AND failed_at IS NULL;
-- Sent and abandoned rows are deleted after a week, oldest first.
CREATE INDEX support_events_created ON support_events (created_at);
