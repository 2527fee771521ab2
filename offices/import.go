package offices

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Columns is the header line a CSV file must start with, in this order; CSV.md
// explains each column.
var Columns = []string{"key", "city", "kind", "name", "address", "lat", "lon", "services",
	"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

const (
	// maxFileSize keeps a wrong file (a database dump) from filling memory;
	// 10,000 points take about 2 MB.
	maxFileSize = 32 << 20
	// maxLineErrors is how many bad lines an error lists: enough to fix a
	// file in one go, not a screenful per line of a file in the wrong format.
	maxLineErrors = 20
	// maxTextLen bounds names, addresses and keys: they end up in chat
	// messages and buttons.
	maxTextLen = 255
	// importLock is the advisory lock that serialises imports, so that two
	// imports never interleave their comparisons with the database.
	importLock = 0x6f666669 // "offi"
)

// Result counts what an import did, so that the operator sees at once whether
// the file changed anything.
type Result struct {
	Inserted  int // points new to the database
	Updated   int // existing points (same key) with some field or hour changed
	Unchanged int // points exactly as the file has them already
	Deleted   int // points of the file's cities that the file no longer lists
}

// LineError is one bad line of a CSV file.
type LineError struct {
	Line   int    // 1-based line of the file where the record starts
	Column string // the column at fault, "" when it is about the whole line
	Reason string
}

func (e LineError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, e.Reason)
}

// FileError is returned by Import when any line of the file is bad; nothing of
// the file has been applied then. It lists the bad lines so that the operator
// fixes the file in one go.
type FileError struct {
	Lines []LineError // in file order, at most maxLineErrors
	More  bool        // there were more bad lines than listed
}

func (e *FileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "offices: import: nothing applied, the file has errors:")
	for _, l := range e.Lines {
		b.WriteString("\n  ")
		b.WriteString(l.Error())
	}
	if e.More {
		b.WriteString("\n  ... and more")
	}
	return b.String()
}

func (e *FileError) add(l LineError) {
	if len(e.Lines) == maxLineErrors {
		e.More = true
		return
	}
	e.Lines = append(e.Lines, l)
}

// Import loads the offices and payment points of a CSV file (format in CSV.md)
// in one transaction: every row is upserted by its key, and the points of each
// city named in the file that the file no longer lists are removed, because
// the file is the city's complete list. Cities the file does not name are not
// touched. A bad line makes it return a *FileError and apply nothing; the
// same file applied twice changes nothing the second time.
func Import(ctx context.Context, pool *pgxpool.Pool, r io.Reader) (Result, error) {
	cities, err := loadCityNames(ctx, pool)
	if err != nil {
		return Result{}, fmt.Errorf("offices: import: %w", err)
	}
	points, err := parseFile(r, cities)
	if err != nil {
		return Result{}, err
	}
	var cityIDs []int64
	seen := map[int64]bool{}
	for _, p := range points {
		if !seen[p.CityID] {
			seen[p.CityID] = true
			cityIDs = append(cityIDs, p.CityID)
		}
	}
	var res Result
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		res, err = apply(ctx, tx, points, cityIDs)
		return err
	}); err != nil {
		return Result{}, fmt.Errorf("offices: import: %w", err)
	}
	return res, nil
}

// cityNames maps a lower-cased Russian or English city name to its id.
type cityNames map[string]int64

func loadCityNames(ctx context.Context, q querier) (cityNames, error) {
	rows, err := q.Query(ctx, `SELECT id, name, name_en FROM cities`)
	if err != nil {
		return nil, fmt.Errorf("cities: %w", err)
	}
	defer rows.Close()
	names := cityNames{}
	for rows.Next() {
		var id int64
		var name, nameEN string
		if err := rows.Scan(&id, &name, &nameEN); err != nil {
			return nil, fmt.Errorf("cities: %w", err)
		}
		names[strings.ToLower(name)] = id
		names[strings.ToLower(nameEN)] = id
	}
	return names, rows.Err()
}

