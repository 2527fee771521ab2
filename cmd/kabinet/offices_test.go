package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kabinet-bot/kabinet/billing/postgres/pgtest"
)

const officesCSV = "\uFEFFkey,city,kind,name,address,lat,lon,services,mon,tue,wed,thu,fri,sat,sun\r\n" +
	"t-office,Томск,office,Офис на Ленина,\"пр-т Ленина, 80\",56.47702,84.95003,contracts payments,09:00-19:00,09:00-19:00,09:00-19:00,09:00-19:00,09:00-19:00,10:00-15:00,closed\r\n" +
	"t-atm,Tomsk,atm,Банкомат,\"ул. Учебная, 42\",56.45805,84.97306,payments,24h,24h,24h,24h,24h,24h,24h\r\n"

// runOffices runs `kabinet offices ARGS...` against a database URL.
func runOffices(t *testing.T, dbURL string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	getenv := func(name string) string {
		if name == "DATABASE_URL" {
			return dbURL
		}
		return ""
	}
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"offices"}, args...), getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

func writeOfficesCSV(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "points.csv")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOfficesImportCommand(t *testing.T) {
	pool, dbURL := pgtest.New(t)
	ctx := context.Background()
	count := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM service_points`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	good := writeOfficesCSV(t, officesCSV)

	out, _, err := runOffices(t, dbURL, "import", good)
	if err != nil || !strings.Contains(out, "2 inserted, 0 updated, 0 unchanged, 0 deleted") {
		t.Fatalf("first import: %v, output %q", err, out)
	}
	out, _, err = runOffices(t, dbURL, "import", good)
	if err != nil || !strings.Contains(out, "0 inserted, 0 updated, 2 unchanged, 0 deleted") {
		t.Fatalf("the same file again: %v, output %q", err, out)
	}

	// Two bad lines: both are listed with their numbers, nothing is applied
	// (the good new line 2 included), and the command fails.
	bad := writeOfficesCSV(t, officesCSV+
		"t-new,Томск,terminal,Новый терминал,ул. Новая,56.5,84.9,payments,24h,24h,24h,24h,24h,24h,24h\r\n"+
		"t-bad,Томскк,terminal,Терминал,ул. Некая,56.5,84.9,payments,24h,24h,24h,24h,24h,24h,24h\r\n"+
		"t-bad2,Томск,terminal,Терминал,ул. Некая,56.5,84.9,payments,24h,24h,24h,24h,25:00-26:00,24h,24h\r\n")
	_, errOut, err := runOffices(t, dbURL, "import", bad)
	if err == nil {
		t.Fatal("a file with bad lines was accepted")
	}
	for _, want := range []string{"nothing applied", "line 5, column city", "Томскк", "line 6, column fri"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := count(); n != 2 {
		t.Errorf("%d points after a rejected file, want the 2 from before", n)
	}

	// Wrong use and a missing file are errors too, with the usage shown.
	if _, errOut, err := runOffices(t, dbURL, "export"); err == nil || !strings.Contains(errOut, "offices import FILE.csv") {
		t.Errorf("offices export: %v, stderr %q", err, errOut)
	}
	if _, _, err := runOffices(t, dbURL, "import", filepath.Join(t.TempDir(), "missing.csv")); err == nil {
		t.Error("a missing file was accepted")
	}
}
