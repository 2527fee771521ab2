package postgres_test

import (
	"context"
	"testing"

	"github.com/kabinet-bot/kabinet/billing/billingtest"
	"github.com/kabinet-bot/kabinet/money"
)

// The demo billing passes the self-service contract every adapter passes.
func TestSelfServiceContract(t *testing.T) {
	billingtest.Contract(t, func(t *testing.T) billingtest.Fixture {
		s, pool := newStore(t)
		exec(t, pool, `INSERT INTO tariffs (name, monthly_fee, kind, speed_mbps) VALUES ('Быстрый', 75000, 'home', 500), ('Офис', 250000, 'business', 200)`)
		exec(t, pool, `INSERT INTO tariff_cities (tariff_id, city_id) SELECT t.id, c.id FROM tariffs t, cities c WHERE c.name = 'Москва'`)
		id := addAccount(t, pool, testAccount{Balance: money.Rub(1000)})
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
