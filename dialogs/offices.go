package dialogs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kabinet-bot/kabinet/billing"
)

// Offices is what the "offices and contacts" screens need from the directory
// of cities, offices and payment points. It is declared here, where it is
// used, with types of this package, so that dialogs imports no SQL;
// offices.Directory implements it over PostgreSQL.
//
// Opening hours are judged by the directory, in each city's own time zone, at
// the instant the dialogs pass in (their clock, so that tests control it).
type Offices interface {
	// Cities lists every city in Russian alphabetical order.
	Cities(ctx context.Context) ([]OfficeCity, error)
	// City returns one city by id, or ErrUnknownCity.
	City(ctx context.Context, id int64) (OfficeCity, error)
	// CityByName finds a city by its Russian or English name in any case,
	// or returns ErrUnknownCity.
	CityByName(ctx context.Context, name string) (OfficeCity, error)
	// CityPoints returns one page of a city's points of the given kinds and
	// how many there are in all. The order is stable across pages (by kind
	// in the order of PointKinds, then by name), so that paging shows every
	// point exactly once.
	CityPoints(ctx context.Context, cityID int64, kinds []PointKind, offset, limit int, now time.Time) ([]ServicePoint, int, error)
	// Nearest returns the n points of the given kinds (nil: all) nearest to
	// (lat, lon), nearest first, with Meters set.
	Nearest(ctx context.Context, lat, lon float64, kinds []PointKind, n int, now time.Time) ([]ServicePoint, error)
}

// ErrUnknownCity is what Offices returns for a city that does not exist, so
// that a button from an old message is answered with the current city list.
var ErrUnknownCity = errors.New("dialogs: unknown city")

// OfficeCity is one of the provider's cities as the offices screens show it.
type OfficeCity struct {
	ID       int64
	Name     string   // Russian
	NameEN   string   // English, for the English interface
	Hotlines []string // as the provider prints them
	// ContactHours is when the hotline answers, in the city's local time;
	// empty when the provider has published none.
	ContactHours []DayHours
}

// PointKind says what sort of place a point is; the values are those of the
// directory (offices.Kind).
type PointKind string

// The kinds of points.
const (
	KindOfficePoint PointKind = "office"   // the provider's own office
	KindPartner     PointKind = "partner"  // a partner shop that takes cash
	KindTerminal    PointKind = "terminal" // a payment terminal
	KindATM         PointKind = "atm"      // a bank's ATM
)

// paymentKinds are the places where one only pays.
var paymentKinds = []PointKind{KindPartner, KindTerminal, KindATM}

// ServicePoint is one office, partner shop, terminal or ATM, with its opening
// hours already judged at the instant asked for.
type ServicePoint struct {
	ID       int64
	CityID   int64
	Kind     PointKind
	Name     string
	Address  string
	Lat, Lon float64
	// Services are what one can do there ("contracts", "payments",
	// "equipment", "connection"); unknown ones are not shown.
	Services []string
	// Hours is the weekly schedule, Monday first, in runs of equal days.
	Hours []DayHours
	// Open tells whether the point is open at the instant asked for. Next is
	// when it closes (if open) or opens (if closed), on the city's clock
	// (Next's location is the city's zone); zero when that never happens
	// (open around the clock, or no open day at all).
	Open bool
	Next time.Time
	// Meters is the distance from where the subscriber stands (Nearest only).
	Meters float64
}

// DayHours is a run of consecutive weekdays with the same opening hours, so
// that a schedule reads "Mon–Fri 09:00–21:00, Sat–Sun 10:00–18:00".
type DayHours struct {
	From, To time.Weekday // inclusive
	Spans    []OpenSpan   // empty: closed on those days
}

// OpenSpan is a stretch of a day during which a place is open, as durations
// since local midnight. Closes is 24h for the midnight that ends the day and
// less than Opens for a span that ends the next morning.
type OpenSpan struct {
	Opens, Closes time.Duration
}

// NearestKinds chooses what "Nearest to me" looks for: a provider whose
// offices are few may prefer to send people only to payment points.
type NearestKinds string

// The choices for NearestKinds.
const (
	NearestAll      NearestKinds = "all"      // offices and payment points
	NearestOffices  NearestKinds = "offices"  // offices only
	NearestPayments NearestKinds = "payments" // partner shops, terminals and ATMs
)

