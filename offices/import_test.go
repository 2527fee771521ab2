package offices

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
)

const header = "key,city,kind,name,address,lat,lon,services,mon,tue,wed,thu,fri,sat,sun\n"

// goodFile has three points in Москва and one in Томск; line numbers in the
// tests below count the header as line 1.
const goodFile = header +
	`msk-1,Москва,office,Офис на Тверской,"ул. Тверская, 12",55.76352,37.60661,contracts payments,09:00-20:00,09:00-20:00,09:00-20:00,09:00-20:00,09:00-20:00,"10:00-13:00,14:00-17:00",closed` + "\n" +
	`msk-2,Москва,partner,«Связной»,"ул. Новый Арбат, 15",55.75271,37.58899,payments,10:00-22:00,10:00-22:00,10:00-22:00,10:00-22:00,10:00-22:00,10:00-22:00,10:00-22:00` + "\n" +
	`msk-3,Moscow,терминал,Терминал QIWI,"Курский вокзал",55.75802,37.66101,payments,24h,24h,24h,24h,24h,24h,24h` + "\n" +
	`tom-1,Томск,atm,Банкомат,"пр-т Ленина, 80",56.47702,84.95003,,24h,24h,24h,24h,22:00-02:00,closed,closed` + "\n"

// snapshot is every stored point with its hours, as one comparable text.
func snapshot(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT p.key, p.city_id, p.kind, p.name, p.address, p.latitude, p.longitude, p.services,
		       coalesce(string_agg(h.weekday || ' ' || h.opens || '-' || h.closes, ', ' ORDER BY h.weekday, h.opens), '')
		FROM service_points p LEFT JOIN service_point_hours h ON h.point_id = p.id
		GROUP BY p.id ORDER BY p.key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, vals...)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func importString(t *testing.T, pool *pgxpool.Pool, file string) (Result, error) {
	t.Helper()
	return Import(context.Background(), pool, strings.NewReader(file))
}

func mustImport(t *testing.T, pool *pgxpool.Pool, file string) Result {
	t.Helper()
	res, err := importString(t, pool, file)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return res
}

