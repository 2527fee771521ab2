package offices

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// Directory adapts a Store to dialogs.Offices: it turns cities and points
// into the dialogs' own types, groups schedules into runs of equal days and
// judges "open now" in each city's time zone, so that the dialogs only put
// words to it.
type Directory struct {
	store *Store
}

// NewDirectory returns the dialogs' view of store.
func NewDirectory(store *Store) *Directory { return &Directory{store: store} }

var _ dialogs.Offices = (*Directory)(nil)

// Cities implements dialogs.Offices.
func (d *Directory) Cities(ctx context.Context) ([]dialogs.OfficeCity, error) {
	cities, err := d.store.Cities(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]dialogs.OfficeCity, len(cities))
	for i, c := range cities {
		out[i] = toDialogCity(c)
	}
	return out, nil
}

// City implements dialogs.Offices.
func (d *Directory) City(ctx context.Context, id int64) (dialogs.OfficeCity, error) {
	c, err := d.store.City(ctx, id)
	if err != nil {
		return dialogs.OfficeCity{}, notFound(err)
	}
	return toDialogCity(c), nil
}

// CityByName implements dialogs.Offices.
func (d *Directory) CityByName(ctx context.Context, name string) (dialogs.OfficeCity, error) {
	c, err := d.store.CityByName(ctx, name)
	if err != nil {
		return dialogs.OfficeCity{}, notFound(err)
	}
	return toDialogCity(c), nil
}

// CityPoints implements dialogs.Offices.
func (d *Directory) CityPoints(ctx context.Context, cityID int64, kinds []dialogs.PointKind, offset, limit int, now time.Time) ([]dialogs.ServicePoint, int, error) {
	points, total, err := d.store.CityPoints(ctx, cityID, toKinds(kinds), offset, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]dialogs.ServicePoint, len(points))
	for i, p := range points {
		out[i] = toDialogPoint(p, now)
	}
	return out, total, nil
}

// Nearest implements dialogs.Offices.
func (d *Directory) Nearest(ctx context.Context, lat, lon float64, kinds []dialogs.PointKind, n int, now time.Time) ([]dialogs.ServicePoint, error) {
	found, err := d.store.Nearest(ctx, lat, lon, toKinds(kinds), n)
	if err != nil {
		return nil, err
	}
	out := make([]dialogs.ServicePoint, len(found))
	for i, p := range found {
		out[i] = toDialogPoint(p.Point, now)
		out[i].Meters = p.Meters
	}
	return out, nil
}

// notFound turns the store's ErrNotFound into the one the dialogs know.
func notFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: %w", dialogs.ErrUnknownCity, err)
	}
	return err
}

func toKinds(kinds []dialogs.PointKind) []Kind {
	out := make([]Kind, len(kinds))
	for i, k := range kinds {
		out[i] = Kind(k)
	}
	return out
}

func toDialogCity(c City) dialogs.OfficeCity {
	out := dialogs.OfficeCity{ID: c.ID, Name: c.Name, NameEN: c.NameEN, Hotlines: c.Hotlines}
	if !closedAllWeek(c.ContactHours) {
		out.ContactHours = ToDayHours(c.ContactHours)
	}
	return out
}

func toDialogPoint(p Point, now time.Time) dialogs.ServicePoint {
	open, next := p.OpenNow(now)
	out := dialogs.ServicePoint{
		ID: p.ID, CityID: p.CityID, Kind: dialogs.PointKind(p.Kind),
		Name: p.Name, Address: p.Address, Lat: p.Latitude, Lon: p.Longitude,
		Hours: ToDayHours(p.Hours), Open: open, Next: next,
	}
	for _, s := range p.Services {
		out.Services = append(out.Services, string(s))
	}
	return out
}

// closedAllWeek tells a city without published contact hours, which the
// dialogs leave out rather than calling the hotline closed.
func closedAllWeek(h Hours) bool {
	for _, day := range h {
		if len(day) > 0 {
			return false
		}
	}
	return true
}

// ToDayHours turns a week of hours into the runs of equal days the dialogs
// show ("Mon–Fri 09:00–21:00, Sat–Sun 09:00–18:00").
func ToDayHours(h Hours) []dialogs.DayHours {
	ranges := h.Ranges()
	out := make([]dialogs.DayHours, len(ranges))
	for i, r := range ranges {
		out[i] = dialogs.DayHours{From: r.From, To: r.To}
		for _, s := range r.Spans {
			out[i].Spans = append(out[i].Spans, dialogs.OpenSpan{Opens: s.Opens, Closes: s.Closes})
		}
	}
	return out
}
