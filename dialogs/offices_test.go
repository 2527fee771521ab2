package dialogs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing"
	"github.com/kabinet-bot/kabinet/dialogs"
	"github.com/kabinet-bot/kabinet/locales"
)

// fakeOffices is an in-memory directory for conversation tests; the real
// adapter (offices.Directory) has its own tests against PostgreSQL. It
// judges "open now" by a simple daily schedule in each point's zone and
// records the instant and kinds it was asked with.
type fakeOffices struct {
	mu       sync.Mutex
	cities   []dialogs.OfficeCity // Russian alphabetical, as the real one
	points   []fakePoint
	fail     error
	askedNow time.Time
	kinds    []dialogs.PointKind
}

type fakePoint struct {
	dialogs.ServicePoint
	zone          *time.Location
	days          [7]bool       // Monday first: open that day
	opens, closes int           // hours of the day
	always        bool          // around the clock
	openFor       time.Duration // when set: open now, closing this long after now
	geo           bool          // found by Nearest
}

func (f *fakeOffices) Cities(context.Context) ([]dialogs.OfficeCity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]dialogs.OfficeCity(nil), f.cities...), f.fail
}

func (f *fakeOffices) City(_ context.Context, id int64) (dialogs.OfficeCity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return dialogs.OfficeCity{}, f.fail
	}
	for _, c := range f.cities {
		if c.ID == id {
			return c, nil
		}
	}
	return dialogs.OfficeCity{}, dialogs.ErrUnknownCity
}

func (f *fakeOffices) CityByName(_ context.Context, name string) (dialogs.OfficeCity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.cities {
		if strings.EqualFold(c.Name, name) || strings.EqualFold(c.NameEN, name) {
			return c, f.fail
		}
	}
	return dialogs.OfficeCity{}, dialogs.ErrUnknownCity
}

func (f *fakeOffices) CityPoints(_ context.Context, cityID int64, kinds []dialogs.PointKind, offset, limit int, now time.Time) ([]dialogs.ServicePoint, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, 0, f.fail
	}
	f.askedNow = now
	order := map[dialogs.PointKind]int{dialogs.KindOfficePoint: 0, dialogs.KindPartner: 1, dialogs.KindTerminal: 2, dialogs.KindATM: 3}
	var all []fakePoint
	for _, p := range f.points {
		if p.CityID == cityID && hasKind(kinds, p.Kind) {
			all = append(all, p)
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if order[all[i].Kind] != order[all[j].Kind] {
			return order[all[i].Kind] < order[all[j].Kind]
		}
		return all[i].Name < all[j].Name
	})
	var page []dialogs.ServicePoint
	for i := offset; i < len(all) && i < offset+limit; i++ {
		page = append(page, all[i].judged(now))
	}
	return page, len(all), nil
}

func (f *fakeOffices) Nearest(_ context.Context, lat, lon float64, kinds []dialogs.PointKind, n int, now time.Time) ([]dialogs.ServicePoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	f.askedNow, f.kinds = now, kinds
	var found []dialogs.ServicePoint
	for _, p := range f.points {
		if p.geo && hasKind(kinds, p.Kind) {
			sp := p.judged(now)
			sp.Meters = greatCircle(lat, lon, p.Lat, p.Lon)
			found = append(found, sp)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Meters < found[j].Meters })
	if len(found) > n {
		found = found[:n]
	}
	return found, nil
}

