package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/config"
	"github.com/kabinet-bot/kabinet/notices"
)

const notifyUsage = `usage:
  kabinet notify outage --city CITY [--until HH:MM] --text-file FILE [--dry-run]
  kabinet notify outage --end ID
  kabinet notify status

outage announces an outage in a city: the running bot pushes it to that city's
subscribers who want outage notices (in their quiet hours it waits for the
morning), and "Связь восстановлена" to those it reached once --end is given.
--until is the expected end in the city's local time; --dry-run only counts
who would get it. status prints the notices by kind and state, the send rate,
and the progress of every broadcast still running.
`

// notifyCommand runs "kabinet notify ...".
func notifyCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, notifyUsage)
		return errors.New("notify: want `notify outage` or `notify status`")
	}
	switch args[0] {
	case "status":
		return withMigratedDB(ctx, getenv, func(pool *pgxpool.Pool) error { return notifyStatus(ctx, getenv, pool, stdout) })
	case "outage":
		return notifyOutage(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprint(stderr, notifyUsage)
	return fmt.Errorf("notify: unknown subcommand %q", args[0])
}

func notifyStatus(ctx context.Context, getenv func(string) string, pool *pgxpool.Pool, stdout io.Writer) error {
	cfg, err := config.Load(getenv, false)
	if err != nil {
		return err
	}
	store := notices.NewStore(pool, cfg.NotifyDaysBefore)
	st, err := store.Status(ctx)
	if err != nil {
		return err
	}
	st.Write(stdout)
	bs, err := store.Broadcasts(ctx)
	if err != nil {
		return err
	}
	for _, b := range bs {
		fmt.Fprintln(stdout, b.Line(float64(cfg.NotifyRate)))
	}
	return nil
}

func notifyOutage(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("notify outage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	city := fs.String("city", "", "the city, in Russian or English")
	until := fs.String("until", "", "the expected end, HH:MM in the city's time")
	textFile := fs.String("text-file", "", "a file with what subscribers read (UTF-8, up to 1000 characters)")
	dry := fs.Bool("dry-run", false, "count who would get it, send nothing")
	end := fs.Int64("end", 0, "end the outage with this id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return withMigratedDB(ctx, getenv, func(pool *pgxpool.Pool) error {
		store := notices.NewStore(pool, 0)
		if *end > 0 {
			o, err := store.End(ctx, *end, time.Now())
			if errors.Is(err, notices.ErrNoOutage) {
				return fmt.Errorf("notify outage --end %d: no outage %d is going on", *end, *end)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "outage %d in %s ended: \"Связь восстановлена\" goes to those who were told of it\n", o.ID, o.City)
			return nil
		}
		if *city == "" || *textFile == "" {
			fmt.Fprint(stderr, notifyUsage)
			return errors.New("notify outage: --city and --text-file are required")
		}
		name, zone, err := store.CityZone(ctx, *city)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("notify outage: unknown city %q", *city)
		}
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(*textFile)
		if err != nil {
			return fmt.Errorf("notify outage: %w", err)
		}
		text := strings.TrimSpace(string(raw))
		if text == "" || len([]rune(text)) > 1000 {
			return fmt.Errorf("notify outage: %s must hold 1 to 1000 characters, it has %d", *textFile, len([]rune(text)))
		}
		var ends time.Time
		if *until != "" {
			loc, _ := time.LoadLocation(zone)
			if ends, err = endsAt(*until, time.Now(), loc); err != nil {
				return fmt.Errorf("notify outage: --until %w", err)
			}
		}
		n, err := store.OutageAudience(ctx, name)
		if err != nil {
			return err
		}
		if *dry {
			fmt.Fprintf(stdout, "dry run: the outage in %s would reach %d subscribers\n", name, n)
			return nil
		}
		key := make([]byte, 8)
		_, _ = rand.Read(key)
		id, err := store.Announce(ctx, "cli:"+hex.EncodeToString(key), name, text, ends)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "outage %d announced in %s: %d subscribers will be told by the running bot; end it with `kabinet notify outage --end %d`\n", id, name, n, id)
		return nil
	})
}

// endsAt reads HH:MM as the next such time in loc after now.
func endsAt(hhmm string, now time.Time, loc *time.Location) (time.Time, error) {
	h, m, ok := strings.Cut(hhmm, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return time.Time{}, fmt.Errorf("%q is not a time like 18:00", hhmm)
	}
	l := now.In(loc)
	t := time.Date(l.Year(), l.Month(), l.Day(), hh, mm, 0, 0, loc)
	if !t.After(now) {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}