// parseFile reads and checks a whole CSV file. It returns a *FileError listing
// the bad lines, if any.
func parseFile(r io.Reader, cities cityNames) ([]Point, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("offices: import: read: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("offices: import: the file is larger than %d MB", maxFileSize>>20)
	}
	// Excel saves "CSV UTF-8" with a byte-order mark, and in a Russian locale
	// separates fields with semicolons; both are taken as they come.
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if !utf8.Valid(data) {
		// Most likely Windows-1251 from "CSV (разделители - запятые)":
		// guessing the encoding could store mangled names, so say it.
		line := 1 + bytes.Count(data[:firstInvalidUTF8(data)], []byte("\n"))
		return nil, &FileError{Lines: []LineError{{Line: line, Reason: "not UTF-8 text: save the file as \"CSV UTF-8\""}}}
	}
	cr := csv.NewReader(bytes.NewReader(data))
	firstLine, _, _ := bytes.Cut(data, []byte("\n"))
	if bytes.Count(firstLine, []byte(";")) > bytes.Count(firstLine, []byte(",")) {
		cr.Comma = ';'
	}
	cr.FieldsPerRecord = -1 // a wrong count is reported per line below, with the others
	cr.TrimLeadingSpace = true

	fileErr := &FileError{}
	header, err := cr.Read()
	if err == io.EOF {
		return nil, &FileError{Lines: []LineError{{Line: 1, Reason: "the file is empty; the first line must be the header " + strings.Join(Columns, ",")}}}
	}
	if err != nil {
		return nil, &FileError{Lines: []LineError{csvError(err)}}
	}
	if !sameHeader(header) {
		return nil, &FileError{Lines: []LineError{{Line: 1, Reason: "the header must be " + strings.Join(Columns, ",")}}}
	}

	var points []Point
	keyLine := map[string]int{}
	for {
		record, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// After a broken quote the rest of the file cannot be split
			// into records reliably, so reading stops here.
			fileErr.add(csvError(err))
			break
		}
		line, _ := cr.FieldPos(0)
		p, errs := parseRecord(record, line, cities)
		if first, dup := keyLine[p.Key]; dup && p.Key != "" {
			errs = append(errs, LineError{Line: line, Column: "key", Reason: fmt.Sprintf("%q is already on line %d", p.Key, first)})
		} else if p.Key != "" {
			keyLine[p.Key] = line
		}
		for _, e := range errs {
			fileErr.add(e)
		}
		points = append(points, p)
	}
	if len(fileErr.Lines) > 0 {
		return nil, fileErr
	}
	return points, nil
}

// firstInvalidUTF8 returns the offset of the first byte that is not valid UTF-8.
func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

func csvError(err error) LineError {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return LineError{Line: pe.StartLine, Reason: pe.Err.Error()}
	}
	return LineError{Line: 1, Reason: err.Error()}
}

func sameHeader(header []string) bool {
	if len(header) != len(Columns) {
		return false
	}
	for i, h := range header {
		if strings.ToLower(strings.TrimSpace(h)) != Columns[i] {
			return false
		}
	}
	return true
}

// kindWords accepts the Russian words an operator may write for a kind.
var kindWords = map[string]Kind{
	"office": KindOffice, "офис": KindOffice,
	"partner": KindPartner, "партнёр": KindPartner, "партнер": KindPartner,
	"terminal": KindTerminal, "терминал": KindTerminal,
	"atm": KindATM, "банкомат": KindATM,
}

