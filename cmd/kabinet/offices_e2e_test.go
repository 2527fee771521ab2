package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/kabinet-bot/kabinet/emulator"
	"github.com/kabinet-bot/kabinet/offices"
)

// End-to-end tests of "Offices and contacts" through the real bot: the city
// list and a city's screen before linking, the own city first after it,
// paging through a long list, "Nearest to me" judged on each city's own
// clock, the URL buttons and the free-text shortcut.

// The city keyboard as a subscriber reads it: all sixteen, alphabetical.
var (
	officesCitiesRU = []string{"Белгород", "Белорецк", "Владивосток", "Елец", "Ефремов", "Кочубеевское", "Липецк", "Москва",
		"Нальчик", "Невинномысск", "Нефтекамск", "Ставрополь", "Тамбов", "Томск", "Уфа", "Элиста"}
	officesCitiesEN = []string{"Belgorod", "Beloretsk", "Elista", "Kochubeyevskoye", "Lipetsk", "Moscow", "Nalchik", "Neftekamsk",
		"Nevinnomyssk", "Stavropol", "Tambov", "Tomsk", "Ufa", "Vladivostok", "Yefremov", "Yelets"}
)

// newOfficesStack is a bot over polling whose database holds the offices
// demo (offices/demo.csv) as well: the harness loads only the subscribers.
func newOfficesStack(t *testing.T) *stack {
	t.Helper()
	s := prepareStack(t, polling, nil)
	if err := offices.LoadDemo(context.Background(), s.db()); err != nil {
		t.Fatal(err)
	}
	s.start()
	return s
}

// openOffices is the subscriber opening the menu (whose text is menu) and
// tapping "Offices and contacts" (label); want is what the screen that
// answers must say.
func (s *stack) openOffices(u emulator.User, menu, label, want string) emulator.ChatMessage {
	s.t.Helper()
	s.emu.SendCommand(u, "/menu")
	s.next(u, menu)
	s.press(u, label)
	return s.next(u, want)
}

// The menu's first words before and after linking.
const (
	officesMenuUnlinked = "Чтобы видеть баланс"
	officesMenuLinked   = "Главное меню"
)

// officesScreen waits until message id of the user's chat reads want. The
// offices screens are edited in place and come back to texts seen before
// (◀ to page 1), which next does not return twice.
func (s *stack) officesScreen(u emulator.User, id int, want string) emulator.ChatMessage {
	s.t.Helper()
	var m emulator.ChatMessage
	ctx, cancel := s.ctx()
	defer cancel()
	err := s.emu.Wait(ctx, func() bool {
		var ok bool
		m, ok = s.emu.Message(u.ID, id)
		return ok && strings.Contains(m.Text, want)
	})
	if err != nil {
		s.t.Fatalf("message %d never read %q; it reads:\n%s", id, want, m.Text)
	}
	return m
}

// officesVenues lists the venues (map pins) the bot has sent to the user, in
// chat order.
func (s *stack) officesVenues(u emulator.User) []models.Venue {
	var out []models.Venue
	for _, m := range s.emu.BotMessages(u.ID) {
		if m.Message.Venue != nil {
			out = append(out, *m.Message.Venue)
		}
	}
	return out
}

// officesCityButtons are the city names on a city-list keyboard, in order.
func officesCityButtons(m emulator.ChatMessage) []string {
	var out []string
	for _, row := range m.InlineKeyboard {
		for _, b := range row {
			if strings.HasPrefix(b.CallbackData, "oc:") {
				out = append(out, b.Text)
			}
		}
	}
	return out
}

// officesHasButton reports whether a message has a button whose text contains label.
func officesHasButton(m emulator.ChatMessage, label string) bool {
	for _, row := range m.InlineKeyboard {
		for _, b := range row {
			if strings.Contains(b.Text, label) {
				return true
			}
		}
	}
	return false
}

func officesMustContain(t *testing.T, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("the screen lacks %q:\n%s", want, text)
		}
	}
}

