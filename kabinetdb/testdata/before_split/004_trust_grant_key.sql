-- 004: a trust payment remembers the event that granted it.
--
-- The bot grants a trust payment in PostgreSQL and then commits its turn in
-- Redis; a crash between the two makes Telegram deliver the "Confirm" press
-- again. grant_key is that press's key (user, account and the update), so
-- the repeated grant finds the row and answers with the same grant, amount,
-- expiry and the balance as the grant left it, instead of "already taken
-- this month". NULL for grants made without a key (older rows, the demo).
ALTER TABLE trust_payments
    ADD COLUMN grant_key     text UNIQUE CHECK (length(grant_key) BETWEEN 1 AND 200),
    ADD COLUMN balance_after bigint,  -- kopecks: the balance right after the grant
    ADD CONSTRAINT trust_payments_keyed_balance CHECK (grant_key IS NULL OR balance_after IS NOT NULL);
