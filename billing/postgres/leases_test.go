package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/kabinetdb"
	"github.com/kabinet-bot/kabinet/money"
)

// linkedAccount adds an account linked to Telegram users 101 and 102 (102
// chose English).
func linkedAccount(t *testing.T, s *postgres.Store, pool *pgxpool.Pool, a pgtest.Account) int64 {
	t.Helper()
	id := pgtest.AddAccount(t, pool, a)
	links := kabinetdb.NewLinks(pool)
	for _, u := range []int64{101, 102} {
		if err := links.Link(context.Background(), u, id, 5); err != nil {
			t.Fatal(err)
		}
	}
	pgtest.Exec(t, pool, `UPDATE telegram_users SET language = 'en' WHERE id = 102`)
	return id
}

func claimNotices(t *testing.T, s *postgres.Store, owner string, lease time.Duration) []billing.PaymentNotice {
	t.Helper()
	ns, err := s.ClaimPaymentNotices(context.Background(), owner, lease, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// TestPaymentNoticeLease: a claimed notice is nobody else's while the lease
// runs; when its claimer dies, the lease runs out and another instance
// takes the notice over, and the dead claimer's late report changes
// nothing. A failure counts an attempt and pauses the notice; a release
// gives it back at once, counting none.
func TestPaymentNoticeLease(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	acc := linkedAccount(t, s, pool, pgtest.Account{Number: "1000234567"})
	if _, err := s.Credit(ctx, "billing", "T-1", acc, money.Rub(500), "terminal", time.Now()); err != nil {
		t.Fatal(err)
	}

	dead := claimNotices(t, s, "dead", 300*time.Millisecond)
	if len(dead) != 2 || dead[0].TelegramUserID != 101 || dead[1].Language != "en" ||
		dead[0].AccountNumber != "1000234567" || dead[0].Amount != money.Rub(500) || dead[0].Balance != money.Rub(500) {
		t.Fatalf("claimed %+v", dead)
	}
	if got := claimNotices(t, s, "b", time.Hour); len(got) != 0 {
		t.Fatalf("another instance claimed %d notices under a running lease", len(got))
	}
	time.Sleep(400 * time.Millisecond) // "dead" never reports; its lease runs out
	taken := claimNotices(t, s, "b", time.Hour)
	if len(taken) != 2 {
		t.Fatalf("after the lease ran out %d notices were taken over, want 2", len(taken))
	}
	for _, n := range dead {
		if err := s.PaymentNoticeSent(ctx, "dead", n); !errors.Is(err, billing.ErrLeaseLost) {
			t.Errorf("the dead claimer's late report: %v, want ErrLeaseLost", err)
		}
	}
	if err := s.PaymentNoticeSent(ctx, "b", taken[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.PaymentNoticeSent(ctx, "b", taken[0]); !errors.Is(err, billing.ErrLeaseLost) {
		t.Errorf("reported sent twice: %v", err)
	}
	if err := s.PaymentNoticeFailed(ctx, "b", taken[1]); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM payment_notices WHERE sent_at IS NOT NULL AND claimed_by = 'b' AND telegram_user_id = 101`); n != 1 {
		t.Errorf("%d notices recorded as sent by b", n)
	}
	if got := claimNotices(t, s, "c", time.Hour); len(got) != 0 {
		t.Fatalf("claimed %+v: a sent notice again, or a failed one before its pause", got)
	}
	pgtest.Exec(t, pool, `UPDATE payment_notices SET next_attempt_at = now() WHERE sent_at IS NULL`) // the pause passes
	retry := claimNotices(t, s, "c", time.Hour)
	if len(retry) != 1 || retry[0].TelegramUserID != 102 || retry[0].Attempts != 1 {
		t.Fatalf("the retry: %+v", retry)
	}
	if err := s.ReleaseClaims(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	again := claimNotices(t, s, "d", time.Hour)
	if len(again) != 1 || again[0].Attempts != 1 {
		t.Fatalf("after a release: %+v, want the notice at once with its 1 attempt", again)
	}
	if err := s.PaymentNoticeSent(ctx, "c", retry[0]); !errors.Is(err, billing.ErrLeaseLost) {
		t.Errorf("a report after releasing: %v", err)
	}
}

// TestClaimsNeverOverlap: twenty instances claim at the same moment, in
// small batches, until no notice is left: every notice is claimed by
// exactly one of them.
func TestClaimsNeverOverlap(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	acc := linkedAccount(t, s, pool, pgtest.Account{})
	const payments = 100
	for i := range payments {
		if _, err := s.Credit(ctx, "billing", fmt.Sprint("T-", i), acc, money.Rub(1), "cash", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claimedBy := map[[2]int64][]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range 20 {
		wg.Go(func() {
			<-start
			owner := fmt.Sprint("instance-", w)
			for {
				ns, err := s.ClaimPaymentNotices(ctx, owner, time.Hour, 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ns) == 0 {
					return
				}
				mu.Lock()
				for _, n := range ns {
					k := [2]int64{n.PaymentID, n.TelegramUserID}
					claimedBy[k] = append(claimedBy[k], w)
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(claimedBy) != 2*payments {
		t.Errorf("%d notices claimed, want %d", len(claimedBy), 2*payments)
	}
	for k, by := range claimedBy {
		if len(by) != 1 {
			t.Errorf("notice %v claimed by instances %v", k, by)
		}
	}
}

// TestTrustRemindersPerRecipient: a trust payment's reminder falls due a day
// before its end as one reminder per linked user; one user's success and the
// other's failure are recorded apart, so the retry is for the second alone.
// A user who unlinked the account meanwhile, or a trust payment that ended,
// gets no reminder.
func TestTrustRemindersPerRecipient(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	acc := linkedAccount(t, s, pool, pgtest.Account{Number: "1000234567", Status: billing.StatusBlocked, Balance: money.Rub(-800), BlockedAt: time.Now()})
	granted := time.Date(2025, 11, 25, 14, 0, 0, 0, moscow)
	tp, err := s.GrantTrust(ctx, "", acc, granted, billing.DefaultTrustSettings(moscow))
	if err != nil {
		t.Fatal(err)
	}
	claim := func(owner string, now time.Time) []billing.TrustReminder {
		t.Helper()
		rs, err := s.ClaimTrustReminders(ctx, owner, now, time.Hour, 100)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	if rs := claim("a", granted.Add(47*time.Hour)); len(rs) != 0 || count(t, pool, `SELECT count(*) FROM trust_reminders`) != 0 {
		t.Fatalf("two days before the end: %+v", rs)
	}
	due := granted.Add(48*time.Hour + time.Minute)
	rs := claim("a", due)
	if len(rs) != 2 || rs[0].Recipient.UserID != 101 || rs[1].Recipient != (billing.Recipient{UserID: 102, Language: "en"}) ||
		rs[0].AccountNumber != "1000234567" || rs[0].Amount != tp.Amount || !rs[0].ExpiresAt.Equal(tp.ExpiresAt) ||
		rs[0].TimeZone != "Europe/Moscow" || rs[0].Balance != money.Rub(-300) {
		t.Fatalf("claimed %+v", rs)
	}
	if again := claim("b", due); len(again) != 0 {
		t.Fatalf("claimed twice: %+v", again)
	}
	if err := s.TrustReminderSent(ctx, "a", rs[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.TrustReminderFailed(ctx, "a", rs[1]); err != nil {
		t.Fatal(err)
	}
	if got := claim("b", due); len(got) != 0 {
		t.Fatalf("retried before the pause: %+v", got)
	}
	pgtest.Exec(t, pool, `UPDATE trust_reminders SET next_attempt_at = now() WHERE sent_at IS NULL`)
	retry := claim("b", due.Add(time.Hour))
	if len(retry) != 1 || retry[0].Recipient.UserID != 102 || retry[0].Attempts != 1 {
		t.Fatalf("the retry: %+v, want user 102 alone", retry)
	}
	if err := s.TrustReminderSent(ctx, "a", retry[0]); !errors.Is(err, billing.ErrLeaseLost) {
		t.Errorf("a report by the former claimer: %v", err)
	}
	if err := s.ReleaseClaims(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if got := claim("c", due.Add(time.Hour)); len(got) != 1 || got[0].Recipient.UserID != 102 {
		t.Fatalf("after a release: %+v, want user 102's reminder at once", got)
	}
	if err := s.ReleaseClaims(ctx, "c"); err != nil {
		t.Fatal(err)
	}

	// Unlinked meanwhile: not reminded.
	if err := kabinetdb.NewLinks(pool).Unlink(ctx, 102, acc); err != nil {
		t.Fatal(err)
	}
	if got := claim("c", due.Add(2*time.Hour)); len(got) != 0 {
		t.Errorf("reminded a user who unlinked the account: %+v", got)
	}
	if err := kabinetdb.NewLinks(pool).Link(ctx, 102, acc, 5); err != nil {
		t.Fatal(err)
	}
	// Ended: not reminded either.
	if _, err := s.ExpireTrust(ctx, tp.ExpiresAt, 10); err != nil {
		t.Fatal(err)
	}
	if got := claim("c", tp.ExpiresAt); len(got) != 0 {
		t.Errorf("reminded about a trust payment that has ended: %+v", got)
	}
}
