// Package pgmigrate applies embedded SQL migrations to PostgreSQL. Each
// package that owns tables (the demo billing, Kabinet's own data) hands it
// its files as a Source under a name of its own; a file is recorded in
// schema_migrations as "<source>/<file>", so two sources never mistake each
// other's files and each runs its own in file-name order.
package pgmigrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lockKey is the advisory lock that serialises migrations, so that several
// `serve` processes starting at once apply each file exactly once. It is the
// key the single-source runner used, so an old and a new process never
// migrate at the same time during a rolling upgrade.
const lockKey = 0x6b616269 // "kabi"

// Source is one package's migrations.
type Source struct {
	// Name prefixes the source's files in schema_migrations ("billing").
	Name string
	// Files holds the *.sql files at its root, applied in name order.
	Files fs.FS
	// Adopts maps a file to the name the same tables were recorded under
	// before the sources were split (when every file was recorded bare,
	// "001_accounts.sql"): a database where that old name is recorded
	// already has what the file creates, so the file is recorded as
	// applied without running it.
	Adopts map[string]string
}

// Version is a short hash of the sources' files: it changes whenever a
// migration is added or edited (test templates are named by it).
func Version(sources ...Source) string {
	h := sha256.New()
	for _, s := range sources {
		names, _ := fs.Glob(s.Files, "*.sql")
		sort.Strings(names)
		for _, n := range names {
			body, _ := fs.ReadFile(s.Files, n)
			h.Write([]byte(s.Name + "/" + n))
			h.Write(body)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Apply applies the files of each source that are not applied yet, the
// sources in the order given and each source's files in name order, every
// file in its own transaction. Running it again is safe.
func Apply(ctx context.Context, pool *pgxpool.Pool, sources ...Source) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("migrate: %w", err)
		}
	}()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey) //nolint:errcheck // the lock also ends with the session

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	recorded := func(name string) (bool, error) {
		var done bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name).Scan(&done)
		return done, err
	}
	for _, s := range sources {
		names, err := fs.Glob(s.Files, "*.sql")
		if err != nil {
			return err
		}
		sort.Strings(names)
		for _, file := range names {
			name := s.Name + "/" + file
			done, err := recorded(name)
			if err != nil {
				return err
			}
			if done {
				continue
			}
			adopted := false
			if old, ok := s.Adopts[file]; ok {
				if adopted, err = recorded(old); err != nil {
					return err
				}
			}
			body, err := fs.ReadFile(s.Files, file)
			if err != nil {
				return err
			}
			if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if !adopted {
					if _, err := tx.Exec(ctx, string(body)); err != nil {
						return err
					}
				}
				_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name)
				return err
			}); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return nil
}

// Sub returns the directory dir of an embedded file system, for a Source's
// Files (embed.FS keeps the directory in every name).
func Sub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, strings.TrimSuffix(dir, "/"))
	if err != nil {
		panic(fmt.Sprintf("pgmigrate: %s: %v", dir, err)) // a programming error: the embed pattern names dir
	}
	return sub
}
