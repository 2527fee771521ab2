package offices

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
)

func TestCities(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	store := New(pool)
	cities, err := store.Cities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cities {
		names = append(names, c.Name)
	}
	want := "Белгород Белорецк Владивосток Елец Ефремов Кочубеевское Липецк Москва Нальчик Невинномысск Нефтекамск Ставрополь Тамбов Томск Уфа Элиста"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("cities = %s\nwant      %s", got, want)
	}
	byName := map[string]City{}
	for _, c := range cities {
		byName[c.Name] = c
	}
	if got := byName["Нальчик"].Hotlines; len(got) != 2 {
		t.Errorf("Нальчик hotlines = %q, want two", got)
	}
	if got := byName["Белгород"].Hotlines; len(got) != 1 || !strings.Contains(got[0], "777-567") {
		t.Errorf("Белгород hotlines = %q", got)
	}
	if got := byName["Владивосток"].Location.String(); got != "Asia/Vladivostok" {
		t.Errorf("Владивосток zone = %s", got)
	}
	if got := byName["Томск"].Location.String(); got != "Asia/Tomsk" {
		t.Errorf("Томск zone = %s", got)
	}
	hours := byName["Элиста"].ContactHours
	if got := fmt.Sprint(hours); got != "[[09:00-21:00] [09:00-21:00] [09:00-21:00] [09:00-21:00] [09:00-21:00] [09:00-18:00] [09:00-18:00]]" {
		t.Errorf("contact centre hours = %s, want weekdays 09-21, weekends 09-18", got)
	}

	// The contact centre in Vladivostok answers by Vladivostok's clock:
	// Saturday 08:30 UTC is 18:30 there, after the weekend hours.
	vvo := byName["Владивосток"]
	if open, next := OpenNow(vvo.ContactHours, time.Date(2025, 3, 15, 8, 30, 0, 0, time.UTC), vvo.Location); open ||
		!next.Equal(time.Date(2025, 3, 16, 9, 0, 0, 0, vvo.Location)) {
		t.Errorf("Vladivostok hotline Saturday 18:30 local: open %v, next %s", open, next)
	}

	for _, name := range []string{"Москва", "москва", " Moscow "} {
		c, err := store.CityByName(ctx, name)
		if err != nil || c.Name != "Москва" || c.ContactHours.On(time.Monday) == nil {
			t.Errorf("CityByName(%q) = %+v, %v", name, c, err)
		}
	}
	if _, err := store.CityByName(ctx, "Атлантида"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CityByName(Атлантида) = %v, want ErrNotFound", err)
	}
	if c, err := store.City(ctx, byName["Уфа"].ID); err != nil || c.Name != "Уфа" {
		t.Errorf("City(Уфа) = %+v, %v", c, err)
	}
	if _, err := store.City(ctx, -1); !errors.Is(err, ErrNotFound) {
		t.Errorf("City(-1) = %v, want ErrNotFound", err)
	}
}

