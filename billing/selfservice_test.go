package billing

import (
	"errors"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/money"
)

func TestCanFreeze(t *testing.T) {
	today := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rules := DefaultFreezeRules()
	ok := FreezeFacts{Status: StatusActive, Balance: money.Rub(100), Today: today, Start: today, Days: 14}
	with := func(change func(*FreezeFacts)) FreezeFacts { f := ok; change(&f); return f }
	feeRules := rules
	feeRules.Fee = money.Rub(50)
	cases := []struct {
		name  string
		facts FreezeFacts
		rules FreezeRules
		want  FreezeReason // "" allowed
	}{
		{"active, from today, 14 days", ok, rules, ""},
		{"the shortest", with(func(f *FreezeFacts) { f.Days = 7 }), rules, ""},
		{"the longest", with(func(f *FreezeFacts) { f.Days = 90 }), rules, ""},
		{"a day too short", with(func(f *FreezeFacts) { f.Days = 6 }), rules, FreezeTooShort},
		{"a day too long", with(func(f *FreezeFacts) { f.Days = 91 }), rules, FreezeTooLong},
		{"blocked for debt", with(func(f *FreezeFacts) { f.Status = StatusBlocked }), rules, FreezeNotActive},
		{"closed", with(func(f *FreezeFacts) { f.Status = StatusClosed }), rules, FreezeNotActive},
		{"frozen already", with(func(f *FreezeFacts) { f.Status = StatusFrozen }), rules, FreezePlanned},
		{"one scheduled already", with(func(f *FreezeFacts) { f.Planned = true }), rules, FreezePlanned},
		{"from yesterday", with(func(f *FreezeFacts) { f.Start = today.AddDate(0, 0, -1) }), rules, FreezeStartPast},
		{"30 days ahead", with(func(f *FreezeFacts) { f.Start = today.AddDate(0, 0, 30) }), rules, ""},
		{"31 days ahead", with(func(f *FreezeFacts) { f.Start = today.AddDate(0, 0, 31) }), rules, FreezeStartFar},
		{"the second this year", with(func(f *FreezeFacts) { f.FreezesThisYear = 1 }), rules, ""},
		{"the third this year", with(func(f *FreezeFacts) { f.FreezesThisYear = 2 }), rules, FreezeYearLimit},
		{"a fee the balance pays", ok, feeRules, ""},
		{"a fee above the balance", with(func(f *FreezeFacts) { f.Balance = money.Rub(49) }), feeRules, FreezeNoMoney},
		{"no fee, no money", with(func(f *FreezeFacts) { f.Balance = -100 }), rules, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CanFreeze(c.facts, c.rules)
			var r *FreezeRefusal
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && !errors.As(err, &r):
				t.Fatalf("allowed, want %s", c.want)
			case c.want != "" && r.Reason != c.want:
				t.Fatalf("refused for %s, want %s", r.Reason, c.want)
			}
		})
	}
}

func TestCheckTariffChange(t *testing.T) {
	cur := TariffPlan{ID: 1, Name: "Домашний 100", MonthlyFee: money.Rub(500)}
	up := TariffPlan{ID: 2, Name: "Домашний 500", MonthlyFee: money.Rub(750)}
	down := TariffPlan{ID: 3, Name: "Домашний 50", MonthlyFee: money.Rub(300)}
	cases := []struct {
		name      string
		facts     TariffFacts
		want      TariffReason
		short     money.Amount
		firstMon  money.Amount
		different money.Amount
	}{
		{"up, the balance pays the first month", TariffFacts{Status: StatusActive, Balance: money.Rub(1000), Current: cur, Target: up, Offered: true}, "", 0, money.Rub(750), money.Rub(250)},
		{"up with a service, 100 ₽ short", TariffFacts{Status: StatusActive, Balance: money.Rub(800), Current: cur, Target: up, Offered: true, Services: money.Rub(150)}, "", money.Rub(100), money.Rub(900), money.Rub(250)},
		{"down, blocked in debt", TariffFacts{Status: StatusBlocked, Balance: -5000, Current: cur, Target: down, Offered: true}, "", money.Rub(350), money.Rub(300), -money.Rub(200)},
		{"the same plan", TariffFacts{Status: StatusActive, Current: cur, Target: cur, Offered: true}, TariffSame, 0, 0, 0},
		{"not sold here", TariffFacts{Status: StatusActive, Current: cur, Target: up}, TariffNotOffered, 0, 0, 0},
		{"closed", TariffFacts{Status: StatusClosed, Current: cur, Target: up, Offered: true}, TariffClosed, 0, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := CheckTariffChange(c.facts)
			var r *TariffRefusal
			if c.want != "" {
				if !errors.As(err, &r) || r.Reason != c.want {
					t.Fatalf("got %v, want refusal %s", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.Short != c.short || v.FirstMonth != c.firstMon || v.Difference != c.different {
				t.Fatalf("verdict %+v, want short %d, first month %d, difference %d", v, c.short, c.firstMon, c.different)
			}
		})
	}
}

func TestServiceFirstPart(t *testing.T) {
	next := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC) // period 5 Nov .. 5 Dec: 30 days
	cases := []struct {
		today time.Time
		want  money.Amount
	}{
		{time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC), money.Rub(300)}, // the whole period
		{time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), money.Rub(150)},
		{time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), money.Rub(10)},
		{time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC), 0},
	}
	for _, c := range cases {
		if got := ServiceFirstPart(money.Rub(300), c.today, next); got != c.want {
			t.Errorf("%s: %d, want %d", c.today.Format(time.DateOnly), got, c.want)
		}
	}
}

func TestChargeForSkipsFrozenDays(t *testing.T) {
	rules := DefaultFreezeRules()
	if got := ChargeFor(money.Rub(750), false, rules); got != money.Rub(750) {
		t.Errorf("active: %d", got)
	}
	if got := ChargeFor(money.Rub(750), true, rules); got != 0 {
		t.Errorf("frozen, no fee: %d", got)
	}
	rules.Fee = money.Rub(50)
	if got := ChargeFor(money.Rub(750), true, rules); got != money.Rub(50) {
		t.Errorf("frozen with a fee: %d", got)
	}
}