// Valid reports whether n is one of the known choices.
func (n NearestKinds) Valid() bool {
	return n == NearestAll || n == NearestOffices || n == NearestPayments
}

// OfficesConfig holds the settings of the offices screens.
type OfficesConfig struct {
	// Nearest is what "Nearest to me" looks for ("" means NearestAll).
	Nearest NearestKinds
	// PageSize is how many points one screen lists (0 means 5).
	PageSize int
	// Links are the provider's messengers, social pages and the "write to
	// the director" form; an empty URL hides its button.
	Links OfficeLinks
	// Hotline is the provider's one number for every city, shown first on
	// the city list so that someone who only wants to call gets there in
	// one tap; an empty Phone shows only the cities' own numbers.
	Hotline Hotline
}

// Hotline is a phone number with the hours it answers.
type Hotline struct {
	Phone string // as the provider prints it
	// Hours is when it answers, in Zone.
	Hours []DayHours
	// Zone names the time zone of Hours for the person reading them
	// ("мск"): a locale id suffix, "msk".
	Zone string
}

// OfficeLinks are the URLs of the "messengers and social pages" screen.
// Telegram accepts only http(s) and tg:// URLs in buttons, so anything else
// (viber://, tel:) is left out rather than making the whole screen fail.
type OfficeLinks struct {
	WhatsApp string
	Telegram string
	Viber    string
	VK       string
	OK       string // Одноклассники
	YouTube  string
	Director string // the "Написать директору" form
}

// DefaultOfficesConfig is the seed provider's setup: all kinds of points, five
// per page, and its published messengers and pages. Viber has no http link,
// so it is empty.
func DefaultOfficesConfig() OfficesConfig {
	return OfficesConfig{
		Nearest:  NearestAll,
		PageSize: 5,
		Links: OfficeLinks{
			WhatsApp: "https://wa.me/79064718232",
			Telegram: "https://t.me/+79064718232",
			VK:       "https://vk.com/zelenaya_net",
			OK:       "https://ok.ru/zelenayatochka",
			YouTube:  "https://www.youtube.com/user/zelenayatochka",
			Director: "https://zelenaya.net/contacts/",
		},
		// The seed's "единый номер обслуживания", 09:00-21:00 on weekdays and
		// 09:00-18:00 at weekends, Moscow time.
		Hotline: Hotline{
			Phone: "+7 (8652) 333-333",
			Hours: []DayHours{
				{From: time.Monday, To: time.Friday, Spans: []OpenSpan{{Opens: 9 * time.Hour, Closes: 21 * time.Hour}}},
				{From: time.Saturday, To: time.Sunday, Spans: []OpenSpan{{Opens: 9 * time.Hour, Closes: 18 * time.Hour}}},
			},
			Zone: "msk",
		},
	}
}

// StepOfficesLocation waits for a shared location after "Nearest to me",
// with a reply keyboard whose button sends it.
const StepOfficesLocation Step = "offices.location"

// nearestCount is how many venues "Nearest to me" sends: enough to choose
// from, few enough not to flood the chat.
const nearestCount = 3

// farAway is the distance beyond which the nearest point is not "near": the
// answer then says so instead of pretending.
const farAway = 100000 // metres

// officeLink is one URL button of the links screen.
type officeLink struct {
	label string // message id
	url   string
}

// officesFeature is the offices screens with their directory and settings.
type officesFeature struct {
	dir   Offices
	cfg   OfficesConfig
	links []officeLink
}

