-- 005: a trust payment's reminders are rows of Kabinet's own
-- (kabinetdb's trust_reminders), written when the reminder falls due.
-- reminded_at meant "the reminder went out"; it now means "the reminders
-- were written", and is renamed to say so. Until the split this was part
-- of 005_scheduler_leases.sql.
ALTER TABLE trust_payments RENAME COLUMN reminded_at TO reminders_queued_at;
