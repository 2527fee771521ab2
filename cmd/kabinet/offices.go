package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kabinet-bot/kabinet/offices"
)

const officesUsage = `usage: kabinet offices import FILE.csv

Loads or updates offices and payment points from a CSV file (format: offices/CSV.md).
A file with a bad line applies nothing; the same file applied twice changes nothing.
`

// officesCommand runs "kabinet offices ...": today only "import FILE.csv".
func officesCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "import" {
		fmt.Fprint(stderr, officesUsage)
		return errors.New("offices: want `offices import FILE.csv`")
	}
	return importOffices(ctx, args[1], getenv, stdout, stderr)
}

// importOffices applies a CSV file and prints what changed. A file with bad
// lines is reported line by line on stderr, so that the operator can fix
// them all in one go; the error then makes the command exit non-zero.
func importOffices(ctx context.Context, path string, getenv func(string) string, stdout, stderr io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("offices import: %w", err)
	}
	defer f.Close()
	return withMigratedDB(ctx, getenv, func(pool *pgxpool.Pool) error {
		return reportImport(ctx, pool, f, path, stdout, stderr)
	})
}

// reportImport runs the import and writes its result for a person.
func reportImport(ctx context.Context, pool *pgxpool.Pool, f io.Reader, path string, stdout, stderr io.Writer) error {
	res, err := offices.Import(ctx, pool, f)
	var fileErr *offices.FileError
	if errors.As(err, &fileErr) {
		fmt.Fprintf(stderr, "%s: nothing applied, the file has errors:\n", path)
		for _, l := range fileErr.Lines {
			fmt.Fprintf(stderr, "  %s\n", l.Error())
		}
		if fileErr.More {
			fmt.Fprintln(stderr, "  ... and more")
		}
		return fmt.Errorf("offices import: %s: %d bad lines, nothing applied", path, len(fileErr.Lines))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d inserted, %d updated, %d unchanged, %d deleted\n",
		path, res.Inserted, res.Updated, res.Unchanged, res.Deleted)
	return nil
}
