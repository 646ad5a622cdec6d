#!/bin/sh
# Backup of the in-cluster PostgreSQL (the app component's backup CronJob):
# one pg_dump in custom format into BACKUP_DIR, checked by pg_restore
# --list before it counts, then only the newest BACKUP_KEEP dumps are kept.
# Connection from the libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD,
# PGDATABASE. Names are gopherops-<UTC yyyymmddThhmmss>Z.dump, so they sort
# by time.
set -eu
: "${BACKUP_DIR:?BACKUP_DIR names the backup volume}"
: "${BACKUP_KEEP:?BACKUP_KEEP is how many dumps to keep}"
umask 077
cd "$BACKUP_DIR"
# backups lists the dumps in the current directory, oldest first.
backups() {
	for f in gopherops-*.dump; do
		case $f in
		gopherops-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.dump) printf '%s\n' "$f" ;;
		esac
	done | LC_ALL=C sort
}

# A dump that a failed run left behind is not a backup.
for stale in .gopherops-*.partial; do
	[ -e "$stale" ] || continue
	rm -f -- "$stale"
	echo "backup: removed the unfinished $stale"
done

name="gopherops-$(date -u +%Y%m%dT%H%M%SZ).dump"
if [ -e "$name" ]; then
	echo "backup: $name exists already (two runs in one second)" >&2
	exit 1
fi
started=$(date -u +%s)
pg_dump -Fc --file=".$name.partial"
# Only an archive pg_restore can read is a backup.
pg_restore --list ".$name.partial" >/dev/null
mv -- ".$name.partial" "$name"
echo "backup: wrote $name ($(wc -c <"$name") bytes in $(($(date -u +%s) - started)) s)"

backups | LC_ALL=C sort -r | tail -n "+$((BACKUP_KEEP + 1))" | while read -r old; do
	rm -f -- "$old"
	echo "backup: removed $old (keeping the newest $BACKUP_KEEP)"
done
echo "backup: $(backups | wc -l) kept, newest $name"
