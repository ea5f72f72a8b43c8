#!/bin/sh
# Make this host a streaming replica of PRIMARY: run as postgres on the replica host, with
# its cluster stopped and its data directory empty (the setup of pg2, and the rebuild of an old
# primary as the new primary's replica after a promotion).
#
#   PGPASSFILE=~postgres/.pgpass  make-replica.sh PRIMARY_ADDR DATA_DIR SLOT
#
# pg_basebackup copies the primary (-X stream: with the WAL written meanwhile), creates the
# physical replication slot SLOT on it (-C -S: the primary keeps the WAL this replica has not
# yet received) and writes standby.signal and primary_conninfo (-R). This host's own
# conf.d/sanliang.conf (PG_NAME=SLOT, PG_SYNC_STANDBYS empty) then applies; start the cluster.
# The primary's synchronous_standby_names names SLOT: its commits wait for this replica.
set -eu
primary=$1 data=$2 slot=$3
if [ -n "$(ls -A "$data" 2>/dev/null)" ]; then echo "$data is not empty" >&2; exit 1; fi
pg_basebackup -h "$primary" -U replicator -D "$data" -X stream -C -S "$slot" -R --checkpoint=fast --no-password
