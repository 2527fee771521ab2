-- 005: the payments scheduler claims its work with a lease instead of
-- holding a row lock while it talks to Telegram.
--
-- Until now a notice or trust payment row stayed locked (FOR UPDATE, in an
-- open transaction on a pooled connection) for as long as its Telegram
-- sends took, and a send waits out a 429's retry_after, which can be
-- minutes. Now a claim is one
-- short statement that writes claimed_by and claimed_until and commits; the
-- send runs with no transaction open; a second short statement marks the row
-- sent, or failed with its backoff, only while claimed_by is still the
-- claimer. A claimer that dies leaves claimed_until behind, and once that
-- time has passed any instance may claim the row again.

ALTER TABLE payment_notices
    ADD COLUMN claimed_by    text,         -- the scheduler instance that holds the lease, or sent the notice
    ADD COLUMN claimed_until timestamptz;  -- the lease: nobody else claims the row before this

COMMENT ON COLUMN payment_notices.sent_at IS
    'set by the claimer after Telegram accepted the message, in a short transaction of its own (005)';

-- A trust payment's reminder goes to every Telegram user linked to its
-- account, and one user's failure must not send it again to the others:
-- so each (trust payment, user) is a row of its own, written when the
-- reminder falls due and then claimed, sent and retried like a notice.
-- (trust_payments.reminded_at became reminders_queued_at in the billing's
-- 005_trust_reminders_queued.sql.)

CREATE TABLE trust_reminders (
    trust_payment_id bigint NOT NULL REFERENCES trust_payments (id) ON DELETE CASCADE,
    telegram_user_id bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_by       text,
    claimed_until    timestamptz,
    sent_at          timestamptz,
    PRIMARY KEY (trust_payment_id, telegram_user_id)
);

CREATE INDEX trust_reminders_due_idx ON trust_reminders (next_attempt_at) WHERE sent_at IS NULL;
