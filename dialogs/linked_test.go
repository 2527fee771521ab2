package dialogs_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/dialogs"
)

// fakeBillingAccounts knows accounts by id and counts the reads of each.
type fakeBillingAccounts struct {
	accounts map[int64]billing.Account
	reads    map[int64]int
}

func (b *fakeBillingAccounts) AccountByID(_ context.Context, id int64) (billing.Account, error) {
	b.reads[id]++
	a, ok := b.accounts[id]
	if !ok {
		return billing.Account{}, billing.ErrNotFound
	}
	return a, nil
}
func (b *fakeBillingAccounts) AccountByNumber(context.Context, string) (billing.Account, error) {
	return billing.Account{}, billing.ErrNotFound
}
func (b *fakeBillingAccounts) AccountsByPhone(context.Context, string) ([]billing.Account, error) {
	return nil, nil
}
func (b *fakeBillingAccounts) RecentPayments(context.Context, int64, int) ([]billing.Payment, error) {
	return nil, nil
}

// fakeLinkStore keeps each user's linked ids in link order; the first is current.
type fakeLinkStore struct{ linked map[int64][]int64 }

func (l *fakeLinkStore) LinkedIDs(_ context.Context, user int64) ([]int64, error) {
	return l.linked[user], nil
}
func (l *fakeLinkStore) IsLinked(_ context.Context, user, acc int64) (bool, error) {
	return slices.Contains(l.linked[user], acc), nil
}
func (l *fakeLinkStore) CurrentID(_ context.Context, user int64) (int64, error) {
	if len(l.linked[user]) == 0 {
		return 0, billing.ErrNotFound
	}
	return l.linked[user][0], nil
}
func (l *fakeLinkStore) Link(_ context.Context, user, acc int64, _ int) error {
	l.linked[user] = append(l.linked[user], acc)
	return nil
}
func (l *fakeLinkStore) Unlink(context.Context, int64, int64) error       { return nil }
func (l *fakeLinkStore) SetCurrent(context.Context, int64, int64) error   { return nil }
func (l *fakeLinkStore) Language(context.Context, int64) (string, error)  { return "", nil }
func (l *fakeLinkStore) SetLanguage(context.Context, int64, string) error { return nil }

// TestLinkedAccountsComposeLinksAndBilling: the links decide which accounts
// a person may see, the billing what they hold; an account that is not the
// person's is never even read from the billing, and one the billing no
// longer knows is neither listed nor linked.
func TestLinkedAccountsComposeLinksAndBilling(t *testing.T) {
	ctx := context.Background()
	b := &fakeBillingAccounts{accounts: map[int64]billing.Account{
		1: {ID: 1, Number: "1000000001"}, 2: {ID: 2, Number: "1000000002"}, 3: {ID: 3, Number: "1000000003"},
	}, reads: map[int64]int{}}
	l := &fakeLinkStore{linked: map[int64][]int64{7: {2, 9, 1}}} // 9: deleted in the billing since
	acc := dialogs.NewAccounts(b, l)

	got, err := acc.LinkedAccounts(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	var numbers []string
	for _, a := range got {
		numbers = append(numbers, a.Number)
	}
	if want := []string{"1000000002", "1000000001"}; !slices.Equal(numbers, want) {
		t.Errorf("linked accounts %v, want %v (link order, the unknown one left out)", numbers, want)
	}

	if _, err := acc.LinkedAccount(ctx, 7, 3); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("LinkedAccount of an account not linked: %v, want ErrNotFound", err)
	}
	if b.reads[3] != 0 {
		t.Errorf("the billing was asked %d times for an account the person has not linked", b.reads[3])
	}
	if a, err := acc.LinkedAccount(ctx, 7, 1); err != nil || a.Number != "1000000001" {
		t.Errorf("LinkedAccount of a linked account: %+v, %v", a, err)
	}
	if a, err := acc.CurrentAccount(ctx, 7); err != nil || a.ID != 2 {
		t.Errorf("current account %+v, %v; want the account 2", a, err)
	}
	if _, err := acc.CurrentAccount(ctx, 8); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("current account of a user with no links: %v, want ErrNotFound", err)
	}

	if err := acc.Link(ctx, 8, 42, 5); !errors.Is(err, billing.ErrNotFound) {
		t.Errorf("linking an account the billing does not know: %v, want ErrNotFound", err)
	}
	if len(l.linked[8]) != 0 {
		t.Errorf("a link to an unknown account was written: %v", l.linked[8])
	}
	if err := acc.Link(ctx, 8, 3, 5); err != nil || !slices.Equal(l.linked[8], []int64{3}) {
		t.Errorf("linking a known account: %v, links %v", err, l.linked[8])
	}
}
