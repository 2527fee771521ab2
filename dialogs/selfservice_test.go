package dialogs_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/money"
)

// fakeBilling is an in-memory SelfService: it applies the same rules the
// adapters apply and records the requests it was given.
type fakeBilling struct {
	freeze   *billing.Freeze
	count    int
	freezes  []billing.ChangeRequest
	plans    billing.Tariffs
	changes  []int64
	services []billing.ServiceOption
	usage    []billing.UsageDay
	ops      []billing.Operation
}

func (f *fakeBilling) Tariffs(context.Context, int64) (billing.Tariffs, error) { return f.plans, nil }
func (f *fakeBilling) Services(context.Context, int64) ([]billing.ServiceOption, error) {
	return f.services, nil
}
func (f *fakeBilling) Usage(_ context.Context, _ int64, from, to time.Time) ([]billing.UsageDay, error) {
	var out []billing.UsageDay
	for _, d := range f.usage {
		if !d.Day.Before(from) && d.Day.Before(to) {
			out = append(out, d)
		}
	}
	return out, nil
}
func (f *fakeBilling) Operations(context.Context, int64, time.Time, time.Time) ([]billing.Operation, error) {
	return f.ops, nil
}
func (f *fakeBilling) FreezeState(context.Context, int64, int) (*billing.Freeze, int, error) {
	return f.freeze, f.count, nil
}
func (f *fakeBilling) Freeze(_ context.Context, req billing.ChangeRequest, _ int64, start time.Time, days int, now time.Time, rules billing.FreezeRules) (billing.Freeze, bool, error) {
	if f.freeze != nil && f.freeze.Start.Equal(start) && f.freeze.Days() == days {
		return *f.freeze, false, nil
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, start.Location())
	if err := billing.CanFreeze(billing.FreezeFacts{Status: billing.StatusActive, Today: today, Start: start, Days: days, FreezesThisYear: f.count, Planned: f.freeze != nil}, rules); err != nil {
		return billing.Freeze{}, false, err
	}
	f.freeze = &billing.Freeze{ID: 1, Start: start, End: start.AddDate(0, 0, days), Active: !start.After(today)}
	f.count++
	f.freezes = append(f.freezes, req)
	return *f.freeze, true, nil
}
func (f *fakeBilling) Unfreeze(context.Context, billing.ChangeRequest, int64, time.Time) (bool, error) {
	had := f.freeze != nil
	f.freeze = nil
	return had, nil
}
func (f *fakeBilling) ChangeTariff(_ context.Context, _ billing.ChangeRequest, _, id int64, now time.Time) (billing.TariffChange, bool, error) {
	for _, p := range f.plans.Available {
		if p.ID == id {
			f.changes = append(f.changes, id)
			f.plans.Pending = &billing.TariffChange{To: p, From: now.AddDate(0, 0, 6)}
			return *f.plans.Pending, true, nil
		}
	}
	return billing.TariffChange{}, false, &billing.TariffRefusal{Reason: billing.TariffNotOffered}
}
func (f *fakeBilling) CancelTariffChange(context.Context, billing.ChangeRequest, int64, time.Time) (bool, error) {
	had := f.plans.Pending != nil
	f.plans.Pending = nil
	return had, nil
}
func (f *fakeBilling) SetService(context.Context, billing.ChangeRequest, int64, int64, bool, time.Time) (money.Amount, bool, error) {
	return money.Rub(10), true, nil
}

// fakeCharts remembers the chart it was asked for and draws a stand-in.
type fakeCharts struct{ got dialogs.UsageChart }

func (c *fakeCharts) UsageChart(u dialogs.UsageChart) ([]byte, error) {
	c.got = u
	return []byte("\x89PNG"), nil
}

func selfHarness(t *testing.T, lang string) (*harness, *fakeBilling, *fakeCharts) {
	h := newHarness(t, lang)
	h.accounts.links[user] = []int64{1, 4}
	h.accounts.current[user] = 1
	b := &fakeBilling{plans: billing.Tariffs{
		Current:   billing.TariffPlan{ID: 1, Name: "Домашний 100", SpeedMbps: 100, MonthlyFee: money.Rub(600)},
		Available: []billing.TariffPlan{{ID: 2, Name: "Домашний 500", SpeedMbps: 500, MonthlyFee: money.Rub(750)}},
	}}
	c := &fakeCharts{}
	h.eng.WithSelfService(b, c, dialogs.SelfServiceConfig{Freeze: billing.DefaultFreezeRules()})
	return h, b, c
}

