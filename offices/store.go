package offices

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// ErrNotFound is returned for a city or point that does not exist, so that a
// button from an old message can be answered with the current list.
var ErrNotFound = errors.New("offices: not found")

// MaxNearest caps Nearest's n: a chat shows a handful of venues, and a
// large n would make the search read most of the table.
const MaxNearest = 50

// Store reads cities and points from PostgreSQL.
type Store struct {
	pool *pgxpool.Pool

	mu    sync.Mutex
	zones map[string]*time.Location // time.LoadLocation reads a file every call
}

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, zones: map[string]*time.Location{}}
}

// Cities lists every city in Russian alphabetical order (Ё after Е, which the
// database's C collation would not do), with hotlines, contact-centre hours
// and time zone, for the keyboard where a subscriber picks a city.
func (s *Store) Cities(ctx context.Context) ([]City, error) {
	cities, err := s.queryCities(ctx, `TRUE`)
	if err != nil {
		return nil, fmt.Errorf("offices: cities: %w", err)
	}
	c := collate.New(language.Russian)
	sort.SliceStable(cities, func(i, j int) bool { return c.CompareString(cities[i].Name, cities[j].Name) < 0 })
	return cities, nil
}

// City returns one city by id (ErrNotFound if there is none), for a button
// that carries the id.
func (s *Store) City(ctx context.Context, id int64) (City, error) {
	cities, err := s.queryCities(ctx, `c.id = $1`, id)
	if err != nil {
		return City{}, fmt.Errorf("offices: city %d: %w", id, err)
	}
	if len(cities) == 0 {
		return City{}, fmt.Errorf("offices: city %d: %w", id, ErrNotFound)
	}
	return cities[0], nil
}

// CityByName finds a city by its Russian or English name, ignoring case
// (ErrNotFound if none), so that a linked subscriber's city
// (billing.Account.City) comes first without a second lookup table. The
// comparison is made in Go: SQL lower() leaves Cyrillic alone in a database
// created with the C locale.
func (s *Store) CityByName(ctx context.Context, name string) (City, error) {
	cities, err := s.queryCities(ctx, `TRUE`)
	if err != nil {
		return City{}, fmt.Errorf("offices: city by name: %w", err)
	}
	name = strings.TrimSpace(name)
	for _, c := range cities {
		if strings.EqualFold(c.Name, name) || strings.EqualFold(c.NameEN, name) {
			return c, nil
		}
	}
	return City{}, fmt.Errorf("offices: city by name: %w", ErrNotFound)
}

// queryCities loads the cities matching where (an SQL condition on c, with
// args) and their contact-centre hours.
func (s *Store) queryCities(ctx context.Context, where string, args ...any) ([]City, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, c.name, c.name_en, c.hotline, c.time_zone
		FROM cities c
		WHERE `+where+`
		ORDER BY c.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cities []City
	var ids []int64
	for rows.Next() {
		var c City
		var zone string
		if err := rows.Scan(&c.ID, &c.Name, &c.NameEN, &c.Hotlines, &zone); err != nil {
			return nil, err
		}
		if c.Location, err = s.location(zone); err != nil {
			return nil, fmt.Errorf("city %s: %w", c.Name, err)
		}
		cities = append(cities, c)
		ids = append(ids, c.ID)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	hours, err := queryHours(ctx, s.pool, `
		SELECT city_id, weekday, opens, closes FROM city_contact_hours
		WHERE city_id = ANY($1) ORDER BY city_id, weekday, opens`, ids)
	if err != nil {
		return nil, fmt.Errorf("contact hours: %w", err)
	}
	for i := range cities {
		cities[i].ContactHours = hours[cities[i].ID]
	}
	return cities, nil
}

// location loads an IANA zone once per Store.
func (s *Store) location(name string) (*time.Location, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if loc, ok := s.zones[name]; ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone: %w", err)
	}
	s.zones[name] = loc
	return loc, nil
}

// pointColumns are the columns scanPoint reads, from service_points p joined
// with cities c.
const pointColumns = `p.id, p.key, p.city_id, c.name, c.time_zone, p.kind, p.name, p.address,
	p.latitude, p.longitude, p.services`