func TestCityPointsPaging(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	// 3 offices and 20 terminals in Белгород, written in a mixed order.
	var b strings.Builder
	b.WriteString(header)
	for i := 20; i >= 1; i-- {
		fmt.Fprintf(&b, "bel-t%02d,Белгород,terminal,Терминал %02d,ул. Попова %d,50.59%02d,36.58,payments,24h,24h,24h,24h,24h,24h,24h\n", i, i, i, i)
		if i <= 3 {
			fmt.Fprintf(&b, "bel-o%d,Белгород,office,Офис %d,ул. Щорса %d,50.6%d,36.59,contracts,09:00-18:00,09:00-18:00,09:00-18:00,09:00-18:00,09:00-18:00,closed,closed\n", i, i, i, i)
		}
	}
	b.WriteString(`tom-1,Томск,terminal,Терминал,"пр-т Ленина, 80",56.47702,84.95003,,24h,24h,24h,24h,24h,24h,24h` + "\n")
	mustImport(t, pool, b.String())

	store := New(pool)
	belgorod, err := store.CityByName(ctx, "Белгород")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for offset := 0; ; offset += 10 {
		page, total, err := store.CityPoints(ctx, belgorod.ID, nil, offset, 10)
		if err != nil {
			t.Fatal(err)
		}
		if total != 23 {
			t.Fatalf("total = %d, want 23", total)
		}
		if len(page) == 0 {
			break
		}
		if want := min(10, 23-offset); len(page) != want {
			t.Errorf("page at %d has %d points, want %d", offset, len(page), want)
		}
		for _, p := range page {
			keys = append(keys, p.Key)
		}
	}
	var want []string
	for i := 1; i <= 3; i++ {
		want = append(want, fmt.Sprintf("bel-o%d", i))
	}
	for i := 1; i <= 20; i++ {
		want = append(want, fmt.Sprintf("bel-t%02d", i))
	}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Errorf("pages hold %v\nwant offices first, then by name, each once: %v", keys, want)
	}

	page, total, err := store.CityPoints(ctx, belgorod.ID, []Kind{KindOffice}, 0, 10)
	if err != nil || total != 3 || len(page) != 3 || page[0].Hours.On(time.Saturday) != nil || page[0].Hours.On(time.Monday) == nil {
		t.Errorf("offices only: %d of %d, %v", len(page), total, err)
	}
	if page, total, err := store.CityPoints(ctx, belgorod.ID, []Kind{KindATM}, 0, 10); err != nil || total != 0 || len(page) != 0 {
		t.Errorf("ATMs: %v of %d, %v", page, total, err)
	}
	if _, _, err := store.CityPoints(ctx, belgorod.ID, nil, 0, 0); err == nil {
		t.Error("a zero page size is accepted")
	}
}

// haversine is the great-circle distance in metres, written independently of
// the SQL so that the test checks the query's arithmetic.
func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371008.8
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Pow(math.Sin(dLat/2), 2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Pow(math.Sin(dLon/2), 2)
	return 2 * r * math.Asin(math.Sqrt(a))
}

type storedPoint struct {
	key      string
	kind     Kind
	lat, lon float64
}

