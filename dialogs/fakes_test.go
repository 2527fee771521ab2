package dialogs_test

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/dialogs"
)

// fakeAccounts is an in-memory billing for conversation tests; the real
// adapter has its own tests against PostgreSQL.
type fakeAccounts struct {
	mu       sync.Mutex
	accounts map[int64]billing.Account
	links    map[int64][]int64 // user -> accounts, oldest first
	current  map[int64]int64
	lang     map[int64]string
	payments map[int64][]billing.Payment
}

func newFakeAccounts(accs ...billing.Account) *fakeAccounts {
	f := &fakeAccounts{accounts: map[int64]billing.Account{}, links: map[int64][]int64{}, current: map[int64]int64{}, lang: map[int64]string{}, payments: map[int64][]billing.Payment{}}
	for _, a := range accs {
		f.accounts[a.ID] = a
	}
	return f
}

func (f *fakeAccounts) AccountByNumber(_ context.Context, number string) (billing.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.accounts {
		if a.Number == number {
			return a, nil
		}
	}
	return billing.Account{}, billing.ErrNotFound
}

func (f *fakeAccounts) AccountsByPhone(_ context.Context, phone string) ([]billing.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []billing.Account
	for _, a := range f.accounts {
		if a.Phone == phone && a.Status != billing.StatusClosed {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeAccounts) LinkedAccounts(_ context.Context, user int64) ([]billing.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []billing.Account
	for _, id := range f.links[user] {
		out = append(out, f.accounts[id])
	}
	return out, nil
}

func (f *fakeAccounts) isLinked(user, id int64) bool {
	for _, l := range f.links[user] {
		if l == id {
			return true
		}
	}
	return false
}

func (f *fakeAccounts) LinkedAccount(_ context.Context, user, id int64) (billing.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.isLinked(user, id) {
		return billing.Account{}, billing.ErrNotFound
	}
	return f.accounts[id], nil
}

func (f *fakeAccounts) Link(_ context.Context, user, id int64, max int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.isLinked(user, id) {
		if len(f.links[user]) >= max {
			return billing.ErrLinkLimit
		}
		f.links[user] = append(f.links[user], id)
	}
	f.current[user] = id
	return nil
}

func (f *fakeAccounts) Unlink(_ context.Context, user, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var rest []int64
	for _, l := range f.links[user] {
		if l != id {
			rest = append(rest, l)
		}
	}
	f.links[user] = rest
	if f.current[user] == id {
		delete(f.current, user)
		if len(rest) > 0 {
			f.current[user] = rest[0]
		}
	}
	return nil
}

func (f *fakeAccounts) CurrentAccount(_ context.Context, user int64) (billing.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.current[user]
	if !ok {
		return billing.Account{}, billing.ErrNotFound
	}
	return f.accounts[id], nil
}

func (f *fakeAccounts) SetCurrent(_ context.Context, user, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.isLinked(user, id) {
		return billing.ErrNotFound
	}
	f.current[user] = id
	return nil
}

func (f *fakeAccounts) RecentPayments(_ context.Context, id int64, n int) ([]billing.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.payments[id]
	if len(p) > n {
		p = p[:n]
	}
	return p, nil
}

func (f *fakeAccounts) Language(_ context.Context, user int64) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lang[user], nil
}

func (f *fakeAccounts) SetLanguage(_ context.Context, user int64, lang string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lang[user] = lang
	return nil
}

// fakeCodes accepts the code "123456" once for the last (user, account) it
// sent to, and records what it was asked; otp has its own tests of every
// rule. Like otp, it answers a key seen before as it did then, consuming
// and counting nothing again.
type fakeCodes struct {
	mu      sync.Mutex
	sent    []sentCode
	used    bool // the last code was consumed
	lookups int
	wait    time.Duration // when set, Send refuses with this RetryAfter
	wrong   int
	checks  int // verdicts given, not repeated ones
	sends   map[string]dialogs.SendResult
	checked map[string]dialogs.CheckResult
	// delivered counts the SMS Deliver sent, once per key; failDeliver
	// makes the gateway refuse them.
	delivered   map[string]string
	failDeliver bool
}

func (c *fakeCodes) Deliver(_ context.Context, key string, _, _ int64, phone string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failDeliver {
		return dialogs.ErrCodeUndelivered
	}
	if c.delivered == nil {
		c.delivered = map[string]string{}
	}
	c.delivered[key] = phone
	return nil
}

type sentCode struct {
	user, account int64
	phone         string
}

func (c *fakeCodes) AllowLookup(context.Context, int64, string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lookups++
	return c.lookups <= 10, nil
}

func (c *fakeCodes) Send(_ context.Context, key string, user, account int64, phone, _ string) (dialogs.SendResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.sends[key]; ok && key != "" {
		return r, nil
	}
	r := dialogs.SendResult{RetryAfter: c.wait}
	if c.wait <= 0 {
		c.sent = append(c.sent, sentCode{user, account, phone})
		c.used = false
		r = dialogs.SendResult{Sent: true}
	}
	if c.sends == nil {
		c.sends = map[string]dialogs.SendResult{}
	}
	c.sends[key] = r
	return r, nil
}

func (c *fakeCodes) Check(_ context.Context, key string, user, account int64, code string) (dialogs.CheckResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.checked[key]; ok && key != "" {
		return r, nil
	}
	c.checks++
	var r dialogs.CheckResult
	last := c.sent[len(c.sent)-1]
	switch {
	case last.user != user || last.account != account || c.used:
		r = dialogs.CheckResult{Outcome: dialogs.CheckExpired}
	case code == "123456":
		c.used = true
		r = dialogs.CheckResult{Outcome: dialogs.CheckOK}
	default:
		c.wrong++
		r = dialogs.CheckResult{Outcome: dialogs.CheckWrong, TriesLeft: 5 - c.wrong}
	}
	if c.checked == nil {
		c.checked = map[string]dialogs.CheckResult{}
	}
	c.checked[key] = r
	return r, nil
}

// fakeSMS is the notifier: it keeps the texts sent to each phone, once per
// key, as otp.Service.Notify does.
type fakeSMS struct {
	mu   sync.Mutex
	sent map[string][]string
	keys map[string]bool
}

func (s *fakeSMS) Notify(_ context.Context, key, phone, text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent == nil {
		s.sent, s.keys = map[string][]string{}, map[string]bool{}
	}
	if key != "" && s.keys[key] {
		return nil
	}
	s.keys[key] = true
	s.sent[phone] = append(s.sent[phone], text)
	return nil
}