func hasKind(kinds []dialogs.PointKind, k dialogs.PointKind) bool {
	if len(kinds) == 0 {
		return true
	}
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// judged is the point with Open and Next set for now, on its city's clock.
func (p fakePoint) judged(now time.Time) dialogs.ServicePoint {
	sp := p.ServicePoint
	if p.always {
		sp.Open, sp.Next = true, time.Time{}
		return sp
	}
	if p.openFor > 0 {
		sp.Open, sp.Next = true, now.In(p.zone).Add(p.openFor)
		return sp
	}
	local := now.In(p.zone)
	for d := 0; d <= 7; d++ {
		day := time.Date(local.Year(), local.Month(), local.Day()+d, 0, 0, 0, 0, p.zone)
		if !p.days[(int(day.Weekday())+6)%7] {
			continue
		}
		opens := day.Add(time.Duration(p.opens) * time.Hour)
		closes := day.Add(time.Duration(p.closes) * time.Hour)
		if local.Before(opens) {
			sp.Open, sp.Next = false, opens
			return sp
		}
		if local.Before(closes) {
			sp.Open, sp.Next = true, closes
			return sp
		}
	}
	sp.Open, sp.Next = false, time.Time{}
	return sp
}

func greatCircle(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	a := math.Pow(math.Sin((lat2-lat1)*rad/2), 2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Pow(math.Sin((lon2-lon1)*rad/2), 2)
	return 2 * 6371008.8 * math.Asin(math.Sqrt(a))
}

// The seed's sixteen cities, ids in Russian alphabetical order as the
// migration numbers them.
var (
	cityNamesRU = []string{"Белгород", "Белорецк", "Владивосток", "Елец", "Ефремов", "Кочубеевское", "Липецк", "Москва",
		"Нальчик", "Невинномысск", "Нефтекамск", "Ставрополь", "Тамбов", "Томск", "Уфа", "Элиста"}
	cityNamesEN = []string{"Belgorod", "Beloretsk", "Vladivostok", "Yelets", "Yefremov", "Kochubeyevskoye", "Lipetsk", "Moscow",
		"Nalchik", "Nevinnomyssk", "Neftekamsk", "Stavropol", "Tambov", "Tomsk", "Ufa", "Elista"}
)

const (
	cityMoscow      = 8
	cityNalchik     = 9
	cityTomsk       = 14
	cityVladivostok = 3
)

// Red Square, and a degree of latitude in metres on the test's sphere.
const (
	redLat, redLon = 55.7558, 37.6173
	metresPerDeg   = 6371008.8 * math.Pi / 180
)

func span(opens, closes int) []dialogs.OpenSpan {
	return []dialogs.OpenSpan{{Opens: time.Duration(opens) * time.Hour, Closes: time.Duration(closes) * time.Hour}}
}

// weekdays is open Monday to Friday (plus Saturday if sat) from opens to closes.
func weekdays(sat bool, opens, closes int) ([7]bool, []dialogs.DayHours) {
	days := [7]bool{true, true, true, true, true, sat, false}
	to := time.Friday
	if sat {
		to = time.Saturday
	}
	return days, []dialogs.DayHours{{From: time.Monday, To: to, Spans: span(opens, closes)}, {From: to + 1, To: time.Sunday}}
}

func newFakeOffices(t *testing.T) *fakeOffices {
	msk, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	vvo, err := time.LoadLocation("Asia/Vladivostok")
	if err != nil {
		t.Fatal(err)
	}
	contact := []dialogs.DayHours{
		{From: time.Monday, To: time.Friday, Spans: span(9, 21)},
		{From: time.Saturday, To: time.Sunday, Spans: span(9, 18)},
	}
	f := &fakeOffices{}
	for i, name := range cityNamesRU {
		f.cities = append(f.cities, dialogs.OfficeCity{ID: int64(i + 1), Name: name, NameEN: cityNamesEN[i],
			Hotlines: []string{fmt.Sprintf("+7 (800) 000-00-%02d", i+1)}, ContactHours: contact})
	}
	f.cities[cityTomsk-1].Hotlines = []string{"+7 (3822) 31-11-11"}
	f.cities[cityNalchik-1].Hotlines = []string{"+7(8662) 760-400", "+7(8662) 777-400"}
	f.cities[0].Hotlines = []string{"+7 (4722)777-567"}
	f.cities[cityMoscow-1].Hotlines = []string{"+7 (495)369-00-31"}

	id := int64(0)
	add := func(p fakePoint) {
		id++
		p.ID = id
		f.points = append(f.points, p)
	}
	days, hours := weekdays(false, 9, 21) // Sunday closed
	// Москва: twelve offices far north (for paging), and the three nearest
	// to Red Square at 350 m, 1.2 km and 15 km.
	for i := 1; i <= 12; i++ {
		add(fakePoint{ServicePoint: dialogs.ServicePoint{CityID: cityMoscow, Kind: dialogs.KindOfficePoint,
			Name: fmt.Sprintf("Офис %02d", i), Address: fmt.Sprintf("ул. Северная, %d", i), Hours: hours,
			Services: []string{"contracts", "payments", "teleport"}}, zone: msk, days: days, opens: 9, closes: 21})
	}
	add(fakePoint{ServicePoint: dialogs.ServicePoint{CityID: cityMoscow, Kind: dialogs.KindOfficePoint,
		Name: "Офис на Тверской", Address: "ул. Тверская, 12", Lat: redLat + 350/metresPerDeg, Lon: redLon, Hours: hours,
		Services: []string{"contracts"}}, zone: msk, days: days, opens: 9, closes: 21, geo: true})
	add(fakePoint{ServicePoint: dialogs.ServicePoint{CityID: cityMoscow, Kind: dialogs.KindPartner,
		Name: `Кафе <b>"Tom & Jerry"</b>`, Address: "ул. <Ленина> & 5", Lat: redLat + 1234/metresPerDeg, Lon: redLon,
		Hours: []dialogs.DayHours{{From: time.Monday, To: time.Sunday, Spans: span(10, 22)}}, Services: []string{"payments"}},
		zone: msk, days: [7]bool{true, true, true, true, true, true, true}, opens: 10, closes: 22, geo: true})
	add(fakePoint{ServicePoint: dialogs.ServicePoint{CityID: cityMoscow, Kind: dialogs.KindATM,
		Name: "Банкомат Сбербанка", Address: "ул. Мясницкая, 24", Lat: redLat + 15400/metresPerDeg, Lon: redLon,
		Hours: []dialogs.DayHours{{From: time.Monday, To: time.Sunday, Spans: span(0, 24)}}}, zone: msk, always: true, geo: true})
	for i := 1; i <= 6; i++ {
		add(fakePoint{ServicePoint: dialogs.ServicePoint{CityID: cityMoscow, Kind: dialogs.KindTerminal,
			Name: fmt.Sprintf("Терминал %02d", i), Address: "ТЦ", Hours: hours}, zone: msk, days: days, opens: 9, closes: 21})
	}
	// Владивосток, seven hours ahead of Moscow.
	vdays, vhours := weekdays(true, 9, 19)
	add(fakePoint{ServicePoint: dialogs.ServicePoint{CityID: cityVladivostok, Kind: dialogs.KindOfficePoint,
		Name: "Офис на Светланской", Address: "ул. Светланская, 43", Lat: 43.1155 + 300/metresPerDeg, Lon: 131.8855, Hours: vhours},
		zone: vvo, days: vdays, opens: 9, closes: 19, geo: true})
	// Томск: schedules of every shape.
	tomsk := []dialogs.DayHours{
		{From: time.Monday, To: time.Friday, Spans: span(9, 19)},
		{From: time.Saturday, To: time.Saturday, Spans: []dialogs.OpenSpan{{Opens: 10 * time.Hour, Closes: 13 * time.Hour}, {Opens: 14 * time.Hour, Closes: 16 * time.Hour}}},
		{From: time.Sunday, To: time.Sunday},
	}
	add(fakePoint{ServicePoint: dialogs.ServicePoint{CityID: cityTomsk, Kind: dialogs.KindOfficePoint,
		Name: "Офис на Ленина", Address: "пр-т Ленина, 80", Hours: tomsk, Services: []string{"contracts", "equipment"}},
		zone: msk, days: days, opens: 9, closes: 19})
	add(fakePoint{ServicePoint: dialogs.ServicePoint{CityID: cityTomsk, Kind: dialogs.KindTerminal,
		Name: "Терминал QIWI", Address: "ул. Красноармейская, 101",
		Hours: []dialogs.DayHours{{From: time.Monday, To: time.Sunday, Spans: []dialogs.OpenSpan{{Opens: 8 * time.Hour, Closes: 2 * time.Hour}}}}},
		zone: msk, always: true})
	add(fakePoint{ServicePoint: dialogs.ServicePoint{CityID: cityTomsk, Kind: dialogs.KindATM,
		Name: "Банкомат ВТБ", Address: "пр-т Ленина, 1",
		Hours: []dialogs.DayHours{{From: time.Monday, To: time.Friday, Spans: span(0, 24)}, {From: time.Saturday, To: time.Sunday}}},
		zone: msk, openFor: 36 * time.Hour})
	return f
}

// newOfficesHarness is the conversation harness with the offices screens
// plugged in and a clock the test moves.
func newOfficesHarness(t *testing.T, lang string, cfg dialogs.OfficesConfig) (*harness, *fakeOffices, *time.Time) {
	h := newHarness(t, lang)
	dir := newFakeOffices(t)
	clock := new(time.Time)
	*clock = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) // Wednesday: 15:00 in Moscow, 22:00 in Vladivostok
	h.eng = dialogs.New(h.accounts, h.codes, h.sms, locales.MustLoad(), dialogs.Config{MaxAccounts: 5, Location: time.UTC, Secret: []byte("k")},
		func() time.Time { return *clock }, slog.New(slog.NewTextHandler(io.Discard, nil))).WithOffices(dir, cfg)
	return h, dir, clock
}

// callbackData lists the callback data of a result's buttons, in order.
func callbackData(res dialogs.Result) []string {
	var out []string
	for _, r := range res.Replies {
		for _, row := range r.Buttons {
			for _, b := range row {
				if b.Data != "" {
					out = append(out, b.Data)
				}
			}
		}
	}
	return out
}

func hasData(res dialogs.Result, data string) bool {
	for _, d := range callbackData(res) {
		if d == data {
			return true
		}
	}
	return false
}

// lastText is the text of the last reply.
func lastText(t *testing.T, res dialogs.Result) string {
	t.Helper()
	if len(res.Replies) == 0 {
		t.Fatal("no reply")
	}
	return res.Replies[len(res.Replies)-1].Text
}

func TestOfficesInTheMenuBeforeAndAfterLinking(t *testing.T) {
	h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	res := h.cmd("menu")
	mustContain(t, res, "[🏢 Офисы и контакты|of]")
	mustContain(t, h.press("of"), "Выберите город")

	_ = h.accounts.Link(context.Background(), user, 1, 5)
	res = h.cmd("menu")
	mustContain(t, res, "[🏢 Офисы и контакты|of]")
	// The linked account is in Москва: that city comes first.
	mustContain(t, h.cmd("offices"), "<b>Москва</b> — офисы и контакты", "+7 (495) 369-00-31")
}

func TestOfficesCityListIsAlphabeticalOnOneKeyboard(t *testing.T) {
	for _, tc := range []struct {
		lang string
		want []string
	}{
		{"ru", cityNamesRU},
		{"en", []string{"Belgorod", "Beloretsk", "Elista", "Kochubeyevskoye", "Lipetsk", "Moscow", "Nalchik", "Neftekamsk",
			"Nevinnomyssk", "Stavropol", "Tambov", "Tomsk", "Ufa", "Vladivostok", "Yefremov", "Yelets"}},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			h, _, _ := newOfficesHarness(t, tc.lang, dialogs.DefaultOfficesConfig())
			res := h.press("of")
			if len(res.Replies) != 1 || res.Replies[0].Edit != 42 {
				t.Fatalf("want one reply editing the menu message, got %+v", res.Replies)
			}
			var names []string
			cityRows := 0
			for _, row := range res.Replies[0].Buttons {
				for _, b := range row {
					if len(b.Data) > 64 {
						t.Errorf("callback data %q longer than 64 bytes", b.Data)
					}
					if strings.HasPrefix(b.Data, "oc:") {
						names = append(names, b.Text)
					}
				}
				if strings.HasPrefix(row[0].Data, "oc:") {
					cityRows++
					if len(row) > 3 {
						t.Errorf("a row of %d cities", len(row))
					}
				}
			}
			if cityRows != 6 {
				t.Errorf("16 cities on %d rows, want 6 rows of up to three", cityRows)
			}
			if fmt.Sprint(names) != fmt.Sprint(tc.want) {
				t.Errorf("cities\n%v\nwant\n%v", names, tc.want)
			}
			if !hasData(res, "menu") || !hasData(res, "on") {
				t.Errorf("no way back to the menu or to 'nearest to me': %v", callbackData(res))
			}
		})
	}
}

