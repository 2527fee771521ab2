// Package httpbillingtest is an in-process provider billing for tests: an
// http.Handler that speaks httpbilling's API (openapi.yaml) over accounts
// held in memory, applies billing's rules with its own clock, and answers
// a request whose Idempotency-Key it has seen with the answer it gave.
package httpbillingtest

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/httpbilling"
	"github.com/kabinet-bot/kabinet/money"
)

// Account is an account the fake billing holds.
type Account struct {
	ID        int64
	Number    string
	Phone     string // E.164
	OpenedAt  time.Time
	Status    billing.Status
	Balance   money.Amount
	Kind      string // "home" or "business"
	City      string
	TimeZone  string
	Tariff    int64
	Services  []int64
	ChargeDay int
}

// Plan is a tariff and the cities it is sold in (nil: all).
type Plan struct {
	billing.TariffPlan
	Cities []string
}

// trust is a trust payment the fake granted.
type trust struct {
	account int64
	month   time.Time
	granted time.Time
	offer   httpbilling.TrustOffer
}

type freeze struct {
	httpbilling.Freeze
	account int64
	ended   bool
	started bool
}

// Billing is the fake. Add what it holds with AddPlan, AddService and
// AddAccount before serving.
type Billing struct {
	mu       sync.Mutex
	now      func() time.Time
	rules    billing.FreezeRules
	plans    []Plan
	services []billing.ServiceOption
	accounts map[int64]*Account
	freezes  []*freeze
	pending  map[int64]*httpbilling.TariffChange
	payments map[int64][]httpbilling.Payment // by account, in the order added
	trusts   []trust
	granted  map[string]trust               // by Idempotency-Key
	answers  map[string]httpbilling.Changed // by Idempotency-Key
	// Trust are the billing's own trust-payment rules: the seed provider's
	// in Москва unless a test sets others before serving.
	Trust billing.TrustSettings
	// Calls lists "METHOD path user key" of every request, for a test to
	// see what Kabinet sent.
	Calls []string
}

// New returns a fake billing with the clock now and the freeze rules.
func New(now func() time.Time, rules billing.FreezeRules) *Billing {
	return &Billing{now: now, rules: rules, Trust: defaultTrust(), granted: map[string]trust{}, accounts: map[int64]*Account{}, payments: map[int64][]httpbilling.Payment{}, pending: map[int64]*httpbilling.TariffChange{}, answers: map[string]httpbilling.Changed{}}
}

// AddPlan adds a tariff plan.
func (b *Billing) AddPlan(p Plan) { b.mu.Lock(); b.plans = append(b.plans, p); b.mu.Unlock() }

// AddService adds a service.
func (b *Billing) AddService(s billing.ServiceOption) {
	b.mu.Lock()
	b.services = append(b.services, s)
	b.mu.Unlock()
}

// AddAccount adds an account.
func (b *Billing) AddAccount(a Account) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a.TimeZone == "" {
		a.TimeZone = "Europe/Moscow"
	}
	b.accounts[a.ID] = &a
}

// AddPayment records a real payment to an account and credits it.
func (b *Billing) AddPayment(accountID int64, amount money.Amount, paidAt time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	list := b.payments[accountID]
	b.payments[accountID] = append(list, httpbilling.Payment{ID: int64(len(list) + 1), Amount: int64(amount), Channel: "card", PaidAt: paidAt, Provider: "billing"})
	b.accounts[accountID].Balance += amount
}

// Balance is an account's balance now.
func (b *Billing) Balance(id int64) money.Amount {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.accounts[id].Balance
}

