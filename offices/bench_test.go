package offices

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
)

// cityCentres are approximate centres of the provider's cities, for
// generating points where they would really be.
var cityCentres = map[string][2]float64{
	"Белгород": {50.5954, 36.5873}, "Белорецк": {53.9672, 58.4106}, "Владивосток": {43.1155, 131.8855},
	"Елец": {52.6244, 38.5034}, "Ефремов": {53.1463, 38.0913}, "Кочубеевское": {44.6795, 41.8225},
	"Липецк": {52.6088, 39.5992}, "Москва": {55.7558, 37.6173}, "Нальчик": {43.4853, 43.6071},
	"Невинномысск": {44.6333, 41.9444}, "Нефтекамск": {56.0887, 54.2483}, "Ставрополь": {45.0428, 41.9734},
	"Тамбов": {52.7212, 41.4523}, "Томск": {56.4846, 84.9476}, "Уфа": {54.7388, 55.9721},
	"Элиста": {46.3078, 44.2558},
}

// generatedPoints writes a CSV file of n points: a third of them in Москва,
// the rest spread over the other cities, each within about 15 km of its
// centre; one in twenty is an office.
func generatedPoints(n int, rng *rand.Rand) string {
	var names []string
	for name := range cityCentres {
		if name != "Москва" {
			names = append(names, name)
		}
	}
	var b strings.Builder
	b.WriteString("key,city,kind,name,address,lat,lon,services,mon,tue,wed,thu,fri,sat,sun\n")
	kinds := []Kind{KindPartner, KindTerminal, KindTerminal, KindATM}
	for i := 0; i < n; i++ {
		city := "Москва"
		if i%3 != 0 {
			city = names[rng.IntN(len(names))]
		}
		kind := kinds[rng.IntN(len(kinds))]
		if i%20 == 0 {
			kind = KindOffice
		}
		lat, lon := jitter(cityCentres[city], 15000, rng)
		fmt.Fprintf(&b, "gen-%d,%s,%s,Точка %d,ул. Генерированная %d,%.6f,%.6f,payments,09:00-21:00,09:00-21:00,09:00-21:00,09:00-21:00,09:00-21:00,10:00-18:00,closed\n",
			i, city, kind, i, i, lat, lon)
	}
	return b.String()
}

// jitter returns a random place within about radius metres of centre.
func jitter(centre [2]float64, radius float64, rng *rand.Rand) (float64, float64) {
	dLat := (rng.Float64()*2 - 1) * radius / 111195
	dLon := (rng.Float64()*2 - 1) * radius / (111195 * math.Cos(centre[0]*math.Pi/180))
	return centre[0] + dLat, centre[1] + dLon
}

// BenchmarkNearest measures the nearest search over 10,000 points: from a
// random place in a random city (the usual case, one indexed query), offices
// only (sparser, so the circle widens once or twice), and from a random
// place anywhere in Russia (far from most points: the worst case).
func BenchmarkNearest(b *testing.B) {
	pool, _ := pgtest.New(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	started := time.Now()
	res, err := Import(ctx, pool, strings.NewReader(generatedPoints(10000, rng)))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("imported %d points in %s", res.Inserted, time.Since(started).Round(time.Millisecond))
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	store := New(pool)
	var cities [][2]float64
	for _, c := range cityCentres {
		cities = append(cities, c)
	}

	run := func(name string, kinds []Kind, where func() (float64, float64)) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				lat, lon := where()
				got, err := store.Nearest(ctx, lat, lon, kinds, 3)
				if err != nil || len(got) != 3 {
					b.Fatalf("Nearest = %d points, %v", len(got), err)
				}
			}
		})
	}
	inCity := func() (float64, float64) { return jitter(cities[rng.IntN(len(cities))], 15000, rng) }
	run("in-city", nil, inCity)
	run("offices-in-city", []Kind{KindOffice}, inCity)
	run("anywhere-in-Russia", nil, func() (float64, float64) {
		return 42 + rng.Float64()*28, 30 + rng.Float64()*140
	})
}