// WithOffices plugs the offices and contacts screens into the engine: the
// menu button, /offices, the city list and city screens, paging, "Nearest
// to me" with a shared location, the links screen and the free-text
// shortcut. Call it right after New.
func (e *Engine) WithOffices(d Offices, cfg OfficesConfig) *Engine {
	if !cfg.Nearest.Valid() {
		cfg.Nearest = NearestAll
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 5
	}
	f := &officesFeature{dir: d, cfg: cfg}
	for _, l := range []officeLink{
		{"offices_link_whatsapp", cfg.Links.WhatsApp},
		{"offices_link_telegram", cfg.Links.Telegram},
		{"offices_link_viber", cfg.Links.Viber},
		{"offices_link_vk", cfg.Links.VK},
		{"offices_link_ok", cfg.Links.OK},
		{"offices_link_youtube", cfg.Links.YouTube},
		{"offices_link_director", cfg.Links.Director},
	} {
		u := strings.TrimSpace(l.url)
		if u == "" {
			continue
		}
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "tg://") {
			e.log.Warn("offices: link left out, Telegram buttons take only http(s) and tg:// URLs", "link", l.label)
			continue
		}
		f.links = append(f.links, officeLink{l.label, u})
	}

	e.reg.menu = append(e.reg.menu, func(e *Engine, t *turn, _ bool) []Button {
		return []Button{{Text: e.t(t, "btn_offices", nil), Data: "of"}}
	})
	e.reg.command("offices", func(e *Engine, t *turn) error { return f.entry(e, t, 0) })
	e.reg.callback("of", func(e *Engine, t *turn, _ string, edit int) error {
		f.leaveStep(t)
		return f.entry(e, t, edit)
	})
	e.reg.callback("oc", f.cityCallback)
	e.reg.callback("op", f.pageCallback)
	e.reg.callback("on", f.askLocation)
	e.reg.callback("ow", f.linksCallback)
	e.reg.steps[StepOfficesLocation] = f.locationStep
	e.reg.location = f.nearest
	e.reg.idleText = append(e.reg.idleText, f.shortcut)
	e.reg.help = append(e.reg.help, func(e *Engine, t *turn) string { return e.t(t, "help_offices", nil) })
	return e
}

// leaveStep ends the wait for a location when the person moves on with a
// button instead.
func (f *officesFeature) leaveStep(t *turn) {
	if t.st.Step == StepOfficesLocation {
		t.st.Step = StepIdle
	}
}

// entry is the offices screen a person lands on: their own city's when an
// account is linked and its city is known, otherwise the city list.
func (f *officesFeature) entry(e *Engine, t *turn, edit int) error {
	acc, err := e.accounts.CurrentAccount(t.ctx, t.ev.UserID)
	switch {
	case err == nil && acc.City != "":
		city, err := f.dir.CityByName(t.ctx, acc.City)
		if err == nil {
			return f.showPage(e, t, city, false, 0, edit)
		}
		if !errors.Is(err, ErrUnknownCity) {
			return err
		}
	case err != nil && !errors.Is(err, billing.ErrNotFound):
		return err
	}
	return f.cityList(e, t, edit)
}

// cityList shows every city on one keyboard, alphabetical in the person's
// language, three to a row.
func (f *officesFeature) cityList(e *Engine, t *turn, edit int) error {
	cities, err := f.dir.Cities(t.ctx)
	if err != nil {
		return err
	}
	if t.lang == "en" {
		sort.SliceStable(cities, func(i, j int) bool { return cityName(t, cities[i]) < cityName(t, cities[j]) })
	}
	var rows [][]Button
	for i, c := range cities {
		if i%3 == 0 {
			rows = append(rows, nil)
		}
		rows[len(rows)-1] = append(rows[len(rows)-1], Button{Text: cityName(t, c), Data: fmt.Sprintf("oc:%d", c.ID)})
	}
	rows = append(rows, []Button{{Text: e.t(t, "btn_offices_nearest", nil), Data: "on"}})
	rows = append(rows, []Button{e.menuButton(t)})
	text := e.t(t, "offices_pick_city", nil)
	if h := f.cfg.Hotline; h.Phone != "" {
		hours := ""
		if len(h.Hours) > 0 {
			hours = f.schedule(e, t, h.Hours)
			if h.Zone != "" {
				hours += " " + e.t(t, "offices_zone_"+h.Zone, nil)
			}
		}
		text = e.t(t, "offices_hotline_all", map[string]any{"Phone": esc(phoneDisplay(h.Phone)), "Hours": hours}) + "\n\n" + e.t(t, "offices_pick_city_hotline", nil)
	}
	t.reply(Reply{Text: text, Buttons: rows, Edit: edit})
	return nil
}

// cityCallback: "oc" is the city list, "oc:<id>" a city's screen.
func (f *officesFeature) cityCallback(e *Engine, t *turn, arg string, edit int) error {
	f.leaveStep(t)
	if arg == "" {
		return f.cityList(e, t, edit)
	}
	city, ok, err := f.cityFromData(t, arg)
	if !ok || err != nil {
		return f.outdated(e, t, edit, err)
	}
	return f.showPage(e, t, city, false, 0, edit)
}