// Serve starts the fake on a test server and returns its base URL.
func (b *Billing) Serve(t testing.TB) string {
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// Handler is the API.
func (b *Billing) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /accounts/{id}", b.read(func(a *Account, _ *http.Request) (any, error) { return b.wireAccount(a), nil }))
	mux.HandleFunc("POST /accounts/lookup", b.lookup)
	mux.HandleFunc("GET /accounts/{id}/payments", b.read(b.paymentsOf))
	mux.HandleFunc("GET /accounts/{id}/trust-offer", b.trustHandler(false))
	mux.HandleFunc("POST /accounts/{id}/trust", b.trustHandler(true))
	mux.HandleFunc("GET /accounts/{id}/tariffs", b.read(b.tariffs))
	mux.HandleFunc("GET /accounts/{id}/services", b.read(b.servicesOf))
	mux.HandleFunc("GET /accounts/{id}/usage", b.read(func(*Account, *http.Request) (any, error) { return []httpbilling.UsageDay{}, nil }))
	mux.HandleFunc("GET /accounts/{id}/operations", b.read(func(*Account, *http.Request) (any, error) { return []httpbilling.Operation{}, nil }))
	mux.HandleFunc("GET /accounts/{id}/freeze", b.read(b.freezeState))
	mux.HandleFunc("POST /accounts/{id}/freeze", b.change(b.freeze))
	mux.HandleFunc("DELETE /accounts/{id}/freeze", b.change(b.unfreeze))
	mux.HandleFunc("POST /accounts/{id}/tariff-change", b.change(b.changeTariff))
	mux.HandleFunc("DELETE /accounts/{id}/tariff-change", b.change(b.cancelTariff))
	mux.HandleFunc("PUT /accounts/{id}/services/{service}", b.change(b.serviceOn))
	mux.HandleFunc("DELETE /accounts/{id}/services/{service}", b.change(b.serviceOff))
	return mux
}

