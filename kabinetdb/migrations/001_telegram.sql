-- 001: Telegram users and the accounts they linked, with the current
-- account and the language. Until the split these were the end of the
-- billing's 001_accounts.sql; a database migrated then has them already
-- (the source adopts that file).
--
-- account_id is the billing's account id. In the demo billing's database
-- it references accounts, so that an account deleted there takes its links
-- with it.

-- A Telegram user who has talked to the bot. id is the Telegram user id.
CREATE TABLE telegram_users (
    id                 bigint PRIMARY KEY,
    language           text,              -- chosen with /language; NULL until then
    current_account_id bigint,            -- the account the menu is about; see the FK below
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE telegram_links (
    telegram_user_id bigint NOT NULL REFERENCES telegram_users (id) ON DELETE CASCADE,
    account_id       bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    linked_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (telegram_user_id, account_id)
);

-- Who is linked to an account (the primary key already serves "links of a user").
CREATE INDEX telegram_links_account_idx ON telegram_links (account_id);

-- The current account is always one of the user's linked accounts: the
-- database, not only the code, guarantees that a user never acts on an
-- account that is no longer linked. Dropping the current link clears the
-- current account at once (the store then picks another linked one).
-- ON DELETE SET NULL with a column list needs PostgreSQL 15 or later.
ALTER TABLE telegram_users
    ADD CONSTRAINT telegram_users_current_linked
    FOREIGN KEY (id, current_account_id)
    REFERENCES telegram_links (telegram_user_id, account_id)
    ON DELETE SET NULL (current_account_id);