// Before linking, a subscriber picks a city from all sixteen and sees its
// hotline, the contact centre's hours, the offices with their hours and what
// one can do there, the payment points, and the messengers as URL buttons. A
// short question about contacts leads to the same screens.
func TestOfficesBeforeLinking(t *testing.T) {
	t.Parallel()
	s := newOfficesStack(t)
	u := newUser("ru")

	list := s.openOffices(u, officesMenuUnlinked, "Офисы и контакты", "Выберите город")
	if got := officesCityButtons(list); !slices.Equal(got, officesCitiesRU) {
		t.Errorf("city keyboard:\n got %v\nwant %v", got, officesCitiesRU)
	}

	s.press(u, "Владивосток")
	city := s.next(u, "Владивосток — офисы и контакты")
	officesMustContain(t, city.Text,
		"📞 Горячая линия: +7 (423) 2-514-513",
		"🕘 Контакт-центр: Пн–Пт 09:00–21:00, Сб–Вс 09:00–18:00",
		"В городе 2 офиса:",
		"🏢 Офис «Зелёная точка» на Светланской\n📍 ул. Светланская, 43\n🕘 Пн–Пт 09:00–19:00, Сб 10:00–16:00, Вс выходной\n",
		"Здесь можно: заключить договор или получить его копию, оплатить наличными, купить или вернуть роутер и ТВ-приставку, подать заявку на подключение.",
		"🏢 Офис «Зелёная точка» на Океанском\n📍 Океанский пр-т, 69\n🕘 Пн–Пт 10:00–19:00, Сб–Вс выходной\n",
		"Время работы — местное.",
	)
	if strings.Contains(city.Text, "«Связной»") || strings.Contains(city.Text, "Страница") {
		t.Errorf("the offices screen lists payment points or pages two offices:\n%s", city.Text)
	}
	for _, label := range []string{"Где оплатить", "Ближайшие ко мне", "Мессенджеры и соцсети", "Другой город", "Меню"} {
		if !officesHasButton(city, label) {
			t.Errorf("no %q button under the city: %s", label, buttons(city))
		}
	}

	s.press(u, "Где оплатить")
	pay := s.next(u, "Владивосток — где оплатить наличными")
	officesMustContain(t, pay.Text,
		"3 пункта оплаты:",
		"🏪 «Связной» · партнёрский пункт\n📍 ул. Алеутская, 17\n🕘 ежедневно 10:00–21:00",
		"💳 Терминал ComePay\n📍 ТЦ «Калина Молл», ул. Калинина, 8\n🕘 ежедневно 10:00–22:00",
		"🏧 Банкомат Сбербанка\n📍 ул. Адмирала Фокина, 10\n🕘 круглосуточно\n🟢 открыто круглосуточно",
	)
	if strings.Contains(pay.Text, "Светланской") {
		t.Errorf("an office among the payment points:\n%s", pay.Text)
	}

	// The messengers, social pages and the director's form open in the
	// browser or the app: URL buttons, each with the seed's address.
	s.press(u, "Мессенджеры и соцсети")
	links := s.next(u, "Мы на связи")
	urls := map[string]string{}
	for _, row := range links.InlineKeyboard {
		for _, b := range row {
			if b.URL != "" {
				urls[b.Text] = b.URL
			}
		}
	}
	want := map[string]string{
		"WhatsApp":      "https://wa.me/79064718232",
		"Telegram":      "https://t.me/+79064718232",
		"ВКонтакте":     "https://vk.com/zelenaya_net",
		"Одноклассники": "https://ok.ru/zelenayatochka",
		"YouTube":       "https://www.youtube.com/user/zelenayatochka",
		"✉ Написать директору": "https://zelenaya.net/contacts/",
	}
	for label, url := range want {
		if urls[label] != url {
			t.Errorf("button %q opens %q, want %q", label, urls[label], url)
		}
	}
	if len(urls) != len(want) {
		t.Errorf("URL buttons: %v", urls)
	}
	s.press(u, "Назад")
	s.officesScreen(u, links.ID, "Владивосток — офисы и контакты")

	// Another city: one with two hotlines and no office.
	s.press(u, "Другой город")
	s.officesScreen(u, links.ID, "Выберите город")
	s.press(u, "Нальчик")
	nalchik := s.next(u, "Нальчик — офисы и контакты")
	officesMustContain(t, nalchik.Text, "📞 Горячая линия: +7 (8662) 760-400, +7 (8662) 777-400", "Офисов в этом городе пока нет")

	// A question about contacts, typed while nothing else is going on, leads
	// here: to the city list, or straight to the city it names.
	s.emu.SendText(u, "где оплатить?")
	if again := s.next(u, "Выберите город"); again.ID == links.ID {
		t.Error("the shortcut edited an old message instead of answering")
	}
	s.emu.SendText(u, "Адрес офиса в Томске")
	tomsk := s.next(u, "Томск — офисы и контакты")
	officesMustContain(t, tomsk.Text, "📞 Горячая линия: +7 (3822) 31-11-11", "пр-т Ленина, 80")
	s.emu.SendText(u, "спасибо")
	s.next(u, "Извините, я не понял")

	// In English the same keyboard is alphabetical in English.
	en := newUser("en")
	enList := s.openOffices(en, "link your account", "Offices and contacts", "Choose your city")
	if got := officesCityButtons(enList); !slices.Equal(got, officesCitiesEN) {
		t.Errorf("English city keyboard:\n got %v\nwant %v", got, officesCitiesEN)
	}
}