func TestOfficesOwnCityFirst(t *testing.T) {
	h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	_ = h.accounts.Link(context.Background(), user, 3, 5) // Томск
	res := h.press("of")
	mustContain(t, res, "<b>Томск</b> — офисы и контакты", "📞 Горячая линия: +7 (3822) 31-11-11",
		"Контакт-центр: Пн–Пт 09:00–21:00, Сб–Вс 09:00–18:00", "Офис на Ленина", "[🏙 Другой город|oc]", "[☰ Меню|menu]")
	mustContain(t, h.press("oc"), "Выберите город", "oc:14")

	// An account whose city the directory does not know gets the list.
	h2, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	h2.accounts.accounts[9] = billing.Account{ID: 9, Number: "1000000009", City: "Атлантида", Status: billing.StatusActive}
	_ = h2.accounts.Link(context.Background(), user, 9, 5)
	mustContain(t, h2.cmd("offices"), "Выберите город")
}

func TestOfficesHotlinesAreTidiedToATappableShape(t *testing.T) {
	h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	mustContain(t, h.press("oc:9"), "+7 (8662) 760-400, +7 (8662) 777-400")
	mustContain(t, h.press("oc:1"), "+7 (4722) 777-567")
}

var officeName = regexp.MustCompile(`(Офис \d\d|Терминал \d\d)`)