func TestImportGoodFile(t *testing.T) {
	pool, _ := pgtest.New(t)
	ctx := context.Background()
	if res := mustImport(t, pool, goodFile); res != (Result{Inserted: 4}) {
		t.Fatalf("first import = %+v, want 4 inserted", res)
	}

	store := New(pool)
	moscow, err := store.CityByName(ctx, "Москва")
	if err != nil {
		t.Fatal(err)
	}
	points, total, err := store.CityPoints(ctx, moscow.ID, nil, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if total != 3 || len(points) != 3 {
		t.Fatalf("Москва has %d points (total %d), want 3", len(points), total)
	}
	office := points[0]
	if office.Key != "msk-1" || office.Kind != KindOffice || office.Name != "Офис на Тверской" ||
		office.Address != "ул. Тверская, 12" || office.Latitude != 55.76352 || office.Longitude != 37.60661 ||
		office.City != "Москва" || office.Location.String() != "Europe/Moscow" {
		t.Errorf("office = %+v", office)
	}
	if fmt.Sprint(office.Services) != "[contracts payments]" {
		t.Errorf("services = %v", office.Services)
	}
	if got := fmt.Sprint(office.Hours); got != "[[09:00-20:00] [09:00-20:00] [09:00-20:00] [09:00-20:00] [09:00-20:00] [10:00-13:00 14:00-17:00] []]" {
		t.Errorf("hours = %s", got)
	}
	// The English city name and the Russian kind word are accepted.
	if points[2].Key != "msk-3" || points[2].Kind != KindTerminal || !points[2].Hours[0][0].AllDay() {
		t.Errorf("terminal = %+v", points[2])
	}

	tomsk, err := store.CityByName(ctx, "tomsk")
	if err != nil {
		t.Fatal(err)
	}
	atms, _, err := store.CityPoints(ctx, tomsk.ID, []Kind{KindATM}, 0, 10)
	if err != nil || len(atms) != 1 {
		t.Fatalf("Томск ATMs = %v, %v", atms, err)
	}
	if got := fmt.Sprint(atms[0].Hours); got != "[[00:00-24:00] [00:00-24:00] [00:00-24:00] [00:00-24:00] [22:00-02:00] [] []]" || len(atms[0].Services) != 0 {
		t.Errorf("ATM hours = %s, services = %v", got, atms[0].Services)
	}
}

func TestImportTwiceChangesNothing(t *testing.T) {
	pool, _ := pgtest.New(t)
	mustImport(t, pool, goodFile)
	before := snapshot(t, pool)
	if res := mustImport(t, pool, goodFile); res != (Result{Unchanged: 4}) {
		t.Errorf("second import = %+v, want 4 unchanged", res)
	}
	if after := snapshot(t, pool); after != before {
		t.Errorf("second import changed the data:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// A change of one field, or of one day's hours, updates just that point.
	changed := strings.Replace(goodFile, "Офис на Тверской", "Офис на Тверской улице", 1)
	changed = strings.Replace(changed, "22:00-02:00", "22:00-03:00", 1)
	if res := mustImport(t, pool, changed); res != (Result{Updated: 2, Unchanged: 2}) {
		t.Errorf("import with two changed rows = %+v, want 2 updated, 2 unchanged", res)
	}
	if after := snapshot(t, pool); !strings.Contains(after, "Офис на Тверской улице") || !strings.Contains(after, "5 22:00:00-03:00:00") {
		t.Errorf("the changes were not stored:\n%s", after)
	}
}

func TestImportRemovesPointsTheFileNoLongerLists(t *testing.T) {
	pool, _ := pgtest.New(t)
	mustImport(t, pool, goodFile)
	// A file for Москва only, without msk-2: Томск is not touched.
	lines := strings.Split(goodFile, "\n")
	moscowOnly := header + lines[1] + "\n" + lines[3] + "\n"
	if res := mustImport(t, pool, moscowOnly); res != (Result{Unchanged: 2, Deleted: 1}) {
		t.Fatalf("import = %+v, want 2 unchanged, 1 deleted", res)
	}
	snap := snapshot(t, pool)
	if strings.Contains(snap, "msk-2") || !strings.Contains(snap, "msk-1") || !strings.Contains(snap, "tom-1") {
		t.Errorf("after import:\n%s", snap)
	}
}

func TestImportWindowsLineEndingsAndBOM(t *testing.T) {
	pool, _ := pgtest.New(t)
	windows := "\uFEFF" + strings.ReplaceAll(goodFile, "\n", "\r\n")
	if res := mustImport(t, pool, windows); res != (Result{Inserted: 4}) {
		t.Fatalf("import = %+v, want 4 inserted", res)
	}
	// The same file with Unix line endings finds every value identical: no
	// stray \r in the last column, no BOM in the first key.
	if res := mustImport(t, pool, goodFile); res != (Result{Unchanged: 4}) {
		t.Errorf("re-import with LF endings = %+v, want 4 unchanged", res)
	}
}

func TestImportSemicolonsAndDecimalCommas(t *testing.T) {
	pool, _ := pgtest.New(t)
	mustImport(t, pool, goodFile)
	// What Excel saves in a Russian locale.
	excel := "key;city;kind;name;address;lat;lon;services;mon;tue;wed;thu;fri;sat;sun\r\n" +
		"msk-1;Москва;office;Офис на Тверской;ул. Тверская, 12;55,76352;37,60661;contracts,payments;09:00-20:00;09:00-20:00;09:00-20:00;09:00-20:00;09:00-20:00;10:00-13:00,14:00-17:00;closed\r\n"
	res, err := importString(t, pool, excel)
	if err != nil {
		t.Fatal(err)
	}
	// Same values as goodFile's msk-1; the file names only Москва, so its
	// other two points go.
	if res != (Result{Unchanged: 1, Deleted: 2}) {
		t.Errorf("import = %+v, want 1 unchanged, 2 deleted", res)
	}
}

func TestImportBrokenFileAppliesNothing(t *testing.T) {
	// Each file is goodFile with a renamed point on line 2 (an update), no
	// msk-2 (a deletion), a new point on line 4 (an insert), and a bad
	// line 5 in place of tom-1: none of that may reach the database.
	base := strings.Split(strings.TrimSuffix(goodFile, "\n"), "\n")
	newPoint := `msk-9,Москва,atm,Банкомат,"ул. Мясницкая, 24",55.76338,37.63702,payments,24h,24h,24h,24h,24h,24h,24h`
	tests := []struct {
		name       string
		bad        string // line 5, in place of tom-1
		wantColumn string
		wantReason string
	}{
		{"unknown city", `tom-1,Томскк,atm,Банкомат,"пр-т Ленина, 80",56.47702,84.95003,,24h,24h,24h,24h,24h,closed,closed`, "city", "unknown city"},
		{"latitude out of range", `tom-1,Томск,atm,Банкомат,"пр-т Ленина, 80",96.47702,84.95003,,24h,24h,24h,24h,24h,closed,closed`, "lat", "outside"},
		{"longitude not a number", `tom-1,Томск,atm,Банкомат,"пр-т Ленина, 80",56.47702,84.95.003,,24h,24h,24h,24h,24h,closed,closed`, "lon", "not a number"},
		{"NaN coordinate", `tom-1,Томск,atm,Банкомат,"пр-т Ленина, 80",NaN,84.95003,,24h,24h,24h,24h,24h,closed,closed`, "lat", "not a number"},
		{"bad hours", `tom-1,Томск,atm,Банкомат,"пр-т Ленина, 80",56.47702,84.95003,,24h,24h,24h,24h,09:00-25:00,closed,closed`, "fri", "not a time"},
		{"empty day", `tom-1,Томск,atm,Банкомат,"пр-т Ленина, 80",56.47702,84.95003,,24h,24h,24h,24h,24h,,closed`, "sat", "empty"},
		{"missing address", `tom-1,Томск,atm,Банкомат,,56.47702,84.95003,,24h,24h,24h,24h,24h,closed,closed`, "address", "missing"},
		{"missing key", `,Томск,atm,Банкомат,"пр-т Ленина, 80",56.47702,84.95003,,24h,24h,24h,24h,24h,closed,closed`, "key", "missing"},
		{"unknown kind", `tom-1,Томск,kiosk,Банкомат,"пр-т Ленина, 80",56.47702,84.95003,,24h,24h,24h,24h,24h,closed,closed`, "kind", "kiosk"},
		{"unknown service", `tom-1,Томск,atm,Банкомат,"пр-т Ленина, 80",56.47702,84.95003,cash,24h,24h,24h,24h,24h,closed,closed`, "services", "unknown service"},
		{"too few columns", `tom-1,Томск,atm,Банкомат,"пр-т Ленина, 80",56.47702,84.95003,,24h,24h,24h,24h,24h,closed`, "", "14 columns, want 15"},
		{"too many columns", `tom-1,Томск,atm,Банкомат,пр-т Ленина, 80,56.47702,84.95003,,24h,24h,24h,24h,24h,closed,closed`, "", "16 columns, want 15"},
		{"duplicate key", `msk-1,Томск,atm,Банкомат,"пр-т Ленина, 80",56.47702,84.95003,,24h,24h,24h,24h,24h,closed,closed`, "key", "already on line 2"},
		{"broken quote", `tom-1,Томск,atm,"Банкомат "Сбер"","пр-т Ленина, 80",56.47702,84.95003,,24h,24h,24h,24h,24h,closed,closed`, "", "quote"},
	}
	pool, _ := pgtest.New(t)
	mustImport(t, pool, goodFile)
	before := snapshot(t, pool)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines := []string{
				base[0],
				strings.Replace(base[1], "Офис на Тверской", "Офис переименован", 1),
				base[3], // msk-2 left out
				newPoint,
				tc.bad,
			}
			_, err := importString(t, pool, strings.Join(lines, "\n")+"\n")
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("Import = %v, want a *FileError", err)
			}
			if len(fe.Lines) != 1 {
				t.Fatalf("errors = %v, want exactly one (line 5)", fe.Lines)
			}
			got := fe.Lines[0]
			if got.Line != 5 || got.Column != tc.wantColumn || !strings.Contains(got.Reason, tc.wantReason) {
				t.Errorf("error = %q (line %d, column %q), want line 5, column %q, %q", got.Error(), got.Line, got.Column, tc.wantColumn, tc.wantReason)
			}
			if !strings.Contains(err.Error(), "line 5") {
				t.Errorf("message %q does not name line 5", err)
			}
			if after := snapshot(t, pool); after != before {
				t.Errorf("a broken file changed the data:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func TestImportListsEveryBadLine(t *testing.T) {
	pool, _ := pgtest.New(t)
	file := header +
		`a,Москва,office,A,addr,55.7,37.6,,24h,24h,24h,24h,24h,24h,24h` + "\n" +
		`b,Атлантида,office,B,addr,55.7,37.6,,24h,24h,24h,24h,24h,24h,24h` + "\n" +
		`c,Москва,office,C,addr,0,0,,24h,24h,24h,24h,24h,24h,nope` + "\n"
	_, err := importString(t, pool, file)
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("Import = %v, want a *FileError", err)
	}
	var got []string
	for _, l := range fe.Lines {
		got = append(got, fmt.Sprintf("%d:%s", l.Line, l.Column))
	}
	sort.Strings(got)
	if want := "[3:city 4:lat 4:sun]"; fmt.Sprint(got) != want {
		t.Errorf("bad lines = %v, want %s (%v)", got, want, err)
	}
	if snap := snapshot(t, pool); snap != "" {
		t.Errorf("something was stored:\n%s", snap)
	}
}

func TestImportBadHeader(t *testing.T) {
	pool, _ := pgtest.New(t)
	for name, file := range map[string]string{
		"empty":          "",
		"no header":      strings.SplitN(goodFile, "\n", 2)[1],
		"renamed column": strings.Replace(goodFile, "lat,lon", "latitude,lon", 1),
	} {
		_, err := importString(t, pool, file)
		var fe *FileError
		if !errors.As(err, &fe) || fe.Lines[0].Line != 1 {
			t.Errorf("%s: Import = %v, want an error on line 1", name, err)
		}
	}
	// Windows-1251, as a Russian Excel saves plain "CSV": «Томск» is not
	// valid UTF-8 on line 3.
	cp1251 := header + "a,Moscow,atm,A,addr,55.7,37.6,,24h,24h,24h,24h,24h,24h,24h\n" +
		"b,\xd2\xee\xec\xf1\xea,atm,B,addr,56.4,84.9,,24h,24h,24h,24h,24h,24h,24h\n"
	_, err := importString(t, pool, cp1251)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Lines[0].Line != 3 || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("Windows-1251 file: %v, want a UTF-8 error on line 3", err)
	}

	// An empty file after the header names no city and changes nothing.
	if res, err := importString(t, pool, header); err != nil || res != (Result{}) {
		t.Errorf("header only: %+v, %v", res, err)
	}
}

// The example in CSV.md is a file that imports, so the documentation cannot
// drift from the code.
func TestCSVDocExampleImports(t *testing.T) {
	doc, err := os.ReadFile("CSV.md")
	if err != nil {
		t.Fatal(err)
	}
	_, example, ok := strings.Cut(string(doc), "```csv\n")
	example, _, ok2 := strings.Cut(example, "```")
	if !ok || !ok2 {
		t.Fatal("CSV.md has no ```csv block")
	}
	pool, _ := pgtest.New(t)
	if res := mustImport(t, pool, example); res != (Result{Inserted: 4}) {
		t.Errorf("CSV.md example: %+v, want 4 inserted", res)
	}
	// A doubled quote inside a quoted field, as CSV.md describes it.
	quoted := header + `q-1,Москва,partner,"Магазин ""Ромашка""","ул. Арбат, 1",55.75,37.59,payments,24h,24h,24h,24h,24h,24h,24h` + "\n"
	mustImport(t, pool, quoted)
	if snap := snapshot(t, pool); !strings.Contains(snap, `Магазин "Ромашка"`) {
		t.Errorf("quoted name not stored as written:\n%s", snap)
	}
}