// After linking, "Offices and contacts" and a typed question open the
// subscriber's own city at once; the other cities are one tap away.
func TestOfficesOwnCityFirstAfterLinking(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		number, phone, city, hotline, office string
	}{
		{"1000000004", "+79000000004", "Москва", "+7 (495) 369-00-31", "Офис «Зелёная точка» на Тверской"},
		{"1000000007", "+79000000007", "Владивосток", "+7 (423) 2-514-513", "Офис «Зелёная точка» на Светланской"},
	} {
		t.Run(c.city, func(t *testing.T) {
			t.Parallel()
			s := newOfficesStack(t)
			u := newUser("ru")
			s.link(u, c.number, c.phone)

			own := s.openOffices(u, officesMenuLinked, "Офисы и контакты", c.city+" — офисы и контакты")
			officesMustContain(t, own.Text, "📞 Горячая линия: "+c.hotline, "В городе 2 офиса:", c.office)
			for _, m := range s.emu.BotMessages(u.ID) {
				if strings.Contains(m.Text, "Выберите город") {
					t.Fatalf("a linked subscriber was asked for the city")
				}
			}
			s.press(u, "Другой город")
			list := s.officesScreen(u, own.ID, "Выберите город")
			if got := officesCityButtons(list); !slices.Equal(got, officesCitiesRU) {
				t.Errorf("city keyboard: %v", got)
			}

			s.emu.SendText(u, "телефон")
			if typed := s.next(u, c.city+" — офисы и контакты"); typed.ID == own.ID {
				t.Error("the shortcut edited an old message instead of answering")
			}
		})
	}
}