// parseRecord checks one record and turns it into a Point (CityID set, ID
// not). It reports every fault of the line, not only the first.
func parseRecord(record []string, line int, cities cityNames) (Point, []LineError) {
	if len(record) != len(Columns) {
		return Point{}, []LineError{{Line: line, Reason: fmt.Sprintf("%d columns, want %d", len(record), len(Columns))}}
	}
	var errs []LineError
	fail := func(column, format string, args ...any) {
		errs = append(errs, LineError{Line: line, Column: column, Reason: fmt.Sprintf(format, args...)})
	}
	field := func(i int) string { return strings.TrimSpace(record[i]) }
	text := func(i int) string {
		v := field(i)
		switch {
		case v == "":
			fail(Columns[i], "missing")
		case len([]rune(v)) > maxTextLen:
			fail(Columns[i], "longer than %d characters", maxTextLen)
		case strings.ContainsFunc(v, unicode.IsControl):
			fail(Columns[i], "contains a line break or another control character")
		}
		return v
	}

	var p Point
	p.Key = text(0)
	if city := field(1); city == "" {
		fail("city", "missing")
	} else if id, ok := cities[strings.ToLower(city)]; ok {
		p.CityID = id
	} else {
		fail("city", "unknown city %q", city)
	}
	if k, ok := kindWords[strings.ToLower(field(2))]; ok {
		p.Kind = k
	} else {
		fail("kind", "%q: want office, partner, terminal or atm", field(2))
	}
	p.Name = text(3)
	p.Address = text(4)
	var err error
	if p.Latitude, err = parseCoordinate(field(5), 90); err != nil {
		fail("lat", "%v", err)
	}
	if p.Longitude, err = parseCoordinate(field(6), 180); err != nil {
		fail("lon", "%v", err)
	}
	if p.Latitude == 0 && p.Longitude == 0 && field(5) != "" && field(6) != "" {
		fail("lat", "0,0 is in the ocean: coordinates are missing")
	}
	if p.Services, err = parseServices(field(7)); err != nil {
		fail("services", "%v", err)
	}
	for day := 0; day < 7; day++ {
		spans, err := ParseDay(field(8 + day))
		if err != nil {
			fail(Columns[8+day], "%v", err)
		}
		p.Hours[day] = spans
	}
	return p, errs
}

// parseCoordinate reads a latitude or longitude in decimal degrees; a decimal
// comma (as a Russian spreadsheet writes it) is fine.
func parseCoordinate(s string, limit float64) (float64, error) {
	if s == "" {
		return 0, errors.New("missing")
	}
	v, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a number of degrees like 55.7558", s)
	}
	if v < -limit || v > limit {
		return 0, fmt.Errorf("%v is outside -%v..%v", v, limit, limit)
	}
	return v, nil
}

// parseServices reads a list like "contracts payments" or "contracts,
// equipment", and returns it without repeats in the order of Services, so
// that the same set always compares equal.
func parseServices(s string) ([]Service, error) {
	have := map[Service]bool{}
	for _, word := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '|' || r == ' ' }) {
		sv := Service(strings.ToLower(word))
		if !sv.Valid() {
			return nil, fmt.Errorf("unknown service %q (known: contracts, payments, equipment, connection)", word)
		}
		have[sv] = true
	}
	var out []Service
	for _, sv := range Services {
		if have[sv] {
			out = append(out, sv)
		}
	}
	return out, nil
}

// apply writes points in tx, upserting by key, and removes the points of the
// cities in prune that points do not list. It compares with what is stored
// first, so that a row the database already holds is counted as unchanged and
// not written at all.
func apply(ctx context.Context, tx pgx.Tx, points []Point, prune []int64) (Result, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, importLock); err != nil {
		return Result{}, err
	}
	keys := make([]string, len(points))
	for i, p := range points {
		keys[i] = p.Key
	}
	stored, err := storedPoints(ctx, tx, keys)
	if err != nil {
		return Result{}, err
	}

	var res Result
	batch := &pgx.Batch{}
	for _, p := range points {
		old, exists := stored[p.Key]
		switch {
		case !exists:
			res.Inserted++
		case samePoint(old, p):
			res.Unchanged++
			continue
		default:
			res.Updated++
		}
		queueUpsert(batch, p)
	}
	if batch.Len() > 0 {
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return Result{}, fmt.Errorf("write points: %w", err)
		}
	}
	if len(prune) > 0 {
		tag, err := tx.Exec(ctx, `
			DELETE FROM service_points WHERE city_id = ANY($1) AND key <> ALL($2)`, prune, keys)
		if err != nil {
			return Result{}, fmt.Errorf("remove points no longer listed: %w", err)
		}
		res.Deleted = int(tag.RowsAffected())
	}
	return res, nil
}

