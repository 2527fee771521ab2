package offices

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// demoCSV is made-up but plausible data for Москва, Белгород, Владивосток,
// Томск and Ставрополь. It is a CSV file in the import format, so that it is
// also the example an operator can start from.
//
//go:embed demo.csv
var demoCSV []byte

// LoadDemo fills a development or demo database with a few offices and
// payment points and gives every city the published contact-centre hours if
// it has none. Running it again changes nothing. Unlike Import it removes
// nothing: points loaded from the provider's own files stay.
func LoadDemo(ctx context.Context, pool *pgxpool.Pool) error {
	cities, err := loadCityNames(ctx, pool)
	if err != nil {
		return fmt.Errorf("offices: demo: %w", err)
	}
	points, err := parseFile(bytes.NewReader(demoCSV), cities)
	if err != nil {
		return fmt.Errorf("offices: demo: %w", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// The hours the provider publishes for its single service number:
		// weekdays 09:00-21:00, weekends 09:00-18:00.
		if _, err := tx.Exec(ctx, `
			INSERT INTO city_contact_hours (city_id, weekday, opens, closes)
			SELECT c.id, d.weekday, '09:00', CASE WHEN d.weekday <= 5 THEN time '21:00' ELSE time '18:00' END
			FROM cities c CROSS JOIN generate_series(1, 7) AS d(weekday)
			WHERE NOT EXISTS (SELECT 1 FROM city_contact_hours h WHERE h.city_id = c.id)`); err != nil {
			return fmt.Errorf("contact hours: %w", err)
		}
		_, err := apply(ctx, tx, points, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("offices: demo: %w", err)
	}
	return nil
}
