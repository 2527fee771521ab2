-- 009: the notices package's tables: the notices owed to subscribers (low
-- balance, the last day, blocked, outages and their end), each person's
-- settings per account, and trusted persons with their one-time invites.
-- The SQL that reads and writes them is in notices/store.go.

-- A notice owed to one Telegram user about one account. The key (account,
-- kind, period, threshold, user) is what "never twice" means: the scan
-- inserts with ON CONFLICT DO NOTHING, so a second scan, a second instance
-- or a restart owes nothing new. period names the occasion: for a low
-- balance the last day the money pays (YYYY-MM-DD in the city's zone), so a
-- payment that moves that day makes a new occasion; for a block the day it
-- happened; for an outage its id. Rows are claimed with a lease and sent
-- with nothing open, like payment_notices (005).
CREATE TABLE notices (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id       bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('low', 'lastday', 'blocked', 'outage', 'outage_end')),
    period           text NOT NULL,
    threshold        smallint NOT NULL DEFAULT 0,
    telegram_user_id bigint NOT NULL,
    -- holder: linked to the account; trusted: a trusted person of it.
    role             text NOT NULL DEFAULT 'holder' CHECK (role IN ('holder', 'trusted')),
    due_at           timestamptz NOT NULL,  -- the end of quiet hours when made at night
    created_at       timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'sent', 'failed', 'blocked', 'canceled')),
    attempts         integer NOT NULL DEFAULT 0,
    claimed_by       text,
    claimed_until    timestamptz,
    done_at          timestamptz,
    UNIQUE (account_id, kind, period, threshold, telegram_user_id)
);
CREATE INDEX notices_due ON notices (due_at) WHERE status = 'queued';
CREATE INDEX notices_done ON notices (done_at) WHERE status <> 'queued';

-- What one person wants to hear about one account. NULL is the default
-- (on; NOTIFY_DAYS_BEFORE; quiet hours kept), so a row exists only once a
-- person changed something.
CREATE TABLE notice_settings (
    telegram_user_id bigint NOT NULL,
    account_id       bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    low              boolean,
    payment          boolean,
    outage           boolean,
    trust            boolean,
    days_before      smallint CHECK (days_before BETWEEN 1 AND 7),
    quiet            boolean,
    PRIMARY KEY (telegram_user_id, account_id)
);

-- An invitation the holder of an account made for a trusted person: the
-- token itself is only in the link, here only its SHA-256; single use
-- (used_by), valid until expires_at. key is the holder's button press, so
-- the press delivered again after a crash makes the same invitation.
CREATE TABLE notice_invites (
    token_hash bytea PRIMARY KEY,
    key        text NOT NULL UNIQUE,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    holder_id  bigint NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_by    bigint,
    used_at    timestamptz
);

-- A person who gets an account's low-balance notices and nothing else of it.
CREATE TABLE trusted_persons (
    account_id       bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    telegram_user_id bigint NOT NULL,
    holder_id        bigint NOT NULL,
    name             text NOT NULL DEFAULT '',  -- the first name Telegram gave, for the holder's list
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, telegram_user_id)
);
CREATE INDEX trusted_persons_user ON trusted_persons (telegram_user_id);

-- Outages (008) are pushed to the subscribers of their city: these mark
-- that the notices were written, once for the start and once for the end.
ALTER TABLE outages
    ADD COLUMN pushed_at     timestamptz,
    ADD COLUMN end_pushed_at timestamptz;