// pageCallback: "op:<city>:<o|p>:<page>" is a page of a city's offices (o)
// or payment points (p).
func (f *officesFeature) pageCallback(e *Engine, t *turn, arg string, edit int) error {
	f.leaveStep(t)
	parts := strings.Split(arg, ":")
	if len(parts) != 3 || (parts[1] != "o" && parts[1] != "p") {
		return f.outdated(e, t, edit, nil)
	}
	page, err := strconv.Atoi(parts[2])
	if err != nil || page < 0 {
		return f.outdated(e, t, edit, nil)
	}
	city, ok, err := f.cityFromData(t, parts[0])
	if !ok || err != nil {
		return f.outdated(e, t, edit, err)
	}
	return f.showPage(e, t, city, parts[1] == "p", page, edit)
}

// cityFromData loads the city a button names; ok is false for data that
// names none (forged, or a city removed since the message was sent).
func (f *officesFeature) cityFromData(t *turn, arg string) (OfficeCity, bool, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return OfficeCity{}, false, nil
	}
	city, err := f.dir.City(t.ctx, id)
	if errors.Is(err, ErrUnknownCity) {
		return OfficeCity{}, false, nil
	}
	if err != nil {
		return OfficeCity{}, false, err
	}
	return city, true, nil
}

// outdated answers a button that no longer means anything with the current
// city list, unless the directory itself failed.
func (f *officesFeature) outdated(e *Engine, t *turn, edit int, err error) error {
	if err != nil {
		return err
	}
	t.res.Toast = e.t(t, "button_outdated", nil)
	return f.cityList(e, t, edit)
}

// showPage shows one page of a city's offices (with the hotline and the
// contact-centre hours on top) or of its payment points. A page past the
// end, from a list that has shrunk since, shows the last page.
func (f *officesFeature) showPage(e *Engine, t *turn, city OfficeCity, payments bool, page, edit int) error {
	kinds, code := []PointKind{KindOfficePoint}, "o"
	if payments {
		kinds, code = paymentKinds, "p"
	}
	size := f.cfg.PageSize
	now := e.now()
	points, total, err := f.dir.CityPoints(t.ctx, city.ID, kinds, page*size, size, now)
	if err != nil {
		return err
	}
	pages := max(1, (total+size-1)/size)
	if page >= pages {
		page = pages - 1
		if points, total, err = f.dir.CityPoints(t.ctx, city.ID, kinds, page*size, size, now); err != nil {
			return err
		}
	}

	var b strings.Builder
	line := func(s string) { b.WriteString(s); b.WriteByte('\n') }
	name := esc(cityName(t, city))
	if payments {
		line(e.t(t, "offices_payments_title", map[string]any{"City": name}))
	} else {
		line(e.t(t, "offices_city_title", map[string]any{"City": name}))
		if len(city.Hotlines) > 0 {
			phones := make([]string, len(city.Hotlines))
			for i, h := range city.Hotlines {
				phones[i] = esc(phoneDisplay(h))
			}
			line(e.t(t, "offices_hotline", map[string]any{"Phones": strings.Join(phones, ", ")}))
		}
		if len(city.ContactHours) > 0 {
			line(e.t(t, "offices_contact_hours", map[string]any{"Hours": f.schedule(e, t, city.ContactHours)}))
		}
	}
	line("")
	switch {
	case total == 0 && payments:
		line(e.t(t, "offices_no_payments", nil))
	case total == 0:
		line(e.t(t, "offices_no_offices", nil))
	case payments:
		line(e.n(t, "offices_payments_count", total, nil))
	default:
		line(e.n(t, "offices_offices_count", total, nil))
	}
	for _, p := range points {
		line("")
		line(f.pointText(e, t, p, now))
	}
	if pages > 1 {
		line("")
		line(e.t(t, "offices_page", map[string]any{"Page": page + 1, "Pages": pages}))
	}
	if total > 0 {
		line(e.t(t, "offices_local_time", nil))
	}

	var rows [][]Button
	var nav []Button
	if page > 0 {
		nav = append(nav, Button{Text: e.t(t, "btn_offices_prev", nil), Data: fmt.Sprintf("op:%d:%s:%d", city.ID, code, page-1)})
	}
	if page < pages-1 {
		nav = append(nav, Button{Text: e.t(t, "btn_offices_next", nil), Data: fmt.Sprintf("op:%d:%s:%d", city.ID, code, page+1)})
	}
	if len(nav) > 0 {
		rows = append(rows, nav)
	}
	other := Button{Text: e.t(t, "btn_offices_payments", nil), Data: fmt.Sprintf("op:%d:p:0", city.ID)}
	if payments {
		other = Button{Text: e.t(t, "btn_offices", nil), Data: fmt.Sprintf("oc:%d", city.ID)}
	}
	rows = append(rows, []Button{other, {Text: e.t(t, "btn_offices_nearest", nil), Data: "on"}})
	if len(f.links) > 0 {
		rows = append(rows, []Button{{Text: e.t(t, "btn_offices_links", nil), Data: fmt.Sprintf("ow:%d", city.ID)}})
	}
	rows = append(rows, []Button{{Text: e.t(t, "btn_offices_other_city", nil), Data: "oc"}, e.menuButton(t)})
	t.reply(Reply{Text: strings.TrimRight(b.String(), "\n"), Buttons: rows, Edit: edit})
	return nil
}

