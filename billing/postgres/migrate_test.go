package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/kabinet-bot/kabinet/billing/postgres"
	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
)

// TestMigrateAgain: every `serve` start runs Migrate on a migrated database;
// it must change nothing (no second copy of the seeded cities, no error).
func TestMigrateAgain(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	count := func(sql string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	migrations := count(`SELECT count(*) FROM schema_migrations`)
	if migrations == 0 {
		t.Fatal("the test database has no applied migrations")
	}
	for range 2 {
		if err := postgres.Migrate(ctx, pool); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
	}
	if n := count(`SELECT count(*) FROM schema_migrations`); n != migrations {
		t.Errorf("%d migrations applied after running again, want %d", n, migrations)
	}
	if n := count(`SELECT count(*) FROM cities`); n != 16 {
		t.Errorf("%d cities after migrating again, want 16", n)
	}
}

// TestCities checks the seeded cities against the provider's list: the
// hotline a subscriber is told to call, and the time zone their dates are
// shown in.
func TestCities(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	want := []struct {
		name, nameEn, zone string
		hotline            []string
	}{
		{"Белгород", "Belgorod", "Europe/Moscow", []string{"+7 (4722)777-567"}},
		{"Белорецк", "Beloretsk", "Asia/Yekaterinburg", []string{"+7 (800)700-60-59"}},
		{"Владивосток", "Vladivostok", "Asia/Vladivostok", []string{"+7 (423) 2-514-513"}},
		{"Елец", "Yelets", "Europe/Moscow", []string{"+7 (47467)5-98-99"}},
		{"Ефремов", "Yefremov", "Europe/Moscow", []string{"+7 (930) 791-02-50"}},
		{"Кочубеевское", "Kochubeyevskoye", "Europe/Moscow", []string{"+7 (86554) 2-88-88"}},
		{"Липецк", "Lipetsk", "Europe/Moscow", []string{"+7 (4742) 243-243"}},
		{"Москва", "Moscow", "Europe/Moscow", []string{"+7 (495)369-00-31"}},
		{"Нальчик", "Nalchik", "Europe/Moscow", []string{"+7(8662) 760-400", "+7(8662) 777-400"}},
		{"Невинномысск", "Nevinnomyssk", "Europe/Moscow", []string{"+7 (86554) 2-88-88"}},
		{"Нефтекамск", "Neftekamsk", "Asia/Yekaterinburg", []string{"+7 (800) 700-60-59"}},
		{"Ставрополь", "Stavropol", "Europe/Moscow", []string{"+7 (8652) 333-333"}},
		{"Тамбов", "Tambov", "Europe/Moscow", []string{"+7 (4752) 49-49-49"}},
		{"Томск", "Tomsk", "Asia/Tomsk", []string{"+7 (3822) 31-11-11"}},
		{"Уфа", "Ufa", "Asia/Yekaterinburg", []string{"+7 (347) 226-55-55"}},
		{"Элиста", "Elista", "Europe/Moscow", []string{"+7 (84722) 9-88-88"}},
	}

	rows, err := pool.Query(ctx, `
SELECT c.name, c.name_en, c.time_zone, c.hotline,
       EXISTS (SELECT 1 FROM pg_timezone_names z WHERE z.name = c.time_zone)
FROM cities c
ORDER BY c.sort_order`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var name, nameEn, zone string
		var hotline []string
		var zoneKnown bool
		if err := rows.Scan(&name, &nameEn, &zone, &hotline, &zoneKnown); err != nil {
			t.Fatal(err)
		}
		if i >= len(want) {
			t.Errorf("unexpected city %s", name)
			continue
		}
		w := want[i]
		i++
		if name != w.name || nameEn != w.nameEn || zone != w.zone || !slices.Equal(hotline, w.hotline) {
			t.Errorf("city %d: %s %s %s %q, want %s %s %s %q", i, name, nameEn, zone, hotline, w.name, w.nameEn, w.zone, w.hotline)
		}
		if !zoneKnown {
			t.Errorf("%s: PostgreSQL does not know the time zone %s", name, zone)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(want) {
		t.Errorf("%d cities, want %d", i, len(want))
	}
}
