package offices

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/kabinetdb"
	"github.com/kabinet-bot/kabinet/locales"
)

// Wednesday 10:30 UTC: 13:30 in Moscow, 20:30 in Vladivostok.
var wednesday = time.Date(2025, 3, 12, 10, 30, 0, 0, time.UTC)

func TestDirectoryCities(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	dir := NewDirectory(New(pool))

	cities, err := dir.Cities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cities) != 16 || cities[0].Name != "Белгород" || cities[15].Name != "Элиста" {
		t.Fatalf("cities: %d, first %q, last %q", len(cities), cities[0].Name, cities[len(cities)-1].Name)
	}
	moscow, err := dir.CityByName(ctx, "moscow")
	if err != nil || moscow.Name != "Москва" || moscow.NameEN != "Moscow" || fmt.Sprint(moscow.Hotlines) != "[+7 (495)369-00-31]" {
		t.Fatalf("CityByName(moscow) = %+v, %v", moscow, err)
	}
	// The published contact-centre hours, grouped as people read them.
	want := []dialogs.DayHours{
		{From: time.Monday, To: time.Friday, Spans: []dialogs.OpenSpan{{Opens: 9 * time.Hour, Closes: 21 * time.Hour}}},
		{From: time.Saturday, To: time.Sunday, Spans: []dialogs.OpenSpan{{Opens: 9 * time.Hour, Closes: 18 * time.Hour}}},
	}
	if fmt.Sprint(moscow.ContactHours) != fmt.Sprint(want) {
		t.Errorf("contact hours %v, want %v", moscow.ContactHours, want)
	}
	if c, err := dir.City(ctx, moscow.ID); err != nil || c.Name != "Москва" {
		t.Errorf("City(%d) = %+v, %v", moscow.ID, c, err)
	}

	// A city that is not there is ErrUnknownCity, which the dialogs answer
	// with the current list; other failures are not.
	if _, err := dir.City(ctx, 99999); !errors.Is(err, dialogs.ErrUnknownCity) {
		t.Errorf("City(99999) = %v, want ErrUnknownCity", err)
	}
	if _, err := dir.CityByName(ctx, "Атлантида"); !errors.Is(err, dialogs.ErrUnknownCity) {
		t.Errorf("CityByName(Атлантида) = %v, want ErrUnknownCity", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := dir.City(cancelled, moscow.ID); err == nil || errors.Is(err, dialogs.ErrUnknownCity) {
		t.Errorf("City on a cancelled context = %v, want an error that is not ErrUnknownCity", err)
	}

	// A city without published hours has none, rather than "closed all week".
	if _, err := pool.Exec(ctx, `DELETE FROM city_contact_hours WHERE city_id = $1`, moscow.ID); err != nil {
		t.Fatal(err)
	}
	if c, err := dir.City(ctx, moscow.ID); err != nil || c.ContactHours != nil {
		t.Errorf("Москва without hours = %+v, %v", c.ContactHours, err)
	}
}

func TestDirectoryPointsAndNearest(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	if err := LoadDemo(ctx, pool); err != nil {
		t.Fatal(err)
	}
	dir := NewDirectory(New(pool))
	moscow, err := dir.CityByName(ctx, "Москва")
	if err != nil {
		t.Fatal(err)
	}

	// Paging through Moscow's offices one at a time shows both, once each.
	var names []string
	for page := 0; page < 3; page++ {
		points, total, err := dir.CityPoints(ctx, moscow.ID, []dialogs.PointKind{dialogs.KindOfficePoint}, page, 1, wednesday)
		if err != nil || total != 2 {
			t.Fatalf("page %d: total %d, %v", page, total, err)
		}
		for _, p := range points {
			names = append(names, p.Name)
		}
	}
	if fmt.Sprint(names) != "[Офис «Зелёная точка» на Профсоюзной Офис «Зелёная точка» на Тверской]" {
		t.Errorf("offices by page: %v", names)
	}
	payments, total, err := dir.CityPoints(ctx, moscow.ID, []dialogs.PointKind{dialogs.KindPartner, dialogs.KindTerminal, dialogs.KindATM}, 0, 10, wednesday)
	if err != nil || total != 5 || len(payments) != 5 {
		t.Fatalf("payment points: %d of %d, %v", len(payments), total, err)
	}
	for _, p := range payments {
		if p.Kind == dialogs.KindOfficePoint || p.CityID != moscow.ID {
			t.Errorf("payment point %+v", p)
		}
	}

	// The office on Tverskaya: hours grouped, open at 13:30 Moscow time until 20:00.
	tver, _, err := dir.CityPoints(ctx, moscow.ID, []dialogs.PointKind{dialogs.KindOfficePoint}, 1, 1, wednesday)
	if err != nil {
		t.Fatal(err)
	}
	p := tver[0]
	wantHours := "[{Monday Friday [{9h0m0s 20h0m0s}]} {Saturday Saturday [{10h0m0s 17h0m0s}]} {Sunday Sunday []}]"
	if fmt.Sprint(p.Hours) != wantHours {
		t.Errorf("hours %v, want %s", p.Hours, wantHours)
	}
	if !p.Open || p.Next.Format("15:04 MST") != "20:00 MSK" {
		t.Errorf("at 13:30 Moscow time: open %v, next %s; want open until 20:00 MSK", p.Open, p.Next)
	}
	if fmt.Sprint(p.Services) != "[contracts payments equipment connection]" || p.Lat == 0 || p.Address != "ул. Тверская, 12, стр. 1" {
		t.Errorf("point %+v", p)
	}

	// Nearest to Red Square, with distances; in Vladivostok the same instant
	// is 20:30, after the office has closed: it opens tomorrow at 09:00
	// Vladivostok time.
	near, err := dir.Nearest(ctx, 55.75393, 37.62079, nil, 3, wednesday)
	if err != nil || len(near) != 3 {
		t.Fatalf("Nearest: %d, %v", len(near), err)
	}
	if near[0].Name != "Офис «Зелёная точка» на Тверской" || near[0].Meters < 1300 || near[0].Meters > 1500 ||
		near[0].Meters > near[1].Meters || near[1].Meters > near[2].Meters || near[0].CityID != moscow.ID {
		t.Errorf("nearest to Red Square: %+v", near)
	}
	vvo, err := dir.Nearest(ctx, 43.11506, 131.88553, []dialogs.PointKind{dialogs.KindOfficePoint}, 1, wednesday)
	if err != nil || len(vvo) != 1 {
		t.Fatalf("Nearest in Vladivostok: %v, %v", vvo, err)
	}
	wantNext := time.Date(2025, 3, 13, 9, 0, 0, 0, vvo[0].Next.Location())
	if vvo[0].Open || !vvo[0].Next.Equal(wantNext) || vvo[0].Next.Location().String() != "Asia/Vladivostok" {
		t.Errorf("Vladivostok office at 20:30 local: open %v, next %s", vvo[0].Open, vvo[0].Next)
	}
}

// TestDirectoryBehindTheDialogs runs the real screens on the real data: the
// city a linked account is in, another city's offices, and a location in
// Vladivostok answered with venues and Vladivostok's clock.
func TestDirectoryBehindTheDialogs(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	if err := postgres.LoadDemo(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := LoadDemo(ctx, pool); err != nil {
		t.Fatal(err)
	}
	accounts := dialogs.NewAccounts(postgres.New(pool), kabinetdb.NewLinks(pool))
	eng := dialogs.New(accounts, nil, nil, locales.MustLoad(), dialogs.Config{}, func() time.Time { return wednesday },
		slog.New(slog.NewTextHandler(io.Discard, nil))).
		WithOffices(NewDirectory(New(pool)), dialogs.DefaultOfficesConfig())
	const user = 4242
	var st dialogs.State
	do := func(ev dialogs.Event) string {
		t.Helper()
		ev.UserID, ev.ChatID, ev.LanguageCode = user, user, "ru"
		res, err := eng.Handle(ctx, st, ev)
		if err != nil {
			t.Fatalf("Handle(%+v): %v", ev, err)
		}
		st = res.State
		var b strings.Builder
		for _, r := range res.Replies {
			if r.Venue != nil {
				fmt.Fprintf(&b, "venue: %s, %s\n", r.Venue.Title, r.Venue.Address)
			}
			b.WriteString(r.Text + "\n")
			for _, row := range r.Buttons {
				for _, btn := range row {
					fmt.Fprintf(&b, "[%s|%s%s]", btn.Text, btn.Data, btn.URL)
				}
			}
		}
		return b.String()
	}
	mustHave := func(got string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(got, p) {
				t.Errorf("lacks %q:\n%s", p, got)
			}
		}
	}

	mustHave(do(dialogs.Event{Kind: dialogs.KindCallback, Data: "of", MessageID: 1}), "Выберите город", "[Москва|oc:")

	acc, err := accounts.AccountByNumber(ctx, "1000000002") // Липецк
	if err != nil {
		t.Fatal(err)
	}
	if err := accounts.Link(ctx, user, acc.ID, 5); err != nil {
		t.Fatal(err)
	}
	mustHave(do(dialogs.Event{Kind: dialogs.KindCommand, Command: "offices"}),
		"<b>Липецк</b> — офисы и контакты", "+7 (4742) 243-243", "Пн–Пт 09:00–21:00, Сб–Вс 09:00–18:00", "Офисов в этом городе пока нет")

	moscow, err := New(pool).CityByName(ctx, "Москва")
	if err != nil {
		t.Fatal(err)
	}
	mustHave(do(dialogs.Event{Kind: dialogs.KindCallback, Data: fmt.Sprintf("oc:%d", moscow.ID), MessageID: 1}),
		"Офис «Зелёная точка» на Тверской", "Пн–Пт 09:00–20:00, Сб 10:00–17:00, Вс выходной", "🟢 открыто до 20:00")

	mustHave(do(dialogs.Event{Kind: dialogs.KindLocation, Location: &dialogs.Location{Lat: 43.11506, Lon: 131.88553}}),
		"venue: Офис «Зелёная точка» на Светланской, ул. Светланская, 43", "🔴 закрыто, откроется завтра в 09:00",
		"🟢 открыто круглосуточно")
}
