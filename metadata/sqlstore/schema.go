package sqlstore

import (
	"embed"
	"strings"
	"text/template"
)

//go:embed schema/*.sql.tmpl
var schemaFS embed.FS

var schemaTemplates = template.Must(template.ParseFS(schemaFS, "schema/*.sql.tmpl"))

// MySQLSchema returns the CREATE TABLE IF NOT EXISTS statement for one eZ DFS metadata table on
// MySQL/MariaDB: the column list, types, defaults, primary key, secondary indexes and InnoDB
// engine of eZ Publish legacy's kernel/sql/mysql/cluster_dfs_schema.sql. With cache set the
// unused `status` column is left out, as in eZ's ezdfsfile_cache. The table name must be a
// valid identifier ([A-Za-z0-9_]+); MySQLSchema panics otherwise, since the text is meant for
// fixed, configured names.
func MySQLSchema(table string, cache bool) string {
	return renderSchema("mysql.sql.tmpl", table, cache)
}

// SQLiteSchema returns the statements (separated by ";" and newlines) that create one eZ DFS
// metadata table and its indexes on SQLite if they are missing: the same columns as
// MySQLSchema mapped to SQLite types, name_hash as PRIMARY KEY of a WITHOUT ROWID table, and
// the same secondary indexes (named <table>_name, <table>_name_trunk, <table>_mtime,
// <table>_expired_name, since SQLite index names are per database). With cache set the unused
// status column is left out. The table name must be a valid identifier; SQLiteSchema panics
// otherwise.
func SQLiteSchema(table string, cache bool) string {
	return renderSchema("sqlite.sql.tmpl", table, cache)
}

// PostgresSchema returns the statements (separated by ";" and newlines) that create one eZ DFS
// metadata table and its indexes on PostgreSQL if they are missing: the columns, types,
// defaults and indexes of eZ's PostgreSQL DFS schema, sql/postgresql/cluster_dfs_schema.sql of
// ezsystems/ezpostgresqlcluster (the extension providing eZDFSFileHandlerPostgresqlBackend;
// kernel/sql/postgresql/cluster_dfs_schema.sql of ezpublish-legacy is an older copy without
// name_trunk, which that backend writes), with one change: size is bigint instead of integer,
// as MySQL's bigint unsigned, so files above 2 GiB fit (an existing integer column is read the
// same way). name_hash is character(32), the primary key; the indexes are <table>_name and
// <table>_mtime, as eZ names them for ezdfsfile and ezdfsfile_cache. eZ's PostgreSQL tables
// have no status column, cache table or not, so cache is unused. The table name must be a
// valid identifier; PostgresSchema panics otherwise.
func PostgresSchema(table string, cache bool) string {
	return renderSchema("postgres.sql.tmpl", table, cache)
}

// IsCacheTable reports whether CreateSchema treats table as a cache table (created without the
// status column): its name ends in "_cache", like eZ's ezdfsfile_cache.
func IsCacheTable(table string) bool {
	return strings.HasSuffix(table, "_cache")
}

func renderSchema(name, table string, cache bool) string {
	if err := checkIdent(table); err != nil {
		panic("sqlstore: " + err.Error())
	}
	var b strings.Builder
	data := struct {
		Table string
		Cache bool
	}{table, cache}
	if err := schemaTemplates.ExecuteTemplate(&b, name, data); err != nil {
		panic("sqlstore: schema template " + name + ": " + err.Error())
	}
	return b.String()
}

// splitStatements splits schema text into single statements for drivers that run one
// statement per Exec.
func splitStatements(s string) []string {
	var out []string
	for _, stmt := range strings.Split(s, ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}