// scanPoint reads pointColumns (and any extra destinations after them).
func (s *Store) scanPoint(row pgx.Row, extra ...any) (Point, error) {
	var p Point
	var zone, kind string
	var services []string
	dest := append([]any{&p.ID, &p.Key, &p.CityID, &p.City, &zone, &kind, &p.Name, &p.Address,
		&p.Latitude, &p.Longitude, &services}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Point{}, err
	}
	p.Kind = Kind(kind)
	for _, sv := range services {
		p.Services = append(p.Services, Service(sv))
	}
	loc, err := s.location(zone)
	if err != nil {
		return Point{}, fmt.Errorf("point %d: %w", p.ID, err)
	}
	p.Location = loc
	return p, nil
}

// attachHours fills in the opening hours of points, in one query for all.
func (s *Store) attachHours(ctx context.Context, points []Point) error {
	ids := make([]int64, len(points))
	for i, p := range points {
		ids[i] = p.ID
	}
	hours, err := queryHours(ctx, s.pool, `
		SELECT point_id, weekday, opens, closes FROM service_point_hours
		WHERE point_id = ANY($1) ORDER BY point_id, weekday, opens`, ids)
	if err != nil {
		return fmt.Errorf("opening hours: %w", err)
	}
	for i := range points {
		points[i].Hours = hours[points[i].ID]
	}
	return nil
}

// querier is what queryHours needs: a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// queryHours runs a query returning (owner id, weekday, opens, closes) rows
// and groups them into a schedule per owner.
func queryHours(ctx context.Context, q querier, sql string, args ...any) (map[int64]Hours, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]Hours{}
	for rows.Next() {
		var id int64
		var weekday int
		var opens, closes pgtype.Time
		if err := rows.Scan(&id, &weekday, &opens, &closes); err != nil {
			return nil, err
		}
		if weekday < 1 || weekday > 7 {
			return nil, fmt.Errorf("weekday %d out of range", weekday)
		}
		h := out[id]
		h[weekday-1] = append(h[weekday-1], Span{Opens: fromPGTime(opens), Closes: fromPGTime(closes)})
		out[id] = h
	}
	return out, rows.Err()
}

func fromPGTime(t pgtype.Time) time.Duration { return time.Duration(t.Microseconds) * time.Microsecond }

func toPGTime(d time.Duration) pgtype.Time {
	return pgtype.Time{Microseconds: int64(d / time.Microsecond), Valid: true}
}

// kindNames turns a kind filter into the SQL parameter: nil or empty means
// every kind.
func kindNames(kinds []Kind) []string {
	if len(kinds) == 0 {
		kinds = Kinds
	}
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return names
}