func allPoints(t testing.TB, pool *pgxpool.Pool) []storedPoint {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT key, kind, latitude, longitude FROM service_points`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedPoint
	for rows.Next() {
		var p storedPoint
		if err := rows.Scan(&p.key, &p.kind, &p.lat, &p.lon); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// expectNearest is the brute-force answer: every point's distance, sorted.
func expectNearest(points []storedPoint, lat, lon float64, kinds []Kind, n int) (keys []string, meters []float64) {
	type cand struct {
		key string
		m   float64
	}
	var all []cand
	for _, p := range points {
		if len(kinds) > 0 && !containsKind(kinds, p.kind) {
			continue
		}
		all = append(all, cand{p.key, haversine(lat, lon, p.lat, p.lon)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].m < all[j].m })
	for i := 0; i < n && i < len(all); i++ {
		keys = append(keys, all[i].key)
		meters = append(meters, all[i].m)
	}
	return keys, meters
}

func containsKind(kinds []Kind, k Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

func TestNearest(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	if err := LoadDemo(ctx, pool); err != nil {
		t.Fatal(err)
	}
	store := New(pool)
	points := allPoints(t, pool)

	tests := []struct {
		name     string
		lat, lon float64
		kinds    []Kind
		n        int
		wantKeys []string // a human check on top of the brute force
	}{
		{"Москва, Red Square", 55.75393, 37.62079, nil, 3, []string{"demo-msk-office-1", "demo-msk-atm-1", "demo-msk-partner-1"}},
		{"Москва, offices only", 55.75393, 37.62079, []Kind{KindOffice}, 3, []string{"demo-msk-office-1", "demo-msk-office-2", "demo-bel-office-1"}},
		{"Владивосток, central square", 43.11506, 131.88553, nil, 3, []string{"demo-vvo-office-1", "demo-vvo-atm-1", "demo-vvo-partner-1"}},
		// Two offices in Владивосток; the third nearest is in Томск, some
		// 3,600 km away, which the widening search must reach.
		{"Владивосток, offices only", 43.11506, 131.88553, []Kind{KindOffice}, 3, []string{"demo-vvo-office-1", "demo-vvo-office-2", "demo-tom-office-1"}},
		{"Томск, terminals and ATMs", 56.4846, 84.9476, []Kind{KindTerminal, KindATM}, 2, []string{"demo-tom-terminal-1", "demo-tom-atm-1"}},
		{"more than exist", 55.75393, 37.62079, []Kind{KindOffice}, 50, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.Nearest(ctx, tc.lat, tc.lon, tc.kinds, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			wantKeys, wantMeters := expectNearest(points, tc.lat, tc.lon, tc.kinds, tc.n)
			if tc.wantKeys != nil && fmt.Sprint(wantKeys) != fmt.Sprint(tc.wantKeys) {
				t.Fatalf("the test's own brute force says %v, the test expects %v", wantKeys, tc.wantKeys)
			}
			var gotKeys []string
			for _, p := range got {
				gotKeys = append(gotKeys, p.Key)
			}
			if fmt.Sprint(gotKeys) != fmt.Sprint(wantKeys) {
				t.Fatalf("Nearest = %v, want %v", gotKeys, wantKeys)
			}
			for i, p := range got {
				if math.Abs(p.Meters-wantMeters[i]) > 0.01 {
					t.Errorf("%s: %.2f m, want %.2f m", p.Key, p.Meters, wantMeters[i])
				}
				if !containsKind(tc.kinds, p.Kind) && len(tc.kinds) > 0 {
					t.Errorf("%s is a %s", p.Key, p.Kind)
				}
			}
		})
	}

	// The distances are metres: Red Square to the office on Tverskaya is
	// about 1.4 km on a map.
	got, err := store.Nearest(ctx, 55.75393, 37.62079, []Kind{KindOffice}, 1)
	if err != nil || len(got) != 1 || got[0].Meters < 1300 || got[0].Meters > 1500 {
		t.Errorf("Red Square to the nearest office: %+v, %v", got, err)
	}

	// Open or closed is judged on the city's clock. Wednesday 10:30 UTC is
	// 13:30 in Moscow and 20:30 in Vladivostok.
	now := time.Date(2025, 3, 12, 10, 30, 0, 0, time.UTC)
	msk, err := store.Nearest(ctx, 55.75393, 37.62079, []Kind{KindOffice}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if open, closes := msk[0].OpenNow(now); !open || closes.In(msk[0].Location).Hour() != 20 {
		t.Errorf("Moscow office at 13:30 local: open %v, closes %s", open, closes)
	}
	vvo, err := store.Nearest(ctx, 43.11506, 131.88553, []Kind{KindOffice}, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantNext := time.Date(2025, 3, 13, 9, 0, 0, 0, vvo[0].Location)
	if open, next := vvo[0].OpenNow(now); open || !next.Equal(wantNext) {
		t.Errorf("Vladivostok office at 20:30 local: open %v, next %s, want closed until %s", open, next, wantNext)
	}

	if got, err := store.Nearest(ctx, 55.7, 37.6, nil, 0); err != nil || len(got) != 0 {
		t.Errorf("n = 0: %v, %v", got, err)
	}
	if _, err := store.Nearest(ctx, 95, 37.6, nil, 3); err == nil {
		t.Error("latitude 95 is accepted")
	}
}

func TestNearestAcrossTheDateLine(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	// Made-up points in Chukotka, on both sides of the 180th meridian: the
	// nearest to a place at 179.9°E lies at 179.9°W, which a naive
	// longitude box would never look at.
	mustImport(t, pool, header+
		"east,Москва,terminal,East,A,65.0,-179.95,,24h,24h,24h,24h,24h,24h,24h\n"+
		"west,Москва,terminal,West,B,65.0,179.0,,24h,24h,24h,24h,24h,24h,24h\n")
	got, err := New(pool).Nearest(ctx, 65.0, 179.95, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Key != "east" || math.Abs(got[0].Meters-haversine(65, 179.95, 65, -179.95)) > 0.01 {
		t.Errorf("Nearest = %+v, want east (about 4.7 km), not west (45 km)", got)
	}
}

func TestSearchBoxesHoldTheCircle(t *testing.T) {
	// Every point on the circle's edge lies in one of the boxes.
	for _, c := range []struct{ lat, lon, r float64 }{
		{55.75, 37.62, 2000}, {43.1, 131.9, 500000}, {65, 179.9, 30000}, {-33.9, -179.99, 100000},
		{80, 10, 1500000}, {0, 0, 19000000}, {56.48, 84.95, 3000000},
	} {
		boxes := searchBoxes(c.lat, c.lon, c.r)
		for bearing := 0.0; bearing < 360; bearing += 5 {
			lat, lon := destination(c.lat, c.lon, bearing, c.r*0.999)
			if !inBox(boxes[0], lat, lon) && !inBox(boxes[1], lat, lon) {
				t.Errorf("(%v, %v) r=%v: (%.4f, %.4f) at bearing %v is outside %v", c.lat, c.lon, c.r, lat, lon, bearing, boxes)
			}
		}
	}
}

func inBox(b box, lat, lon float64) bool {
	return lat >= b.minLat && lat <= b.maxLat && lon >= b.minLon && lon <= b.maxLon
}

// destination is the point distance metres from (lat, lon) at a bearing.
func destination(lat, lon, bearing, distance float64) (float64, float64) {
	rad := math.Pi / 180
	d := distance / 6371008.8
	φ1, λ1, θ := lat*rad, lon*rad, bearing*rad
	φ2 := math.Asin(math.Sin(φ1)*math.Cos(d) + math.Cos(φ1)*math.Sin(d)*math.Cos(θ))
	λ2 := λ1 + math.Atan2(math.Sin(θ)*math.Sin(d)*math.Cos(φ1), math.Cos(d)-math.Sin(φ1)*math.Sin(φ2))
	lon2 := math.Mod(λ2/rad+540, 360) - 180
	return φ2 / rad, lon2
}

func TestLoadDemoTwice(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	if err := LoadDemo(ctx, pool); err != nil {
		t.Fatal(err)
	}
	first := snapshot(t, pool)
	if err := LoadDemo(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if again := snapshot(t, pool); again != first {
		t.Errorf("a second LoadDemo changed the data")
	}
	store := New(pool)
	for _, name := range []string{"Москва", "Белгород", "Владивосток", "Томск"} {
		city, err := store.CityByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		offices, _, err := store.CityPoints(ctx, city.ID, []Kind{KindOffice}, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		payments, _, err := store.CityPoints(ctx, city.ID, []Kind{KindPartner, KindTerminal, KindATM}, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(offices) == 0 || len(payments) < 2 {
			t.Errorf("%s: %d offices, %d payment points", name, len(offices), len(payments))
		}
		for _, p := range append(offices, payments...) {
			// Every demo point lies within 30 km of its city: no swapped
			// latitude and longitude, no point in the wrong city.
			if d := haversine(p.Latitude, p.Longitude, offices[0].Latitude, offices[0].Longitude); d > 30000 {
				t.Errorf("%s is %.0f km from %s's office", p.Key, d/1000, name)
			}
		}
	}
	// Cities without a schedule of their own get the published one.
	if _, err := pool.Exec(ctx, `DELETE FROM city_contact_hours WHERE city_id = (SELECT id FROM cities WHERE name = 'Уфа')`); err != nil {
		t.Fatal(err)
	}
	if err := LoadDemo(ctx, pool); err != nil {
		t.Fatal(err)
	}
	ufa, err := store.CityByName(ctx, "Уфа")
	if err != nil || fmt.Sprint(ufa.ContactHours.On(time.Sunday)) != "[09:00-18:00]" {
		t.Errorf("Уфа contact hours after LoadDemo = %v, %v", ufa.ContactHours, err)
	}
}