// walk follows the ▶ buttons from the first page to the last and returns
// the names seen and the number of pages.
func walk(t *testing.T, h *harness, first string) (names []string, pages int) {
	t.Helper()
	data := first
	for data != "" {
		res := h.press(data)
		pages++
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		if !hasData(res, "menu") {
			t.Errorf("page %d has no way back to the menu", pages)
		}
		if res.Replies[0].Edit != 42 {
			t.Errorf("page %d is a new message, not an edit", pages)
		}
		names = append(names, officeName.FindAllString(lastText(t, res), -1)...)
		data = ""
		for _, row := range res.Replies[0].Buttons {
			for _, b := range row {
				if b.Text == "▶" {
					data = b.Data
				}
				if len(b.Data) > 64 {
					t.Errorf("callback data %q longer than 64 bytes", b.Data)
				}
			}
		}
	}
	return names, pages
}

func TestOfficesPagingShowsEveryPointOnce(t *testing.T) {
	h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	res := h.press("oc:8")
	mustContain(t, res, "В городе 13 офисов:", "Страница 1 из 3", "[▶|op:8:o:1]", "[💳 Где оплатить|op:8:p:0]")

	names, pages := walk(t, h, "oc:8")
	if pages != 3 {
		t.Errorf("%d pages of 13 offices, want 3", pages)
	}
	seen := map[string]int{}
	for _, n := range names {
		seen[n]++
	}
	for i := 1; i <= 12; i++ {
		if n := fmt.Sprintf("Офис %02d", i); seen[n] != 1 {
			t.Errorf("%s shown %d times", n, seen[n])
		}
	}
	mustContain(t, h.press("op:8:o:1"), "Страница 2 из 3", "[◀|op:8:o:0]", "[▶|op:8:o:2]")

	// Payment points: 8 of them, on two pages; offices are not among them.
	mustContain(t, h.press("op:8:p:0"), "<b>Москва</b> — где оплатить наличными", "8 пунктов оплаты:", "Страница 1 из 2")
	names, pages = walk(t, h, "op:8:p:0")
	if pages != 2 || len(names) != 6 || strings.Contains(fmt.Sprint(names), "Офис") {
		t.Errorf("payment pages %d, names %v: want 2 pages with all six terminals", pages, names)
	}

	// A page past the end (the list has shrunk since) shows the last one.
	mustContain(t, h.press("op:8:o:99"), "Страница 3 из 3")
	// A city without payment points says so and still leads back.
	res = h.press("op:3:p:0")
	mustContain(t, res, "Пунктов оплаты наличными в этом городе в справочнике пока нет", "[🏢 Офисы и контакты|oc:3]", "menu")
}