// Point returns one point by id (ErrNotFound if it is gone, say after an
// import removed it), for a button that carries the id.
func (s *Store) Point(ctx context.Context, id int64) (Point, error) {
	p, err := s.scanPoint(s.pool.QueryRow(ctx, `
		SELECT `+pointColumns+`
		FROM service_points p JOIN cities c ON c.id = p.city_id
		WHERE p.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Point{}, fmt.Errorf("offices: point %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Point{}, fmt.Errorf("offices: point %d: %w", id, err)
	}
	points := []Point{p}
	if err := s.attachHours(ctx, points); err != nil {
		return Point{}, fmt.Errorf("offices: point %d: %w", id, err)
	}
	return points[0], nil
}

// CityPoints returns one page of a city's points of the given kinds (nil: all
// kinds) and how many there are in all, so that a long list is paged and
// never cut off. The order is stable across pages: offices first, then
// partner shops, terminals and ATMs, each by name and address.
func (s *Store) CityPoints(ctx context.Context, cityID int64, kinds []Kind, offset, limit int) (points []Point, total int, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("offices: points of city %d: %w", cityID, err)
		}
	}()
	if offset < 0 || limit <= 0 {
		return nil, 0, fmt.Errorf("bad page: offset %d, limit %d", offset, limit)
	}
	names := kindNames(kinds)
	if err := s.pool.QueryRow(ctx, `
		SELECT count(*) FROM service_points WHERE city_id = $1 AND kind = ANY($2)`,
		cityID, names).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+pointColumns+`
		FROM service_points p JOIN cities c ON c.id = p.city_id
		WHERE p.city_id = $1 AND p.kind = ANY($2)
		ORDER BY array_position($3::text[], p.kind), p.name, p.address, p.id
		OFFSET $4 LIMIT $5`, cityID, names, kindNames(Kinds), offset, limit)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		p, err := s.scanPoint(rows)
		if err != nil {
			return nil, 0, err
		}
		points = append(points, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if err := s.attachHours(ctx, points); err != nil {
		return nil, 0, err
	}
	return points, total, nil
}

// distanceSQL is the great-circle distance in metres from ($1, $2) to the
// point p, by the haversine formula on a sphere of earthRadius. least(1, ...)
// keeps rounding from taking asin out of its domain.
const distanceSQL = `2 * 6371008.8 * asin(least(1, sqrt(
		sin(radians(p.latitude - $1) / 2) ^ 2
		+ cos(radians($1)) * cos(radians(p.latitude)) * sin(radians(p.longitude - $2) / 2) ^ 2)))`

// boundSQL takes the n points nearest to ($1, $2) on a flat map of degrees,
// which the GiST index hands out in order at once, and returns the true
// distance of the farthest of them. The flat map misjudges distances (a
// degree of longitude is half a degree of latitude in Moscow), but these are
// n real points within that distance, so the n nearest lie within it too.
const boundSQL = `
	SELECT max(` + distanceSQL + `)
	FROM (
		SELECT latitude, longitude FROM service_points
		WHERE kind = ANY($3)
		ORDER BY location <-> point($2, $1)
		LIMIT $4
	) p`

// nearestSQL returns the n points of the given kinds nearest to ($1, $2)
// among those in two boxes ($3..$10), nearest first. The GiST index finds the
// points in the boxes; the exact distance orders them. Cities are joined
// after the LIMIT so that only n rows are joined.
const nearestSQL = `
	SELECT ` + pointColumns + `, n.meters
	FROM (
		SELECT p.id, ` + distanceSQL + ` AS meters
		FROM service_points p
		WHERE (p.location <@ box(point($3, $4), point($5, $6))
		       OR p.location <@ box(point($7, $8), point($9, $10)))
		  AND p.kind = ANY($11)
		ORDER BY meters, p.id
		LIMIT $12
	) n
	JOIN service_points p ON p.id = n.id
	JOIN cities c ON c.id = p.city_id
	ORDER BY n.meters, p.id`

// Nearest returns the n points of the given kinds (nil: all kinds) nearest to
// (lat, lon), nearest first, with their great-circle distances in metres. n
// is capped at MaxNearest; fewer come back only when fewer exist.
//
// Two indexed queries, wherever the subscriber stands: the first bounds the
// distance within which the n nearest must lie (boundSQL), the second looks
// only inside that circle's bounding box and orders by the exact distance.
func (s *Store) Nearest(ctx context.Context, lat, lon float64, kinds []Kind, n int) ([]PointDistance, error) {
	if math.IsNaN(lat) || math.IsNaN(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return nil, fmt.Errorf("offices: nearest: bad location")
	}
	if n <= 0 {
		return nil, nil
	}
	n = min(n, MaxNearest)
	names := kindNames(kinds)

	var bound *float64
	if err := s.pool.QueryRow(ctx, boundSQL, lat, lon, names, n).Scan(&bound); err != nil {
		return nil, fmt.Errorf("offices: nearest: bound: %w", err)
	}
	if bound == nil {
		return nil, nil // no point of these kinds at all
	}
	// A metre more, so that rounding never leaves the n-th point just
	// outside the box.
	b := searchBoxes(lat, lon, *bound+1)
	rows, err := s.pool.Query(ctx, nearestSQL, lat, lon,
		b[0].minLon, b[0].minLat, b[0].maxLon, b[0].maxLat,
		b[1].minLon, b[1].minLat, b[1].maxLon, b[1].maxLat,
		names, n)
	if err != nil {
		return nil, fmt.Errorf("offices: nearest: %w", err)
	}
	defer rows.Close()
	var found []PointDistance
	for rows.Next() {
		var pd PointDistance
		p, err := s.scanPoint(rows, &pd.Meters)
		if err != nil {
			return nil, fmt.Errorf("offices: nearest: %w", err)
		}
		pd.Point = p
		found = append(found, pd)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("offices: nearest: %w", err)
	}
	if err := s.attachDistanceHours(ctx, found); err != nil {
		return nil, fmt.Errorf("offices: nearest: %w", err)
	}
	return found, nil
}

// attachDistanceHours fills in the opening hours of found points.
func (s *Store) attachDistanceHours(ctx context.Context, found []PointDistance) error {
	points := make([]Point, len(found))
	for i := range found {
		points[i] = found[i].Point
	}
	if err := s.attachHours(ctx, points); err != nil {
		return err
	}
	for i := range found {
		found[i].Point = points[i]
	}
	return nil
}