// pointText describes one point: name and kind, address, hours, whether it
// is open now and what one can do there.
func (f *officesFeature) pointText(e *Engine, t *turn, p ServicePoint, now time.Time) string {
	lines := []string{
		f.pointTitle(e, t, p),
		e.t(t, "offices_point_address", map[string]any{"Address": esc(p.Address)}),
		e.t(t, "offices_point_hours", map[string]any{"Hours": f.schedule(e, t, p.Hours)}),
		f.openText(e, t, p, now),
	}
	var services []string
	for _, s := range p.Services {
		switch s {
		case "contracts", "payments", "equipment", "connection":
			services = append(services, e.t(t, "offices_service_"+s, nil))
		}
	}
	// At a payment point paying is the whole point; saying so adds nothing.
	if len(services) > 0 && p.Kind == KindOfficePoint {
		lines = append(lines, e.t(t, "offices_point_services", map[string]any{"List": strings.Join(services, ", ")}))
	}
	return strings.Join(lines, "\n")
}

// pointTitle is the point's name with its kind, unless the name already
// says the kind ("Банкомат Сбербанка" needs no "· банкомат").
func (f *officesFeature) pointTitle(e *Engine, t *turn, p ServicePoint) string {
	kind := p.Kind
	switch kind {
	case KindOfficePoint, KindPartner, KindTerminal, KindATM:
	default:
		kind = KindPartner
	}
	id := "offices_point_" + string(kind)
	if nameSaysKind(p.Name, kind) {
		id = "offices_point_named"
	}
	return e.t(t, id, map[string]any{"Name": esc(p.Name), "Icon": e.t(t, "offices_icon_"+string(kind), nil)})
}

// kindWords are the word stems by which a point's name tells its kind.
var kindWords = map[PointKind][]string{
	KindOfficePoint: {"офис", "office"},
	KindTerminal:    {"терминал", "terminal"},
	KindATM:         {"банкомат", "atm"},
	KindPartner:     {"партнер", "partner"},
}