// A freeze from a typed date: a date that is no day is answered politely
// and asked again; the offer says what happens; the confirmation goes to
// the billing under the press's key, and the contract phone is told once.
func TestFreezeFromATypedDate(t *testing.T) {
	h, b, _ := selfHarness(t, "ru")
	mustContain(t, h.press("ss:1"), "⚙ Лицевой счёт 1000000001", "[❄ Заморозить|fz:1]", "[📶 Тариф|tf:1]")
	mustContain(t, h.press("fz:1"), "С какого дня?", "[Сегодня|fzs:1:20261125]", "[Завтра|fzs:1:20261126]", "[2 декабря|fzs:1:20261202]")
	if h.st.Step != dialogs.StepFreezeDate {
		t.Fatalf("step %q, want the typed date", h.st.Step)
	}
	for _, bad := range []string{"31.02", "15.13", "с 5 числа"} {
		mustContain(t, h.text(bad), "Не понял дату")
	}
	// Words without a date leave the question: the person moved on.
	if mustContain(t, h.text("а где офис?"), "Главное меню"); h.st.Step != dialogs.StepIdle {
		t.Errorf("step %q after a text with no date", h.st.Step)
	}
	h.press("fz:1")
	mustContain(t, h.text("15.12"), "С 15 декабря. На сколько дней?", "[7 дней|fzd:1:20261215:7]", "[90 дней|fzd:1:20261215:90]")
	mustContain(t, h.text("05.12.2026"), "С 5 декабря", "[14 дней|fzd:1:20261205:14]")
	mustContain(t, h.press("fzd:1:20261215:14"), "Заморозить счёт 1000000001 с 15 декабря до 29 декабря (14 дней)?",
		"не списывается", "Баланс "+money.Amount(123450).Format("ru")+" сохранится", "Блокировка бесплатна", "[✅ Заморозить|fzo:1:20261215:14]")
	if len(b.freezes) != 0 {
		t.Fatal("frozen before Confirm")
	}
	res := h.do(dialogs.Event{Kind: dialogs.KindCallback, Data: "fzo:1:20261215:14", MessageID: 42, Key: "u5"})
	mustContain(t, res, "Блокировка запланирована: с 15 декабря до 29 декабря")
	if len(b.freezes) != 1 || b.freezes[0] != (billing.ChangeRequest{Key: "self:777:1:u5", UserID: user}) {
		t.Fatalf("billing asked %+v", b.freezes)
	}
	res = h.do(dialogs.Event{Kind: dialogs.KindCallback, Data: "fzo:1:20261215:14", MessageID: 42, Key: "u6"})
	if res.Toast != "Уже сделано" {
		t.Errorf("a second tap toasts %q", res.Toast)
	}
	sms := h.sms.sent["+79000000001"]
	if len(sms) != 1 || !strings.Contains(sms[0], "заморожен с 15.12 до 29.12") || !strings.Contains(sms[0], "Если это были не вы") {
		t.Errorf("SMS %q, want one about the freeze", sms)
	}
}

// The rules refuse before anyone picks dates: too far ahead, or the
// yearly limit reached.
func TestFreezeRefusedByTheRules(t *testing.T) {
	h, b, _ := selfHarness(t, "ru")
	h.press("fz:1")
	mustContain(t, h.text("01.02.2027"), "Начать блокировку можно не позже чем через 30 дней")
	b.count = 2
	mustContain(t, h.press("fz:1"), "Блокировку можно брать не больше 2 раз в год")
	en, b2, _ := selfHarness(t, "en")
	b2.count = 2
	mustContain(t, en.press("fz:1"), "at most 2 times a year")
}

// A tariff the balance cannot pay says so before the confirmation.
func TestTariffOfferWarnsOfTheFirstMonth(t *testing.T) {
	h, _, _ := selfHarness(t, "ru")
	// Account 4: 100 ₽, and a static IP of 150 ₽ that stays.
	mustContain(t, h.press("tfp:4:2"), "с «Домашний 100»", "на «Домашний 500»", "вырастет на "+money.Rub(150).Format("ru"),
		"первый месяц на новом тарифе — "+money.Rub(900).Format("ru"), "⚠ На балансе не хватает "+money.Rub(800).Format("ru"), "[✅ Сменить тариф|tfo:4:2]")
	mustContain(t, h.press("tfo:4:2"), "Тариф «Домашний 500» начнёт действовать 1 декабря", "[✖ Отменить смену|tfc:4]")
	if sms := h.sms.sent["+79000000004"]; len(sms) != 1 || !strings.Contains(sms[0], "сменится с 01.12") {
		t.Errorf("SMS %q", sms)
	}
}