// A city with more points than fit on a screen is paged with ◀ ▶: every
// point is shown exactly once, in the order offices, partner shops,
// terminals, ATMs, and ◀ leads back. The city's list is the one imported
// from a CSV file, which replaced the demo points of that city.
func TestOfficesPaging(t *testing.T) {
	t.Parallel()
	s := newOfficesStack(t)
	// A fixed clock keeps each page's "open until" lines the same when ◀
	// comes back to it.
	s.clock.Advance(officesWednesdayAt(13, moscow(t)).Sub(s.clock.Now()))

	var csv strings.Builder
	csv.WriteString(strings.Join(offices.Columns, ",") + "\n")
	point := func(key, kind, name string, i int) {
		fmt.Fprintf(&csv, "%s,Томск,%s,%s,\"ул. Тестовая, %d\",%.5f,%.5f,payments,09:00-19:00,09:00-19:00,09:00-19:00,09:00-19:00,09:00-19:00,closed,closed\n",
			key, kind, name, i, 56.47+float64(i)*0.001, 84.95+float64(i)*0.001)
	}
	var offs, pays []string
	for i := 1; i <= 6; i++ {
		name := fmt.Sprintf("Офис %02d", i)
		offs = append(offs, name)
		point(fmt.Sprintf("tom-office-%d", i), "office", name, i)
	}
	for i, kind := range []struct{ kind, name string }{
		{"partner", "Партнёр"}, {"partner", "Партнёр"}, {"partner", "Партнёр"}, {"partner", "Партнёр"},
		{"terminal", "Терминал"}, {"terminal", "Терминал"}, {"terminal", "Терминал"}, {"terminal", "Терминал"},
		{"atm", "Банкомат"}, {"atm", "Банкомат"}, {"atm", "Банкомат"},
	} {
		name := fmt.Sprintf("%s %02d", kind.name, i+1)
		pays = append(pays, name)
		point(fmt.Sprintf("tom-pay-%d", i+1), kind.kind, name, 10+i)
	}
	res, err := offices.Import(context.Background(), s.db(), strings.NewReader(csv.String()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 17 || res.Deleted != 4 {
		t.Fatalf("import: %+v, want 17 inserted and Томск's 4 demo points deleted", res)
	}

	u := newUser("ru")
	s.openOffices(u, officesMenuUnlinked, "Офисы и контакты", "Выберите город")
	s.press(u, "Томск")
	first := s.next(u, "Томск — офисы и контакты")
	id := first.ID

	// walk reads every page of the screen from page 1 by ▶, then goes back
	// one page by ◀, and returns the names listed, page after page.
	walk := func(m emulator.ChatMessage, pages int) []string {
		t.Helper()
		mark := func(page int) string { return fmt.Sprintf("Страница %d из %d", page, pages) }
		var names []string
		texts := map[int]string{}
		for page := 1; page <= pages; page++ {
			if page > 1 {
				s.press(u, "▶")
				m = s.officesScreen(u, id, mark(page))
			}
			if !strings.Contains(m.Text, mark(page)) {
				t.Fatalf("want %q:\n%s", mark(page), m.Text)
			}
			texts[page] = m.Text
			if officesHasButton(m, "◀") != (page > 1) || officesHasButton(m, "▶") != (page < pages) {
				t.Errorf("page %d of %d has buttons %s", page, pages, buttons(m))
			}
			for _, line := range strings.Split(m.Text, "\n") {
				for _, icon := range []string{"🏢 ", "🏪 ", "💳 ", "🏧 "} {
					if name, ok := strings.CutPrefix(line, icon); ok {
						name, _, _ = strings.Cut(name, " · ")
						names = append(names, name)
					}
				}
			}
		}
		s.press(u, "◀")
		if back := s.officesScreen(u, id, mark(pages-1)); back.Text != texts[pages-1] {
			t.Errorf("◀ shows another page %d:\n%s\nwas:\n%s", pages-1, back.Text, texts[pages-1])
		}
		return names
	}

	officesMustContain(t, first.Text, "В городе 6 офисов:", "📞 Горячая линия: +7 (3822) 31-11-11")
	if got := walk(first, 2); !slices.Equal(got, offs) {
		t.Errorf("offices over the pages: %v, want each of %v once", got, offs)
	}

	s.press(u, "Где оплатить")
	pay := s.officesScreen(u, id, "Томск — где оплатить наличными")
	officesMustContain(t, pay.Text, "11 пунктов оплаты:", "Страница 1 из 3")
	if got := walk(pay, 3); !slices.Equal(got, pays) {
		t.Errorf("payment points over the pages: %v, want each of %v once", got, pays)
	}
	for _, m := range s.emu.BotMessages(u.ID) {
		if strings.Contains(m.Text, "пр-т Фрунзе, 92") {
			t.Errorf("a demo point the file replaced is still listed:\n%s", m.Text)
		}
	}
}

// officesWednesdayAt is the latest Wednesday at hour:00 in loc that is not in
// the future.
func officesWednesdayAt(hour int, loc *time.Location) time.Time {
	now := time.Now().In(loc)
	at := time.Date(now.Year(), now.Month(), now.Day(), hour, 0, 0, 0, loc)
	for at.Weekday() != time.Wednesday || at.After(now) {
		at = at.AddDate(0, 0, -1)
	}
	return at
}

// "Nearest to me" answers a shared location with three venues (map pins with
// name and address) and one message with the distance to each and whether
// it is open now, judged on the city's own clock: at 13:00 in Moscow it is
// 20:00 in Vladivostok, where the office on Светланская (09:00-19:00) has
// closed although on Moscow's clock it would be open.
func TestOfficesNearestInLocalTime(t *testing.T) {
	t.Parallel()
	s := newOfficesStack(t)
	s.clock.Advance(officesWednesdayAt(13, moscow(t)).Sub(s.clock.Now()))

	u := newUser("ru")
	s.openOffices(u, officesMenuUnlinked, "Офисы и контакты", "Выберите город")
	s.press(u, "Ближайшие ко мне")
	s.next(u, "три ближайших офиса и пункта оплаты")
	kb := s.emu.ReplyKeyboard(u.ID)
	if kb == nil || !kb.Keyboard[0][0].RequestLocation {
		t.Fatalf("no button that shares the location: %+v", kb)
	}

	type venue struct {
		title, address string
		lat, lon       float64
	}
	check := func(where string, from int, want []venue) {
		t.Helper()
		// The emulator puts a message in the chat a moment before it
		// records the call: wait for both.
		s.waitFor("three venues near "+where, func() bool {
			return len(s.officesVenues(u)) >= from+3 && len(s.emu.CallsTo("sendVenue")) >= from+3
		})
		got := s.officesVenues(u)[from:]
		if len(got) != 3 {
			t.Fatalf("%s: %d venues, want 3", where, len(got))
		}
		for i, w := range want {
			g := got[i]
			if g.Title != w.title || g.Address != w.address || g.Location.Latitude != w.lat || g.Location.Longitude != w.lon {
				t.Errorf("%s: venue %d is %q, %q at %v,%v; want %+v", where, i+1, g.Title, g.Address, g.Location.Latitude, g.Location.Longitude, w)
			}
		}
		calls := s.emu.CallsTo("sendVenue")
		if len(calls) != from+3 {
			t.Fatalf("%s: %d sendVenue calls, want %d", where, len(calls), from+3)
		}
		for i, c := range calls[from:] {
			if c.Params["chat_id"] != u.ID || c.Params["title"] != want[i].title || c.Params["address"] != want[i].address {
				t.Errorf("%s: sendVenue %d: %v", where, i+1, c.Params)
			}
		}
	}

	// Near Тверская, 12 in Moscow, at 13:00 Moscow time.
	s.emu.SendLocation(u, 55.7650, 37.6050)
	check("Москва", 0, []venue{
		{"Офис «Зелёная точка» на Тверской", "ул. Тверская, 12, стр. 1", 55.76352, 37.60661},
		{"«Связной»", "ул. Новый Арбат, 15", 55.75271, 37.58899},
		{"Банкомат Сбербанка", "ул. Мясницкая, 24/7, стр. 1", 55.76338, 37.63702},
	})
	moscow := s.next(u, "Ближайшие к вам офисы и пункты оплаты")
	officesMustContain(t, moscow.Text,
		"1. 🏢 Офис «Зелёная точка» на Тверской — 190 м\n📍 ул. Тверская, 12, стр. 1\n🟢 открыто до 20:00",
		"2. 🏪 «Связной» · партнёрский пункт — 1,7 км\n📍 ул. Новый Арбат, 15\n🟢 открыто до 22:00",
		"3. 🏧 Банкомат Сбербанка — 2,0 км\n📍 ул. Мясницкая, 24/7, стр. 1\n🟢 открыто круглосуточно",
		"Время работы — местное.",
	)
	if strings.Contains(moscow.Text, "рядом с вами наших пунктов нет") {
		t.Errorf("points 200 m away called far:\n%s", moscow.Text)
	}
	if s.emu.ReplyKeyboard(u.ID) != nil {
		t.Error("the location button stays under the input field after the answer")
	}
	msgs := s.emu.BotMessages(u.ID)
	if last := msgs[len(msgs)-1]; last.ID != moscow.ID || msgs[len(msgs)-2].Message.Venue == nil {
		t.Error("the list does not follow the venues")
	}

	// Near Светланская, 43 in Vladivostok, a location shared without the
	// button: it is 20:00 there.
	s.emu.SendLocation(u, 43.1160, 131.8860)
	check("Владивосток", 3, []venue{
		{"Офис «Зелёная точка» на Светланской", "ул. Светланская, 43", 43.11633, 131.88702},
		{"Банкомат Сбербанка", "ул. Адмирала Фокина, 10", 43.11651, 131.88304},
		{"«Связной»", "ул. Алеутская, 17", 43.11702, 131.88251},
	})
	vvo := s.next(u, "Ближайшие к вам офисы и пункты оплаты")
	officesMustContain(t, vvo.Text,
		"1. 🏢 Офис «Зелёная точка» на Светланской — 90 м\n📍 ул. Светланская, 43\n🔴 закрыто, откроется завтра в 09:00",
		"2. 🏧 Банкомат Сбербанка — 250 м\n📍 ул. Адмирала Фокина, 10\n🟢 открыто круглосуточно",
		"3. 🏪 «Связной» · партнёрский пункт — 310 м\n📍 ул. Алеутская, 17\n🟢 открыто до 21:00",
	)
	// Its button leads to the offices of the city the venues are in.
	s.press(u, "Офисы и контакты")
	s.next(u, "Владивосток — офисы и контакты")

	// In Novosibirsk, where the provider has nothing, the nearest are in
	// Tomsk, over 100 km away, and the answer says so.
	s.emu.SendLocation(u, 55.0302, 82.9204)
	s.waitFor("three venues in Tomsk", func() bool { return len(s.officesVenues(u)) == 9 })
	far := s.next(u, "Ближайшие к вам офисы и пункты оплаты")
	officesMustContain(t, far.Text, "Похоже, рядом с вами наших пунктов нет", " км\n📍 ")
}
