package kabinetdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
)

// Links is Kabinet's record of which accounts each Telegram user linked,
// which of them is current, and the language the user chose (it implements
// dialogs.Links). It knows accounts only by their billing id: what an
// account holds is the billing's to answer. It is safe for concurrent use:
// it holds only the pool.
type Links struct {
	pool *pgxpool.Pool
}

// NewLinks returns the store on a pool whose database is migrated (Migrate).
func NewLinks(pool *pgxpool.Pool) *Links {
	return &Links{pool: pool}
}

// LinkedIDs lists the ids of the accounts linked to a Telegram user, oldest
// link first.
func (s *Links) LinkedIDs(ctx context.Context, userID int64) (_ []int64, err error) {
	defer wrap(&err, "linked ids")
	rows, _ := s.pool.Query(ctx, `
SELECT account_id FROM telegram_links
WHERE telegram_user_id = $1
ORDER BY linked_at, account_id`, userID)
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// IsLinked says whether the account is linked to the user.
func (s *Links) IsLinked(ctx context.Context, userID, accountID int64) (linked bool, err error) {
	defer wrap(&err, "is linked")
	err = s.pool.QueryRow(ctx, `
SELECT EXISTS (SELECT 1 FROM telegram_links WHERE telegram_user_id = $1 AND account_id = $2)`,
		userID, accountID).Scan(&linked)
	return linked, err
}

// CurrentID returns the id of the user's current account, or
// billing.ErrNotFound when no account is linked. Should the current account
// ever be unset while links remain (an account deleted by an administrator
// clears it), the oldest link answers instead, so the menu keeps working.
func (s *Links) CurrentID(ctx context.Context, userID int64) (id int64, err error) {
	defer wrap(&err, "current id")
	err = s.pool.QueryRow(ctx, `
SELECT l.account_id
FROM telegram_links l
JOIN telegram_users u ON u.id = l.telegram_user_id
WHERE l.telegram_user_id = $1
ORDER BY l.account_id IS NOT DISTINCT FROM u.current_account_id DESC, l.linked_at, l.account_id
LIMIT 1`, userID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, billing.ErrNotFound
	}
	return id, err
}

// Link links an account to a Telegram user and makes it the current one.
// Linking an already linked account only makes it current. A user who
// already has max other accounts gets billing.ErrLinkLimit. The caller has
// found the account in the billing; in the demo billing's database a
// foreign key also refuses an account that is not there (billing.ErrNotFound).
//
// The user's telegram_users row is locked for the whole transaction, so two
// Link calls of one user (two chats, a double tap) count the links one after
// the other and cannot both pass the limit.
func (s *Links) Link(ctx context.Context, userID, accountID int64, max int) (err error) {
	defer wrap(&err, "link")
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockUser(ctx, tx, userID, true); err != nil {
			return err
		}
		var linked bool
		var others int
		if err := tx.QueryRow(ctx, `
SELECT count(*) FILTER (WHERE account_id = $2) > 0,
       count(*) FILTER (WHERE account_id <> $2)
FROM telegram_links
WHERE telegram_user_id = $1`, userID, accountID).Scan(&linked, &others); err != nil {
			return err
		}
		if !linked {
			if others >= max {
				return billing.ErrLinkLimit
			}
			if _, err := tx.Exec(ctx, `
INSERT INTO telegram_links (telegram_user_id, account_id) VALUES ($1, $2)`, userID, accountID); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `
UPDATE telegram_users SET current_account_id = $2 WHERE id = $1`, userID, accountID)
		return err
	})
	if isForeignKey(err) {
		return billing.ErrNotFound
	}
	return err
}

// Unlink removes the link (billing.ErrNotFound if there is none). When the
// account was the current one, the oldest remaining link becomes current, or
// none when it was the last.
func (s *Links) Unlink(ctx context.Context, userID, accountID int64) (err error) {
	defer wrap(&err, "unlink")
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockUser(ctx, tx, userID, false); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
DELETE FROM telegram_links WHERE telegram_user_id = $1 AND account_id = $2`, userID, accountID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return billing.ErrNotFound
		}
		// Deleting the current link has just cleared current_account_id
		// (the foreign key's ON DELETE SET NULL); pick the successor.
		_, err = tx.Exec(ctx, `
UPDATE telegram_users
SET current_account_id = (
    SELECT account_id FROM telegram_links
    WHERE telegram_user_id = $1
    ORDER BY linked_at, account_id
    LIMIT 1)
WHERE id = $1 AND current_account_id IS NULL`, userID)
		return err
	})
}

// lockUser takes the row lock that serialises changes to one user's links.
// With create, a missing row is created first (a user's first link);
// without, a missing row means the user has no links: billing.ErrNotFound.
func lockUser(ctx context.Context, tx pgx.Tx, userID int64, create bool) error {
	if create {
		if _, err := tx.Exec(ctx, `
INSERT INTO telegram_users (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, userID); err != nil {
			return err
		}
	}
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM telegram_users WHERE id = $1 FOR UPDATE`, userID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.ErrNotFound
	}
	return err
}

// SetCurrent makes a linked account the current one (billing.ErrNotFound if
// it is not linked to the user).
func (s *Links) SetCurrent(ctx context.Context, userID, accountID int64) (err error) {
	defer wrap(&err, "set current")
	tag, err := s.pool.Exec(ctx, `
UPDATE telegram_users SET current_account_id = $2
WHERE id = $1
  AND EXISTS (SELECT 1 FROM telegram_links WHERE telegram_user_id = $1 AND account_id = $2)`, userID, accountID)
	// A foreign key violation means an Unlink in another chat won the race
	// between the check above and the update: the account is no longer linked.
	if isForeignKey(err) {
		return billing.ErrNotFound
	}
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return billing.ErrNotFound
	}
	return nil
}

// Language returns the language the user chose with /language, or "" if the
// user never chose one (the bot then follows Telegram's language).
func (s *Links) Language(ctx context.Context, userID int64) (_ string, err error) {
	defer wrap(&err, "language")
	var lang string
	err = s.pool.QueryRow(ctx, `
SELECT coalesce(language, '') FROM telegram_users WHERE id = $1`, userID).Scan(&lang)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return lang, err
}

// SetLanguage stores the user's language choice; "" forgets it.
func (s *Links) SetLanguage(ctx context.Context, userID int64, lang string) (err error) {
	defer wrap(&err, "set language")
	_, err = s.pool.Exec(ctx, `
INSERT INTO telegram_users (id, language) VALUES ($1, NULLIF($2, ''))
ON CONFLICT (id) DO UPDATE SET language = EXCLUDED.language`, userID, lang)
	return err
}

func isForeignKey(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// wrap prefixes a returned error with the operation that failed, so that a
// log line says where; billing.ErrNotFound and ErrLinkLimit stay matchable
// with errors.Is. It never adds arguments: they may be personal data.
func wrap(errp *error, op string) {
	if *errp != nil {
		*errp = fmt.Errorf("kabinetdb: %s: %w", op, *errp)
	}
}