// nameSaysKind reports whether a word of name starts with one of kind's stems.
func nameSaysKind(name string, kind PointKind) bool {
	words := strings.FieldsFunc(strings.ReplaceAll(strings.ToLower(name), "ё", "е"), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	for _, w := range words {
		for _, stem := range kindWords[kind] {
			if strings.HasPrefix(w, stem) {
				return true
			}
		}
	}
	return false
}

// schedule writes a week of hours: "Пн–Пт 09:00–21:00, Сб 10:00–13:00 и
// 14:00–16:00, Вс выходной", or "ежедневно 10:00–22:00", or "круглосуточно".
func (f *officesFeature) schedule(e *Engine, t *turn, week []DayHours) string {
	spans := func(ss []OpenSpan) string {
		if len(ss) == 0 {
			return e.t(t, "offices_day_off", nil)
		}
		if len(ss) == 1 && ss[0].Opens == 0 && ss[0].Closes == 24*time.Hour {
			return e.t(t, "offices_all_day", nil)
		}
		parts := make([]string, len(ss))
		for i, s := range ss {
			parts[i] = clockText(s.Opens) + "–" + clockText(s.Closes)
		}
		return strings.Join(parts, e.t(t, "offices_spans_sep", nil))
	}
	if len(week) == 1 && week[0].From == time.Monday && week[0].To == time.Sunday {
		if s := week[0].Spans; len(s) == 1 && s[0].Opens == 0 && s[0].Closes == 24*time.Hour {
			return e.t(t, "offices_all_day", nil)
		}
		return e.t(t, "offices_daily", nil) + " " + spans(week[0].Spans)
	}
	parts := make([]string, len(week))
	for i, d := range week {
		days := e.t(t, dayID(d.From), nil)
		if d.To != d.From {
			days += "–" + e.t(t, dayID(d.To), nil)
		}
		parts[i] = days + " " + spans(d.Spans)
	}
	return strings.Join(parts, ", ")
}

func dayID(d time.Weekday) string { return fmt.Sprintf("offices_day_%d", isoDay(d)) }

// isoDay numbers weekdays from Monday (1) to Sunday (7), as schedules are printed.
func isoDay(d time.Weekday) int { return (int(d)+6)%7 + 1 }

func clockText(d time.Duration) string {
	m := int(d / time.Minute)
	return fmt.Sprintf("%02d:%02d", m/60, m%60)
}

// openText says whether a point is open now and until when, or when it
// opens, on the city's clock (Next carries the city's zone).
func (f *officesFeature) openText(e *Engine, t *turn, p ServicePoint, now time.Time) string {
	if p.Open {
		if p.Next.IsZero() {
			return e.t(t, "offices_open_always", nil)
		}
		data := map[string]any{"Time": p.Next.Format("15:04")}
		if p.Next.Sub(now) > 24*time.Hour {
			data["Day"] = e.t(t, dayID(p.Next.Weekday()), nil)
			return e.t(t, "offices_open_until_day", data)
		}
		return e.t(t, "offices_open_until", data)
	}
	if p.Next.IsZero() {
		return e.t(t, "offices_closed", nil)
	}
	local := now.In(p.Next.Location())
	data := map[string]any{"Time": p.Next.Format("15:04")}
	switch days := billing.CalendarDays(local, p.Next); days {
	case 0:
		return e.t(t, "offices_closed_today", data)
	case 1:
		return e.t(t, "offices_closed_tomorrow", data)
	}
	data["Day"] = e.t(t, fmt.Sprintf("offices_on_day_%d", isoDay(p.Next.Weekday())), nil)
	return e.t(t, "offices_closed_until", data)
}

// askLocation offers the reply-keyboard button that shares the person's
// location; the answer comes to nearest.
func (f *officesFeature) askLocation(e *Engine, t *turn, _ string, _ int) error {
	t.st.Step = StepOfficesLocation
	t.reply(Reply{
		Text: e.t(t, "offices_location_prompt_"+string(f.cfg.Nearest), nil),
		Keyboard: &Keyboard{Rows: [][]KeyButton{
			{{Text: e.t(t, "btn_offices_send_location", nil), RequestLocation: true}},
			{{Text: e.t(t, "btn_cancel_key", nil)}},
		}},
	})
	return nil
}

// locationStep handles anything but a location while the location button is
// shown: "Cancel" leaves, anything else gets the question again.
func (f *officesFeature) locationStep(e *Engine, t *turn) error {
	if t.ev.Kind == KindText && strings.EqualFold(strings.TrimSpace(t.ev.Text), e.t(t, "btn_cancel_key", nil)) {
		t.st.Step = StepIdle
		t.reply(Reply{Text: e.t(t, "cancelled", nil), Keyboard: &Keyboard{Remove: true}})
		return e.menu(t, 0)
	}
	t.reply(Reply{Text: e.t(t, "offices_location_repeat", nil)})
	return nil
}

// nearest answers a shared location with the nearest points as venues (a
// pin with name and address), then one message with each one's distance
// and whether it is open now in its city's time.
func (f *officesFeature) nearest(e *Engine, t *turn) error {
	t.st.Step = StepIdle
	loc := t.ev.Location
	if loc == nil || math.IsNaN(loc.Lat) || math.IsNaN(loc.Lon) || math.Abs(loc.Lat) > 90 || math.Abs(loc.Lon) > 180 {
		t.reply(Reply{Text: e.t(t, "not_understood", nil), Keyboard: &Keyboard{Remove: true}})
		return e.menu(t, 0)
	}
	var kinds []PointKind
	switch f.cfg.Nearest {
	case NearestOffices:
		kinds = []PointKind{KindOfficePoint}
	case NearestPayments:
		kinds = paymentKinds
	}
	now := e.now()
	points, err := f.dir.Nearest(t.ctx, loc.Lat, loc.Lon, kinds, nearestCount, now)
	if err != nil {
		return err
	}
	if len(points) == 0 {
		t.reply(Reply{Text: e.t(t, "offices_nearest_none", nil), Keyboard: &Keyboard{Remove: true}})
		return f.cityList(e, t, 0)
	}
	for i, p := range points {
		r := Reply{Venue: &Venue{Lat: p.Lat, Lon: p.Lon, Title: p.Name, Address: p.Address}}
		if i == 0 {
			// The location button has done its job.
			r.Keyboard = &Keyboard{Remove: true}
		}
		t.reply(r)
	}
	var b strings.Builder
	b.WriteString(e.t(t, "offices_nearest_title_"+string(f.cfg.Nearest), nil))
	for i, p := range points {
		b.WriteString("\n\n")
		b.WriteString(e.t(t, "offices_nearest_item", map[string]any{
			"N":        i + 1,
			"Point":    f.pointTitle(e, t, p),
			"Distance": f.distance(e, t, p.Meters),
			"Address":  esc(p.Address),
			"Open":     f.openText(e, t, p, now),
		}))
	}
	if points[0].Meters > farAway {
		b.WriteString("\n\n" + e.t(t, "offices_nearest_far", nil))
	}
	b.WriteString("\n\n" + e.t(t, "offices_local_time", nil))
	t.reply(Reply{Text: b.String(), Buttons: [][]Button{
		{{Text: e.t(t, "btn_offices", nil), Data: fmt.Sprintf("oc:%d", points[0].CityID)}},
		{e.menuButton(t)},
	}})
	return nil
}

// distance writes metres the way people say them: "350 м", "1,2 км", "15 км".
func (f *officesFeature) distance(e *Engine, t *turn, meters float64) string {
	m := int(math.Round(meters/10) * 10)
	if m < 1000 {
		return e.t(t, "offices_distance_m", map[string]any{"N": max(m, 10)})
	}
	var n string
	if km := meters / 1000; km < 9.95 {
		n = strconv.FormatFloat(km, 'f', 1, 64)
		if t.lang != "en" {
			n = strings.Replace(n, ".", ",", 1)
		}
	} else {
		n = strconv.Itoa(int(math.Round(km)))
	}
	return e.t(t, "offices_distance_km", map[string]any{"N": n})
}

// linksCallback shows the messengers, social pages and the director's form
// as URL buttons; "ow:<city>" leads back to that city.
func (f *officesFeature) linksCallback(e *Engine, t *turn, arg string, edit int) error {
	f.leaveStep(t)
	back := "of"
	if id, err := strconv.ParseInt(arg, 10, 64); err == nil && id > 0 {
		back = fmt.Sprintf("oc:%d", id)
	}
	var rows [][]Button
	var row []Button
	var director *Button
	for _, l := range f.links {
		b := Button{Text: e.t(t, l.label, nil), URL: l.url}
		if l.label == "offices_link_director" {
			director = &b
			continue
		}
		row = append(row, b)
		if len(row) == 3 {
			rows = append(rows, row)
			row = nil
		}
	}
	if len(row) > 0 {
		rows = append(rows, row)
	}
	if director != nil {
		rows = append(rows, []Button{*director}) // reads best last, on its own row
	}
	rows = append(rows, []Button{{Text: e.t(t, "btn_back", nil), Data: back}, e.menuButton(t)})
	t.reply(Reply{Text: e.t(t, "offices_links", nil), Buttons: rows, Edit: edit})
	return nil
}

// shortcut takes a short free-text question that is clearly about contacts
// ("телефон", "адрес офиса", "где оплатить", "contacts") to the offices
// screen: of the city named in it if any ("адрес офиса в Томске"), else the
// person's own city or the list.
func (f *officesFeature) shortcut(e *Engine, t *turn) (bool, error) {
	words, ok := contactQuestion(t.ev.Text)
	if !ok {
		return false, nil
	}
	cities, err := f.dir.Cities(t.ctx)
	if err != nil {
		return true, err
	}
	if city, ok := cityInWords(words, cities); ok {
		return true, f.showPage(e, t, city, false, 0, 0)
	}
	return true, f.entry(e, t, 0)
}

// Words that make a short message a question about contacts: stems match
// the start of a word (so "офиса", "телефоны"), phrases match whole words
// in a row, and exact words match only themselves ("atm" must not catch
// "atmosphere").
var (
	contactStems = []string{
		"телефон", "офис", "адрес", "контакт", "терминал", "банкомат", "позвонит", "дозвонит",
		"contact", "office", "address", "terminal", "hotline",
		// Someone who asks for a person: the hotline is where one answers.
		"оператор", "поддержк", "техподдержк", "консультант", "человек", "operator",
	}
	contactPhrases = []string{
		"где оплат", "где заплат", "где можно оплат", "где пополн", "куда позвон", "как позвон",
		"горячая линия", "горячей линии", "часы работы", "режим работы",
		"where to pay", "where can i pay", "where do i pay", "opening hours", "call you",
		"talk to a person", "talk to a human", "real person", "speak to someone", "talk to someone",
	}
	contactWords = []string{"atm", "atms", "phone", "phones", "telephone", "support", "human"}
)

// maxShortcutLen keeps long messages (a complaint that mentions a phone)
// from being taken for a question about contacts.
const maxShortcutLen = 80

// contactQuestion reports whether a text is clearly about contacts, and
// returns its words, lower-cased with ё as е.
func contactQuestion(text string) ([]string, bool) {
	if utf8.RuneCountInString(text) > maxShortcutLen {
		return nil, false
	}
	words := strings.FieldsFunc(strings.ReplaceAll(strings.ToLower(text), "ё", "е"), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	joined := " " + strings.Join(words, " ")
	for _, p := range contactPhrases {
		if strings.Contains(joined, " "+p) {
			return words, true
		}
	}
	for _, w := range words {
		for _, s := range contactStems {
			if strings.HasPrefix(w, s) {
				return words, true
			}
		}
		for _, x := range contactWords {
			if w == x {
				return words, true
			}
		}
	}
	return nil, false
}

// cityInWords finds a city named in the words, in Russian (any case ending:
// "в Томске", "Москвы") or English.
func cityInWords(words []string, cities []OfficeCity) (OfficeCity, bool) {
	for _, c := range cities {
		for _, name := range []string{c.Name, c.NameEN} {
			stem := strings.ReplaceAll(strings.ToLower(name), "ё", "е")
			if r := []rune(stem); len(r) >= 5 && strings.ContainsRune("аяоеьй", r[len(r)-1]) {
				stem = string(r[:len(r)-1]) // Москва -> Москв, so that Москве and Москвы match
			}
			if stem == "" {
				continue
			}
			for _, w := range words {
				if strings.HasPrefix(w, stem) {
					return c, true
				}
			}
		}
	}
	return OfficeCity{}, false
}

// cityName is the city's name in the person's language.
func cityName(t *turn, c OfficeCity) string {
	if t.lang == "en" && c.NameEN != "" {
		return c.NameEN
	}
	return c.Name
}

// phoneDisplay tidies a hotline as the provider prints it into the shape
// Telegram's apps turn into a tappable number, "+7 (495) 369-00-31": the
// seed writes some without spaces ("+7(8662) 760-400", "+7 (4722)777-567").
// Anything else is shown as printed.
func phoneDisplay(s string) string {
	s = strings.TrimSpace(s)
	open, closing := strings.Index(s, "("), strings.Index(s, ")")
	if !strings.HasPrefix(s, "+7") || open < 0 || closing < open {
		return s
	}
	if strings.TrimSpace(s[2:open]) != "" {
		return s
	}
	area := strings.TrimSpace(s[open+1 : closing])
	rest := strings.TrimSpace(s[closing+1:])
	if area == "" || rest == "" {
		return s
	}
	return "+7 (" + area + ") " + rest
}