// The usage reply names the chart, drawn only when it is sent; the chart
// has a bar for every day of the month.
func TestUsageIsAPictureMadeWhenSent(t *testing.T) {
	h, b, c := selfHarness(t, "ru")
	for d := 1; d <= 25; d++ {
		b.usage = append(b.usage, billing.UsageDay{Day: time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC), BytesIn: 2_000_000_000, BytesOut: 200_000_000, Sessions: 2, SessionsSeconds: 2 * 4800})
	}
	res := h.press("us:1:0")
	if len(res.Replies) != 1 || res.Replies[0].File == nil {
		t.Fatalf("replies %+v, want one with a file", res.Replies)
	}
	f := *res.Replies[0].File
	if f.Kind != "usage" || f.Data != "1:202611" || !f.Photo || f.UserID != user || f.Lang != "ru" {
		t.Errorf("file %+v", f)
	}
	mustContain(t, res, "Принято 50,0 ГБ, отправлено 5,0 ГБ; в среднем 2,0 ГБ в день", "50 сессий, в среднем по 1 ч 20 мин", "[◀ Прошлый месяц|us:1:1]")
	up, err := h.eng.RenderFile(context.Background(), f)
	if err != nil || up.Type != "image/png" || up.Name != "usage-1000000001-2026-11.png" {
		t.Fatalf("rendered %q %q, %v", up.Name, up.Type, err)
	}
	if len(c.got.Days) != 30 || c.got.Values[0] != 2 || c.got.Values[29] != 0 || !strings.Contains(c.got.Title, "ноябрь 2026") {
		t.Errorf("chart of %d days, first %v, title %q", len(c.got.Days), c.got.Values, c.got.Title)
	}
	// A file of an account no longer linked is not made.
	h.accounts.links[user] = []int64{4}
	if _, err := h.eng.RenderFile(context.Background(), f); !errors.Is(err, dialogs.ErrNoFile) {
		t.Errorf("a file of an unlinked account: %v", err)
	}
}

// The statement: the operations in a message, then a CSV file in the
// person's language.
func TestStatementFile(t *testing.T) {
	h, b, _ := selfHarness(t, "en")
	b.ops = []billing.Operation{
		{At: now.Add(-48 * time.Hour), Kind: billing.OpPayment, Amount: money.Rub(500), What: "card"},
		{At: now.Add(-24 * time.Hour), Kind: billing.OpCharge, Amount: -money.Rub(600), What: "Домашний 100"},
	}
	res := h.press("stm:1:0")
	mustContain(t, res, "Statement of account 1000000001, November 2026", "Payment (", "+500.00", "Charge: Домашний 100 −600.00", "Paid in")
	var f *dialogs.File
	for _, r := range res.Replies {
		if r.File != nil {
			f = r.File
		}
	}
	if f == nil || f.Photo {
		t.Fatalf("no statement file: %+v", res.Replies)
	}
	up, err := h.eng.RenderFile(context.Background(), *f)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(up.Body, []byte("\ufeff"))))
	r.Comma = ';'
	rows, err := r.ReadAll()
	if err != nil || len(rows) != 3 || strings.Join(rows[0], "|") != "Date|Operation|Amount, RUB" || rows[2][2] != "-600.00" {
		t.Errorf("CSV %q, %v", rows, err)
	}
}

// A button naming someone else's account changes and shows nothing.
func TestSelfServiceOfSomeoneElsesAccount(t *testing.T) {
	h, b, _ := selfHarness(t, "ru")
	for _, data := range []string{"ss:2", "fzo:2:20261215:14", "tfo:2:2", "us:2:0", "stm:2:0"} {
		res := h.press(data)
		if res.Toast == "" {
			t.Errorf("%s: no toast", data)
		}
		for _, r := range res.Replies {
			if r.File != nil || r.Effect != nil {
				t.Errorf("%s: replied with %+v", data, r)
			}
		}
	}
	if len(b.freezes)+len(b.changes) != 0 {
		t.Errorf("billing asked for %d freezes and %d changes", len(b.freezes), len(b.changes))
	}
}