func TestOfficesPointsShowHoursServicesAndEscapedValues(t *testing.T) {
	h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	res := h.press("oc:14")
	mustContain(t, res,
		"🏢 <b>Офис на Ленина</b>", "📍 пр-т Ленина, 80",
		"🕘 Пн–Пт 09:00–19:00, Сб 10:00–13:00 и 14:00–16:00, Вс выходной",
		"Здесь можно: заключить договор или получить его копию, купить или вернуть роутер и ТВ-приставку.",
		"Время работы — местное")
	// Open around the clock on weekdays only: closing more than a day from
	// now needs the day said, not just the time.
	mustContain(t, h.press("op:14:p:0"), "💳 <b>Терминал QIWI</b>\n", "ежедневно 08:00–02:00", "открыто круглосуточно",
		"🏧 <b>Банкомат ВТБ</b>", "🕘 Пн–Пт круглосуточно, Сб–Вс выходной", "🟢 открыто до 03:00 (Пт)")

	res = h.press("op:8:p:0")
	mustContain(t, res, `🏪 <b>Кафе &lt;b&gt;&#34;Tom &amp; Jerry&#34;&lt;/b&gt;</b> · партнёрский пункт`,
		"📍 ул. &lt;Ленина&gt; &amp; 5", "ежедневно 10:00–22:00")
	if strings.Contains(all(res), "Здесь можно") {
		t.Error("a payment point lists 'pay' as what one can do there")
	}
	if strings.Contains(all(res), "<Ленина>") || strings.Contains(all(res), `<b>"Tom`) {
		t.Error("a value from the database is not escaped")
	}
	mustContain(t, h.press("op:8:p:1"), "🏧 <b>Банкомат Сбербанка</b>\n", "🕘 круглосуточно")
	// Unknown services are left out rather than shown as ids.
	if strings.Contains(all(h.press("oc:8")), "teleport") {
		t.Error("an unknown service id is shown")
	}

	en, _, _ := newOfficesHarness(t, "en", dialogs.DefaultOfficesConfig())
	mustContain(t, en.press("oc:14"), "<b>Tomsk</b>: offices and contacts",
		"Mon–Fri 09:00–19:00, Sat 10:00–13:00 and 14:00–16:00, Sun closed", "Contact centre: Mon–Fri 09:00–21:00, Sat–Sun 09:00–18:00")
}

