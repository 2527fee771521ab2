-- 005: the payments scheduler claims its notices with a lease instead of
-- holding a row lock while it talks to Telegram.
--
-- Until now a notice row stayed locked (FOR UPDATE, in an open transaction
-- on a pooled connection) for as long as its Telegram send took, and a send
-- waits out a 429's retry_after, which can be minutes. Now a claim is one
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
