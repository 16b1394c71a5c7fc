package embeddeddb

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // the driver FerretDB itself uses
)

// IndexIDs gives every collection table in the SQLite files of dir an
// index on the exact expression FerretDB's _id lookups filter on, and
// returns how many it created.
//
// FerretDB v1.24.2 indexes _id as _ferretdb_sjson->"_id" but looks it up
// with WHERE _ferretdb_sjson->'$._id' = ?. SQLite only uses an expression
// index for the same expression, so without this every _id lookup scans
// the whole table (measured on 10,000 documents: 9.8ms per miss before,
// 0.1ms after). FerretDB does not know about the extra index; dropping a
// collection drops it with the table.
func IndexIDs(ctx context.Context, dir string) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	if err != nil {
		return 0, err
	}
	created := 0
	for _, f := range files {
		n, err := indexFile(ctx, f)
		created += n
		if err != nil {
			return created, fmt.Errorf("embeddeddb: index %s: %w", filepath.Base(f), err)
		}
	}
	return created, nil
}

func indexFile(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\_ferretdb\_%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
		AND NOT EXISTS (SELECT 1 FROM sqlite_master i WHERE i.type = 'index' AND i.name = sqlite_master.name || '_seatline_id')`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return 0, nil
		}
		return 0, err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return 0, err
		}
		tables = append(tables, t)
	}
	rows.Close()
	created := 0
	for _, t := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, t+"_seatline_id", t)
		if _, err := db.ExecContext(ctx, q); err != nil {
			if strings.Contains(err.Error(), "no such table") {
				continue // dropped meanwhile
			}
			return created, err
		}
		created++
	}
	return created, nil
}

// LookupPlan returns SQLite's query plan for an _id lookup, as FerretDB
// issues it, on collection coll of database db in dir.
func LookupPlan(ctx context.Context, dir, db, coll string) (string, error) {
	conn, err := sql.Open("sqlite", "file:"+filepath.Join(dir, db+".sqlite")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return "", err
	}
	defer conn.Close()
	var table string
	if err := conn.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, coll).Scan(&table); err != nil {
		return "", err
	}
	var id, parent, unused int
	var detail string
	q := fmt.Sprintf(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' = ?`, table)
	if err := conn.QueryRowContext(ctx, q, `"x"`).Scan(&id, &parent, &unused, &detail); err != nil {
		return "", err
	}
	return detail, nil
}
