package dialogs

import (
	"context"
	"errors"

	"github.com/kabinet-bot/kabinet/billing"
)

// NewAccounts answers the dialogs' Accounts from the billing's accounts and
// Kabinet's links: the links say which ids a person may see, the billing
// what those accounts hold.
func NewAccounts(b BillingAccounts, l Links) Accounts {
	return linkedAccounts{BillingAccounts: b, links: l}
}

type linkedAccounts struct {
	BillingAccounts // AccountByNumber, AccountsByPhone, RecentPayments as the billing answers them
	links           Links
}

// LinkedAccounts reads the linked accounts from the billing, oldest link
// first. An id the billing no longer knows (an account deleted there) is
// left out rather than failing the whole list.
func (a linkedAccounts) LinkedAccounts(ctx context.Context, userID int64) ([]billing.Account, error) {
	ids, err := a.links.LinkedIDs(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]billing.Account, 0, len(ids))
	for _, id := range ids {
		acc, err := a.BillingAccounts.AccountByID(ctx, id)
		if errors.Is(err, billing.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, acc)
	}
	return out, nil
}

// LinkedAccount is the authorisation check behind every button that names
// an account: only an account linked to this user is read at all.
func (a linkedAccounts) LinkedAccount(ctx context.Context, userID, accountID int64) (billing.Account, error) {
	linked, err := a.links.IsLinked(ctx, userID, accountID)
	if err != nil {
		return billing.Account{}, err
	}
	if !linked {
		return billing.Account{}, billing.ErrNotFound
	}
	return a.BillingAccounts.AccountByID(ctx, accountID)
}

// Link links an account the billing knows.
func (a linkedAccounts) Link(ctx context.Context, userID, accountID int64, max int) error {
	if _, err := a.BillingAccounts.AccountByID(ctx, accountID); err != nil {
		return err
	}
	return a.links.Link(ctx, userID, accountID, max)
}

func (a linkedAccounts) Unlink(ctx context.Context, userID, accountID int64) error {
	return a.links.Unlink(ctx, userID, accountID)
}

// CurrentAccount reads the current account from the billing. Should the
// billing no longer know it, the user has no current account to show
// (billing.ErrNotFound), as when nothing is linked.
func (a linkedAccounts) CurrentAccount(ctx context.Context, userID int64) (billing.Account, error) {
	id, err := a.links.CurrentID(ctx, userID)
	if err != nil {
		return billing.Account{}, err
	}
	return a.BillingAccounts.AccountByID(ctx, id)
}

func (a linkedAccounts) SetCurrent(ctx context.Context, userID, accountID int64) error {
	return a.links.SetCurrent(ctx, userID, accountID)
}

func (a linkedAccounts) Language(ctx context.Context, userID int64) (string, error) {
	return a.links.Language(ctx, userID)
}

func (a linkedAccounts) SetLanguage(ctx context.Context, userID int64, lang string) error {
	return a.links.SetLanguage(ctx, userID, lang)
}