// storedPoints loads the points with the given keys, with their hours.
func storedPoints(ctx context.Context, tx pgx.Tx, keys []string) (map[string]Point, error) {
	rows, err := tx.Query(ctx, `
		SELECT id, key, city_id, kind, name, address, latitude, longitude, services
		FROM service_points WHERE key = ANY($1)`, keys)
	if err != nil {
		return nil, fmt.Errorf("load stored points: %w", err)
	}
	defer rows.Close()
	byID := map[int64]Point{}
	var ids []int64
	for rows.Next() {
		var p Point
		var kind string
		var services []string
		if err := rows.Scan(&p.ID, &p.Key, &p.CityID, &kind, &p.Name, &p.Address, &p.Latitude, &p.Longitude, &services); err != nil {
			return nil, fmt.Errorf("load stored points: %w", err)
		}
		p.Kind = Kind(kind)
		// Normalised like a parsed row, so that only a real change differs.
		p.Services, _ = parseServices(strings.Join(services, ","))
		byID[p.ID] = p
		ids = append(ids, p.ID)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load stored points: %w", err)
	}
	hours, err := queryHours(ctx, tx, `
		SELECT point_id, weekday, opens, closes FROM service_point_hours
		WHERE point_id = ANY($1) ORDER BY point_id, weekday, opens`, ids)
	if err != nil {
		return nil, fmt.Errorf("load stored hours: %w", err)
	}
	out := make(map[string]Point, len(byID))
	for id, p := range byID {
		p.Hours = hours[id]
		out[p.Key] = p
	}
	return out, nil
}

// samePoint reports whether a stored point already holds everything a parsed
// one says.
func samePoint(a, b Point) bool {
	if a.CityID != b.CityID || a.Kind != b.Kind || a.Name != b.Name || a.Address != b.Address ||
		a.Latitude != b.Latitude || a.Longitude != b.Longitude || len(a.Services) != len(b.Services) {
		return false
	}
	for i := range a.Services {
		if a.Services[i] != b.Services[i] {
			return false
		}
	}
	for day := range a.Hours {
		if !sameSpans(a.Hours[day], b.Hours[day]) {
			return false
		}
	}
	return true
}

// queueUpsert adds the statements that write one point and replace its hours.
func queueUpsert(batch *pgx.Batch, p Point) {
	services := make([]string, len(p.Services))
	for i, s := range p.Services {
		services[i] = string(s)
	}
	batch.Queue(`
		INSERT INTO service_points (key, city_id, kind, name, address, latitude, longitude, services)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (key) DO UPDATE SET
			city_id = EXCLUDED.city_id, kind = EXCLUDED.kind, name = EXCLUDED.name,
			address = EXCLUDED.address, latitude = EXCLUDED.latitude,
			longitude = EXCLUDED.longitude, services = EXCLUDED.services`,
		p.Key, p.CityID, string(p.Kind), p.Name, p.Address, p.Latitude, p.Longitude, services)
	batch.Queue(`
		DELETE FROM service_point_hours
		WHERE point_id = (SELECT id FROM service_points WHERE key = $1)`, p.Key)
	var weekdays []int16
	var opens, closes []pgtype.Time
	for day, spans := range p.Hours {
		for _, s := range spans {
			weekdays = append(weekdays, int16(day+1))
			opens = append(opens, toPGTime(s.Opens))
			closes = append(closes, toPGTime(s.Closes))
		}
	}
	if len(weekdays) == 0 {
		return
	}
	batch.Queue(`
		INSERT INTO service_point_hours (point_id, weekday, opens, closes)
		SELECT p.id, h.weekday, h.opens, h.closes
		FROM service_points p,
		     unnest($2::smallint[], $3::time[], $4::time[]) AS h(weekday, opens, closes)
		WHERE p.key = $1`, p.Key, weekdays, opens, closes)
}