// venues lists the venue replies of a result.
func venues(res dialogs.Result) []dialogs.Reply {
	var out []dialogs.Reply
	for _, r := range res.Replies {
		if r.Venue != nil {
			out = append(out, r)
		}
	}
	return out
}

func (h *harness) location(lat, lon float64) dialogs.Result {
	return h.do(dialogs.Event{Kind: dialogs.KindLocation, Location: &dialogs.Location{Lat: lat, Lon: lon}})
}

func TestOfficesNearestInMoscowOpenAndVladivostokClosed(t *testing.T) {
	h, dir, clock := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	res := h.press("on")
	if h.st.Step != dialogs.StepOfficesLocation {
		t.Fatalf("step %q after 'nearest to me'", h.st.Step)
	}
	kb := res.Replies[0].Keyboard
	if kb == nil || !kb.Rows[0][0].RequestLocation || kb.Rows[1][0].Text != "Отмена" {
		t.Fatalf("no 'send my location' keyboard: %+v", kb)
	}
	mustContain(t, res, "три ближайших офиса и пункта оплаты")

	// Wednesday 12:00 UTC is 15:00 in Moscow.
	res = h.location(redLat, redLon)
	v := venues(res)
	if len(v) != 3 {
		t.Fatalf("%d venues, want 3:\n%s", len(v), all(res))
	}
	wantTitles := []string{"Офис на Тверской", `Кафе <b>"Tom & Jerry"</b>`, "Банкомат Сбербанка"}
	for i, r := range v {
		// A venue is not HTML: its title and address go to Telegram as they are.
		if r.Venue.Title != wantTitles[i] {
			t.Errorf("venue %d: %q, want %q", i+1, r.Venue.Title, wantTitles[i])
		}
		if r.Venue.Lat == 0 || r.Venue.Address == "" {
			t.Errorf("venue %d without a place: %+v", i+1, r.Venue)
		}
	}
	if v[1].Venue.Address != "ул. <Ленина> & 5" {
		t.Errorf("venue address %q", v[1].Venue.Address)
	}
	if kb := v[0].Keyboard; kb == nil || !kb.Remove {
		t.Error("the location keyboard stays after the location came")
	}
	text := lastText(t, res)
	for _, want := range []string{
		"1. 🏢 <b>Офис на Тверской</b> — <b>350 м</b>", "🟢 открыто до 21:00",
		"2. 🏪 <b>Кафе &lt;b&gt;", "— <b>1,2 км</b>", "📍 ул. &lt;Ленина&gt; &amp; 5", "🟢 открыто до 22:00",
		"3. 🏧 <b>Банкомат Сбербанка</b> — <b>15 км</b>", "🟢 открыто круглосуточно",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("nearest text lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "350 м") > strings.Index(text, "1,2 км") {
		t.Error("not nearest first")
	}
	if !hasData(res, "menu") || !hasData(res, "oc:8") {
		t.Errorf("no way on from the nearest answer: %v", callbackData(res))
	}
	if h.st.Step != dialogs.StepIdle {
		t.Errorf("step %q after the answer", h.st.Step)
	}
	if !dir.askedNow.Equal(*clock) || dir.kinds != nil {
		t.Errorf("asked at %s for %v, want the engine's clock %s and every kind", dir.askedNow, dir.kinds, *clock)
	}

	// The same instant is 22:00 in Vladivostok: closed until tomorrow 09:00
	// there (13:00 today in UTC, which a wrong zone would show).
	res = h.location(43.1155, 131.8855)
	mustContain(t, res, "Офис на Светланской", "<b>300 м</b>", "🔴 закрыто, откроется завтра в 09:00")

	// Wednesday 20:00 UTC is already Thursday 03:00 in Vladivostok: the
	// office opens "today" there, though in UTC that is tomorrow.
	*clock = time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	mustContain(t, h.location(43.1155, 131.8855), "🔴 закрыто, откроется сегодня в 09:00")

	// Saturday 23:00 in Moscow: the office that is closed on Sundays opens on Monday.
	*clock = time.Date(2026, 11, 28, 20, 0, 0, 0, time.UTC)
	mustContain(t, h.location(redLat, redLon), "🔴 закрыто, откроется в понедельник в 09:00", "🔴 закрыто, откроется завтра в 10:00")
	// Saturday 05:00 in Moscow: the partner shop opens today.
	*clock = time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	mustContain(t, h.location(redLat, redLon), "🔴 закрыто, откроется сегодня в 10:00")

	// Far from every point, the answer says so.
	mustContain(t, h.location(54.71, 20.51), "рядом с вами наших пунктов нет")

	en, _, _ := newOfficesHarness(t, "en", dialogs.DefaultOfficesConfig())
	mustContain(t, en.location(redLat, redLon), "<b>350 m</b>", "<b>1.2 km</b>", "<b>15 km</b>", "🟢 open until 21:00")
	mustContain(t, en.location(43.1155, 131.8855), "🔴 closed, opens tomorrow at 09:00")
}

func TestOfficesNearestSettingChoosesWhatToLookFor(t *testing.T) {
	for _, tc := range []struct {
		nearest dialogs.NearestKinds
		kinds   string
		prompt  string
		title   string
	}{
		{dialogs.NearestOffices, "[office]", "три ближайших офиса.", "Ближайшие к вам офисы"},
		{dialogs.NearestPayments, "[partner terminal atm]", "три ближайших пункта оплаты", "Ближайшие к вам пункты оплаты"},
	} {
		cfg := dialogs.DefaultOfficesConfig()
		cfg.Nearest = tc.nearest
		h, dir, _ := newOfficesHarness(t, "ru", cfg)
		mustContain(t, h.press("on"), tc.prompt)
		res := h.location(redLat, redLon)
		mustContain(t, res, tc.title)
		if fmt.Sprint(dir.kinds) != tc.kinds {
			t.Errorf("%s: asked for %v, want %s", tc.nearest, dir.kinds, tc.kinds)
		}
		for _, v := range venues(res) {
			isOffice := strings.HasPrefix(v.Venue.Title, "Офис")
			if isOffice != (tc.nearest == dialogs.NearestOffices) {
				t.Errorf("%s: venue %q", tc.nearest, v.Venue.Title)
			}
		}
	}
}

func TestOfficesLocationStepCanBeLeft(t *testing.T) {
	h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	h.press("on")
	res := h.text("привет")
	mustContain(t, res, "Нажмите кнопку «📍 Отправить мою геопозицию» внизу или «Отмена»")
	if h.st.Step != dialogs.StepOfficesLocation {
		t.Fatalf("step %q", h.st.Step)
	}
	res = h.text("отмена")
	mustContain(t, res, "Отменено.", "[🏢 Офисы и контакты|of]")
	if kb := res.Replies[0].Keyboard; kb == nil || !kb.Remove {
		t.Error("the location keyboard is not removed on cancel")
	}
	if h.st.Step != dialogs.StepIdle {
		t.Errorf("step %q after cancel", h.st.Step)
	}
	// A button pressed instead of sharing the location also ends the wait.
	h.press("on")
	h.press("oc:8")
	if h.st.Step != dialogs.StepIdle {
		t.Errorf("step %q after moving on with a button", h.st.Step)
	}
}

func TestOfficesLinksAreURLButtons(t *testing.T) {
	h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	mustContain(t, h.press("oc:8"), "[💬 Мессенджеры и соцсети|ow:8]")
	res := h.press("ow:8")
	mustContain(t, res, "Мы на связи",
		"[WhatsApp|https://wa.me/79064718232]", "[Telegram|https://t.me/+79064718232]",
		"[ВКонтакте|https://vk.com/zelenaya_net]", "[Одноклассники|https://ok.ru/zelenayatochka]",
		"[YouTube|https://www.youtube.com/user/zelenayatochka]", "[✉ Написать директору|https://zelenaya.net/contacts/]",
		"[◀ Назад|oc:8]", "[☰ Меню|menu]")
	rows := res.Replies[0].Buttons
	if d := rows[len(rows)-2]; len(d) != 1 || d[0].Text != "✉ Написать директору" {
		t.Errorf("'write to the director' is not on its own row before the way back: %+v", d)
	}

	// Links Telegram would refuse are left out; none at all hides the screen.
	cfg := dialogs.DefaultOfficesConfig()
	cfg.Links = dialogs.OfficeLinks{Viber: "viber://chat?number=%2B79064718232", Director: "https://example.org/write"}
	h2, _, _ := newOfficesHarness(t, "en", cfg)
	res = h2.press("ow:8")
	if got := all(res); strings.Contains(got, "viber") || !strings.Contains(got, "[✉ Write to the director|https://example.org/write]") {
		t.Errorf("links screen:\n%s", got)
	}
	cfg.Links = dialogs.OfficeLinks{}
	h3, _, _ := newOfficesHarness(t, "ru", cfg)
	if hasData(h3.press("oc:8"), "ow:8") {
		t.Error("a links button without links")
	}
}

func TestOfficesFreeTextShortcut(t *testing.T) {
	for _, text := range []string{"Телефон", "адрес офиса", "ГДЕ ОПЛАТИТЬ?", "контакты", "Contacts", "Where to pay?",
		"какой номер телефона горячей линии", "режим работы", "Есть банкомат рядом?", "ATM", "офисы"} {
		h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
		if got := all(h.text(text)); !strings.Contains(got, "Выберите город") {
			t.Errorf("%q did not lead to the offices:\n%s", text, got)
		}
	}
	for text, want := range map[string]string{
		"адрес офиса в Томске":         "<b>Томск</b> — офисы и контакты",
		"где оплатить в Москве":        "<b>Москва</b> — офисы и контакты",
		"телефон Владивосток":          "<b>Владивосток</b> — офисы",
		"where is your office in Ufa?": "<b>Уфа</b> — офисы",
	} {
		h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
		mustContain(t, h.text(text), want)
	}
	// A linked subscriber gets their own city.
	h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	_ = h.accounts.Link(context.Background(), user, 1, 5)
	mustContain(t, h.text("Телефон?"), "<b>Москва</b> — офисы и контакты")

	for _, text := range []string{"привет", "у меня не работает интернет", "atmosphere", "phonetic", "оплатить",
		"Здравствуйте, у меня третий день не работает интернет, я звонил на телефон поддержки, никто не отвечает"} {
		h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
		got := all(h.text(text))
		if strings.Contains(got, "офисы и контакты") || strings.Contains(got, "Выберите город") {
			t.Errorf("%.30q led to the offices", text)
		}
	}
}

func TestOfficesOldOrForgedButtonsShowTheCityList(t *testing.T) {
	for _, data := range []string{"oc:abc", "oc:999", "oc:-1", "op:8:x:0", "op:8:o:-1", "op:8:o:zz", "op:999:o:0", "op:8", "op", "op:8:o:1:2"} {
		h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
		res := h.press(data)
		if res.Toast != "Эта кнопка устарела — вот актуальное состояние." {
			t.Errorf("%s: toast %q", data, res.Toast)
		}
		if !strings.Contains(all(res), "Выберите город") || res.Replies[0].Edit != 42 {
			t.Errorf("%s: not answered with the city list in place:\n%s", data, all(res))
		}
	}
	// A links button with a bad city still shows the links, leading back to the start.
	h, _, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	mustContain(t, h.press("ow:zz"), "Мы на связи", "[◀ Назад|of]")
}

func TestOfficesDirectoryFailureIsAnError(t *testing.T) {
	h, dir, _ := newOfficesHarness(t, "ru", dialogs.DefaultOfficesConfig())
	dir.fail = errors.New("database is down")
	for _, ev := range []dialogs.Event{
		{Kind: dialogs.KindCallback, Data: "of", MessageID: 42},
		{Kind: dialogs.KindCallback, Data: "oc:8", MessageID: 42},
		{Kind: dialogs.KindCallback, Data: "op:8:p:1", MessageID: 42},
		{Kind: dialogs.KindLocation, Location: &dialogs.Location{Lat: redLat, Lon: redLon}},
		{Kind: dialogs.KindText, Text: "где оплатить"},
	} {
		ev.UserID, ev.ChatID = user, user
		// The caller answers "try again later" and keeps the old state; a
		// failure must not look like "this city does not exist".
		if _, err := h.eng.Handle(context.Background(), h.st, ev); !errors.Is(err, dir.fail) {
			t.Errorf("%+v: err %v, want the directory's", ev, err)
		}
	}
}