// account finds the account of the path, under the lock.
func (b *Billing) account(w http.ResponseWriter, r *http.Request) (*Account, bool) {
	b.Calls = append(b.Calls, r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Kabinet-User")+" "+r.Header.Get("Idempotency-Key"))
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	a, ok := b.accounts[id]
	if !ok {
		http.Error(w, `{"error":"no such account"}`, http.StatusNotFound)
	}
	return a, ok
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (b *Billing) read(f func(*Account, *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		defer b.mu.Unlock()
		a, ok := b.account(w, r)
		if !ok {
			return
		}
		v, err := f(a, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// change runs a change once per Idempotency-Key: the key seen before is
// answered as it was.
func (b *Billing) change(f func(*Account, *http.Request) (httpbilling.Changed, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		defer b.mu.Unlock()
		a, ok := b.account(w, r)
		if !ok {
			return
		}
		key := r.Header.Get("Idempotency-Key")
		if prior, seen := b.answers[key]; seen && key != "" {
			writeJSON(w, http.StatusOK, prior)
			return
		}
		out, err := f(a, r)
		var fr *billing.FreezeRefusal
		var tr *billing.TariffRefusal
		switch {
		case errors.As(err, &fr):
			writeJSON(w, http.StatusUnprocessableEntity, httpbilling.Refusal{Refused: "freeze", Reason: string(fr.Reason)})
			return
		case errors.As(err, &tr):
			writeJSON(w, http.StatusUnprocessableEntity, httpbilling.Refusal{Refused: "tariff", Reason: string(tr.Reason)})
			return
		case errors.Is(err, billing.ErrNotFound):
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out.TimeZone = a.TimeZone
		if out.Changed && key != "" {
			b.answers[key] = out
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func loc(a *Account) *time.Location {
	l, err := time.LoadLocation(a.TimeZone)
	if err != nil {
		return time.UTC
	}
	return l
}

func (b *Billing) today(a *Account) time.Time {
	n := b.now().In(loc(a))
	return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, n.Location())
}

func (b *Billing) nextCharge(a *Account) time.Time {
	return billing.Account{ChargeDay: a.ChargeDay}.NextChargeDate(b.now(), loc(a))
}

func wirePlan(p billing.TariffPlan) httpbilling.Plan {
	return httpbilling.Plan{ID: p.ID, Name: p.Name, Kind: p.Kind, SpeedMbps: p.SpeedMbps, MonthlyFee: int64(p.MonthlyFee), TV: p.TV}
}

func (b *Billing) plan(id int64) (Plan, bool) {
	for _, p := range b.plans {
		if p.ID == id {
			return p, true
		}
	}
	return Plan{}, false
}

func (b *Billing) offered(a *Account, p Plan) bool {
	return p.Kind == a.Kind && (p.Cities == nil || slices.Contains(p.Cities, a.City))
}

func (b *Billing) tariffs(a *Account, _ *http.Request) (any, error) {
	cur, _ := b.plan(a.Tariff)
	out := struct {
		httpbilling.Tariffs
		TimeZone string `json:"time_zone"`
	}{httpbilling.Tariffs{Current: wirePlan(cur.TariffPlan), Available: []httpbilling.Plan{}, Pending: b.pending[a.ID]}, a.TimeZone}
	for _, p := range b.plans {
		if p.ID != a.Tariff && b.offered(a, p) {
			out.Available = append(out.Available, wirePlan(p.TariffPlan))
		}
	}
	return out, nil
}

func (b *Billing) servicesOf(a *Account, _ *http.Request) (any, error) {
	out := []httpbilling.Service{}
	for _, s := range b.services {
		out = append(out, httpbilling.Service{ID: s.ID, Name: s.Name, Kind: s.Kind, MonthlyFee: int64(s.MonthlyFee), Connected: slices.Contains(a.Services, s.ID)})
	}
	return out, nil
}

func (b *Billing) servicesFee(a *Account) money.Amount {
	var sum money.Amount
	for _, s := range b.services {
		if slices.Contains(a.Services, s.ID) {
			sum += s.MonthlyFee
		}
	}
	return sum
}

// open is the account's freeze running or scheduled, and how many began
// (or are to begin) in year.
func (b *Billing) open(a *Account, year int) (*freeze, int) {
	var open *freeze
	n := 0
	for _, f := range b.freezes {
		if f.account != a.ID {
			continue
		}
		if !f.ended {
			open = f
		}
		if f.Start[:4] == strconv.Itoa(year) && (f.started || !f.ended) {
			n++
		}
	}
	return open, n
}

func (b *Billing) freezeState(a *Account, r *http.Request) (any, error) {
	year, _ := strconv.Atoi(r.URL.Query().Get("year"))
	open, n := b.open(a, year)
	out := httpbilling.FreezeState{ThisYear: n, TimeZone: a.TimeZone}
	if open != nil {
		f := open.Freeze
		out.Freeze = &f
	}
	return out, nil
}

func (b *Billing) freeze(a *Account, r *http.Request) (httpbilling.Changed, error) {
	var req httpbilling.FreezeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return httpbilling.Changed{}, err
	}
	start, err := time.ParseInLocation(time.DateOnly, req.Start, loc(a))
	if err != nil {
		return httpbilling.Changed{}, err
	}
	open, n := b.open(a, start.Year())
	if open != nil && open.Start == req.Start && open.End == start.AddDate(0, 0, req.Days).Format(time.DateOnly) {
		f := open.Freeze
		return httpbilling.Changed{Freeze: &f}, nil
	}
	today := b.today(a)
	if err := billing.CanFreeze(billing.FreezeFacts{Status: a.Status, Balance: a.Balance, Today: today, Start: start, Days: req.Days,
		FreezesThisYear: n, Planned: open != nil}, b.rules); err != nil {
		return httpbilling.Changed{}, err
	}
	f := &freeze{Freeze: httpbilling.Freeze{ID: int64(len(b.freezes) + 1), Start: req.Start, End: start.AddDate(0, 0, req.Days).Format(time.DateOnly),
		Active: !start.After(today)}, account: a.ID}
	f.started = f.Active
	if f.Active {
		a.Status = billing.StatusFrozen
	}
	b.freezes = append(b.freezes, f)
	out := f.Freeze
	return httpbilling.Changed{Changed: true, Freeze: &out}, nil
}

func (b *Billing) unfreeze(a *Account, _ *http.Request) (httpbilling.Changed, error) {
	open, _ := b.open(a, 0)
	if open == nil {
		return httpbilling.Changed{}, nil
	}
	open.ended = true
	if open.started && a.Status == billing.StatusFrozen {
		a.Status = billing.StatusActive
	}
	return httpbilling.Changed{Changed: true}, nil
}

func (b *Billing) changeTariff(a *Account, r *http.Request) (httpbilling.Changed, error) {
	var req struct {
		TariffID int64 `json:"tariff_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return httpbilling.Changed{}, err
	}
	target, ok := b.plan(req.TariffID)
	if !ok {
		return httpbilling.Changed{}, &billing.TariffRefusal{Reason: billing.TariffNotOffered}
	}
	if p := b.pending[a.ID]; p != nil && p.To.ID == req.TariffID {
		return httpbilling.Changed{Change: p}, nil
	}
	cur, _ := b.plan(a.Tariff)
	if _, err := billing.CheckTariffChange(billing.TariffFacts{Status: a.Status, Balance: a.Balance, Current: cur.TariffPlan,
		Target: target.TariffPlan, Offered: b.offered(a, target), Services: b.servicesFee(a)}); err != nil {
		return httpbilling.Changed{}, err
	}
	ch := &httpbilling.TariffChange{To: wirePlan(target.TariffPlan), From: b.nextCharge(a).Format(time.DateOnly)}
	b.pending[a.ID] = ch
	return httpbilling.Changed{Changed: true, Change: ch}, nil
}

func (b *Billing) cancelTariff(a *Account, _ *http.Request) (httpbilling.Changed, error) {
	if b.pending[a.ID] == nil {
		return httpbilling.Changed{}, nil
	}
	delete(b.pending, a.ID)
	return httpbilling.Changed{Changed: true}, nil
}

func (b *Billing) service(r *http.Request) (billing.ServiceOption, error) {
	id, _ := strconv.ParseInt(r.PathValue("service"), 10, 64)
	for _, s := range b.services {
		if s.ID == id {
			return s, nil
		}
	}
	return billing.ServiceOption{}, billing.ErrNotFound
}

func (b *Billing) serviceOn(a *Account, r *http.Request) (httpbilling.Changed, error) {
	s, err := b.service(r)
	if err != nil || slices.Contains(a.Services, s.ID) {
		return httpbilling.Changed{}, err
	}
	a.Services = append(a.Services, s.ID)
	part := billing.ServiceFirstPart(s.MonthlyFee, b.today(a), b.nextCharge(a))
	a.Balance -= part
	return httpbilling.Changed{Changed: true, Charged: int64(part)}, nil
}

func (b *Billing) serviceOff(a *Account, r *http.Request) (httpbilling.Changed, error) {
	s, err := b.service(r)
	if err != nil || !slices.Contains(a.Services, s.ID) {
		return httpbilling.Changed{}, err
	}
	a.Services = slices.DeleteFunc(a.Services, func(id int64) bool { return id == s.ID })
	return httpbilling.Changed{Changed: true}, nil
}

// wireAccount is the account as the API answers it; its PaidUntil is what
// a Go billing computes with billing's own rule at its clock.
func (b *Billing) wireAccount(a *Account) httpbilling.Account {
	cur, _ := b.plan(a.Tariff)
	w := httpbilling.Account{ID: a.ID, Number: a.Number, Phone: a.Phone, City: a.City, TimeZone: a.TimeZone,
		Status: string(a.Status), Balance: int64(a.Balance), ChargeDay: a.ChargeDay,
		Tariff: httpbilling.Charge{Name: cur.Name, MonthlyFee: int64(cur.MonthlyFee)}, Services: []httpbilling.Charge{},
		OpenedAt: a.OpenedAt, UpdatedAt: a.OpenedAt}
	acc := billing.Account{Status: a.Status, Balance: a.Balance, ChargeDay: a.ChargeDay, Tariff: billing.Tariff{MonthlyFee: cur.MonthlyFee}}
	for _, s := range b.services {
		if slices.Contains(a.Services, s.ID) {
			w.Services = append(w.Services, httpbilling.Charge{Name: s.Name, MonthlyFee: int64(s.MonthlyFee)})
			acc.Services = append(acc.Services, billing.Service{Name: s.Name, MonthlyFee: s.MonthlyFee})
		}
	}
	if until := acc.StopsAt(b.now(), loc(a)); !until.IsZero() {
		w.PaidUntil = &until
	}
	return w
}

// lookup finds accounts by number (whatever their status) or by the
// contract phone (the open ones, oldest contract first).
func (b *Billing) lookup(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Calls = append(b.Calls, r.Method+" "+r.URL.Path+"  ")
	var l httpbilling.Lookup
	if err := json.NewDecoder(r.Body).Decode(&l); err != nil || (l.Number == "") == (l.Phone == "") {
		http.Error(w, `{"error":"number or phone"}`, http.StatusBadRequest)
		return
	}
	var found []*Account
	for _, a := range b.accounts {
		if (l.Number != "" && a.Number == l.Number) || (l.Phone != "" && a.Phone == l.Phone && a.Status != billing.StatusClosed) {
			found = append(found, a)
		}
	}
	slices.SortFunc(found, func(x, y *Account) int {
		if c := x.OpenedAt.Compare(y.OpenedAt); c != 0 {
			return c
		}
		return int(x.ID - y.ID)
	})
	out := httpbilling.Accounts{Accounts: []httpbilling.Account{}}
	for _, a := range found {
		out.Accounts = append(out.Accounts, b.wireAccount(a))
	}
	writeJSON(w, http.StatusOK, out)
}

// paymentsOf is the account's last ?limit= payments, newest first.
func (b *Billing) paymentsOf(a *Account, r *http.Request) (any, error) {
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit < 1 {
		return nil, errors.New("limit: a number from 1")
	}
	list := slices.Clone(b.payments[a.ID])
	slices.SortStableFunc(list, func(x, y httpbilling.Payment) int { return y.PaidAt.Compare(x.PaidAt) })
	return list[:min(limit, len(list))], nil
}

func defaultTrust() billing.TrustSettings {
	msk, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		msk = time.FixedZone("MSK", 3*60*60)
	}
	return billing.DefaultTrustSettings(msk)
}

// trustFacts are what billing.CheckTrust looks at, from what the fake holds.
func (b *Billing) trustFacts(a *Account, now time.Time) billing.TrustFacts {
	cur, _ := b.plan(a.Tariff)
	f := billing.TrustFacts{Status: a.Status, Balance: a.Balance, MonthlyCharge: cur.MonthlyFee + b.servicesFee(a)}
	month := billing.TrustMonth(now, b.Trust)
	var last time.Time
	for _, tp := range b.trusts {
		if tp.account != a.ID {
			continue
		}
		f.TrustedBefore = true
		f.UsedThisMonth = f.UsedThisMonth || tp.month.Equal(month)
		if tp.granted.After(last) {
			last = tp.granted
		}
	}
	for _, p := range b.payments[a.ID] {
		f.PaidSinceTrust = f.PaidSinceTrust || (f.TrustedBefore && p.PaidAt.After(last))
	}
	return f
}

// trustHandler offers a trust payment, or (grant) grants it once per
// Idempotency-Key, judged by billing.CheckTrust as a Go billing would.
func (b *Billing) trustHandler(grant bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		defer b.mu.Unlock()
		a, ok := b.account(w, r)
		if !ok {
			return
		}
		key := r.Header.Get("Idempotency-Key")
		if prior, seen := b.granted[key]; grant && seen && key != "" && prior.account == a.ID {
			writeJSON(w, http.StatusOK, prior.offer)
			return
		}
		now := b.now()
		o, err := billing.CheckTrust(b.trustFacts(a, now), now, b.Trust)
		var refusal *billing.TrustRefusal
		if errors.As(err, &refusal) {
			ref := httpbilling.Refusal{Refused: "trust", Reason: string(refusal.Reason)}
			if !refusal.From.IsZero() {
				ref.From = &refusal.From
			}
			writeJSON(w, http.StatusUnprocessableEntity, ref)
			return
		}
		out := httpbilling.TrustOffer{Amount: int64(o.Amount), Fee: int64(o.Fee), GrantedAt: o.GrantedAt, ExpiresAt: o.ExpiresAt, Balance: int64(o.Balance)}
		if grant {
			a.Balance = o.Balance
			tp := trust{account: a.ID, month: billing.TrustMonth(now, b.Trust), granted: now, offer: out}
			b.trusts = append(b.trusts, tp)
			if key != "" {
				b.granted[key] = tp
			}
		}
		writeJSON(w, http.StatusOK, out)
	}
}
