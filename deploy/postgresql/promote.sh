#!/bin/sh
# Operator step 1 of 2 after the primary died: promote the replica. Run on the replica host as
# postgres, once the old primary is known dead (powered off, or its PostgreSQL stopped and its
# host fenced: two primaries must never take writes).
#
#   runuser -u postgres -- promote.sh [PGHOST]      (PGHOST: its socket directory)
#
# pg_promote() is `pg_ctl promote` (pg_ctlcluster 15 main promote) from SQL; it waits until the
# server has left recovery (60 s at most) and takes writes. The promoted server has no standby:
# its synchronous_standby_names is empty (its conf.d) until the old primary is rebuilt as its
# replica (make-replica.sh), when the operator sets it to that replica's name and reloads.
# Step 2: repoint-pgbouncer.sh on the PgBouncer host.
set -eu
psql -X -q -h "${1:-/var/run/postgresql}" -d postgres -Atc "SELECT pg_promote(true, 60)" | grep -qx t
psql -X -q -h "${1:-/var/run/postgresql}" -d postgres -Atc "SELECT pg_is_in_recovery()" | grep -qx f
echo "promoted: this server takes writes"
