#!/bin/sh
# Restore of the in-cluster PostgreSQL from a backup (the app component's
# restore Job, before it runs `gopherops migrate up`): RESTORE_FROM is
# "latest" or a dump's name in BACKUP_DIR. It restores only into a database
# without tables, so it never overwrites data, and marks the database with
# the dump's name so that a retried Job passes instead of failing.
# Connection from the libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD,
# PGDATABASE.
set -eu
: "${BACKUP_DIR:?BACKUP_DIR names the backup volume}"
: "${RESTORE_FROM:?RESTORE_FROM is latest or the name of a dump}"
: "${PGDATABASE:?PGDATABASE names the database to restore into}"
cd "$BACKUP_DIR"
# backups lists the dumps in the current directory, oldest first.
backups() {
	for f in gopherops-*.dump; do
		case $f in
		gopherops-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.dump) printf '%s\n' "$f" ;;
		esac
	done | LC_ALL=C sort
}

if [ "$RESTORE_FROM" = latest ]; then
	file=$(backups | tail -n 1)
	if [ -z "$file" ]; then
		echo "restore: no backup in $BACKUP_DIR" >&2
		exit 1
	fi
else
	file=$RESTORE_FROM
	if ! backups | grep -qxF -- "$file"; then
		echo "restore: no backup named $file; the backups are:" >&2
		backups >&2
		exit 1
	fi
fi
echo "restore: from $file ($(wc -c <"$file") bytes)"

# The database may still be starting (a StatefulSet just recreated): five minutes.
tries=0
until pg_isready --quiet; do
	tries=$((tries + 1))
	if [ "$tries" -ge 150 ]; then
		echo "restore: the database at $PGHOST did not answer for 5 minutes" >&2
		exit 1
	fi
	sleep 2
done

marker="restored from $file"
sql() { psql --no-psqlrc --no-align --tuples-only --quiet -v ON_ERROR_STOP=1 --command="$1"; }
tables=$(sql "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
if [ "$tables" != 0 ]; then
	current=$(sql "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_catalog.pg_database WHERE datname = current_database()")
	if [ "$current" = "$marker" ]; then
		echo "restore: $file was restored already"
		exit 0
	fi
	echo "restore: database $PGDATABASE holds $tables tables: refusing to overwrite it (restore into an empty database, docs/recovery.md)" >&2
	exit 1
fi

started=$(date -u +%s)
pg_restore --exit-on-error --single-transaction --no-owner --no-privileges --dbname="$PGDATABASE" "$file"
# The database's name is an identifier (double quotes doubled), the dump's
# name matched the pattern above (no quote can be in it).
quoted=$(printf '%s' "$PGDATABASE" | sed 's/"/""/g')
sql "COMMENT ON DATABASE \"$quoted\" IS '$marker'" >/dev/null
echo "restore: $file restored into $PGDATABASE in $(($(date -u +%s) - started)) s"
