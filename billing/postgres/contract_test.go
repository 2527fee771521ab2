package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing/billingtest"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/money"
)

// The demo billing passes the self-service contract every adapter passes.
func TestSelfServiceContract(t *testing.T) {
	billingtest.Contract(t, func(t *testing.T) billingtest.Fixture {
		s, pool := newStore(t)
		pgtest.Exec(t, pool, `INSERT INTO tariffs (name, monthly_fee, kind, speed_mbps) VALUES ('Быстрый', 75000, 'home', 500), ('Офис', 250000, 'business', 200)`)
		pgtest.Exec(t, pool, `INSERT INTO tariff_cities (tariff_id, city_id) SELECT t.id, c.id FROM tariffs t, cities c WHERE c.name = 'Москва'`)
		id := pgtest.AddAccount(t, pool, pgtest.Account{Balance: money.Rub(1000)})
		var f billingtest.Fixture
		f.Billing, f.Account = s, id
		for name, dst := range map[string]*int64{"Быстрый": &f.Plan, "Офис": &f.OtherKind} {
			if err := pool.QueryRow(context.Background(), `SELECT id FROM tariffs WHERE name = $1`, name).Scan(dst); err != nil {
				t.Fatal(err)
			}
		}
		if err := pool.QueryRow(context.Background(), `SELECT id FROM services WHERE name = 'Статический IP'`).Scan(&f.Service); err != nil {
			t.Fatal(err)
		}
		f.Balance = func() money.Amount { b, _ := balanceOf(t, pool, id); return b }
		return f
	})
}

// The demo billing passes the account reads' contract every billing passes.
func TestAccountsContract(t *testing.T) {
	billingtest.AccountsContract(t, func(t *testing.T) billingtest.AccountsFixture {
		s, pool := newStore(t)
		const number, phone = "1000777001", "+79990007001"
		id := pgtest.AddAccount(t, pool, pgtest.Account{Number: number, Phone: phone, Balance: money.Rub(1000)})
		n := 0
		return billingtest.AccountsFixture{Accounts: s, Account: id, Number: number, Phone: phone,
			Pay: func(amount money.Amount, paidAt time.Time) {
				n++
				if _, err := s.Credit(context.Background(), "billing", fmt.Sprint("contract-", n), id, amount, "card", paidAt); err != nil {
					t.Fatal(err)
				}
			}}
	})
}

// The demo billing passes the trust payment's contract every billing passes.
func TestTrustContract(t *testing.T) {
	billingtest.TrustContract(t, func(t *testing.T) billingtest.TrustFixture {
		s, pool := newStore(t)
		return billingtest.TrustFixture{Trust: s,
			Debtor:  pgtest.AddAccount(t, pool, pgtest.Account{Balance: money.Rub(-500)}),
			Rich:    pgtest.AddAccount(t, pool, pgtest.Account{Balance: money.Rub(1000)}),
			Balance: func(id int64) money.Amount { b, _ := balanceOf(t, pool, id); return b }}
	})
}
