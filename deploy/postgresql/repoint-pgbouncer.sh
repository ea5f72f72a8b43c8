#!/bin/sh
# Operator step 2 of 2 after a promotion: point PgBouncer's two databases (the primary and the
# replica entry, the new primary being the only server left) at NEW_PRIMARY_ADDR and reload.
# Run on the PgBouncer host as root.
#
#   repoint-pgbouncer.sh NEW_PRIMARY_ADDR [/etc/pgbouncer/pgbouncer.ini [PIDFILE]]
#
# On reload (SIGHUP, what `systemctl reload pgbouncer` sends) new transactions go to the new
# primary and server connections to the old one are closed. The web, worker, cron and release
# hosts keep their settings: they only know PgBouncer. When the old primary is back as a
# replica, point sanliang_replica at it again.
set -eu
new=$1 ini=${2:-/etc/pgbouncer/pgbouncer.ini} pidfile=${3:-}
sed -i -E "s/^(sanliang(_replica)? = host=)[^ ]+/\1$new/" "$ini"
grep -Eq "^sanliang = host=$new " "$ini"
if [ -n "$pidfile" ]; then kill -HUP "$(cat "$pidfile")"; else systemctl reload pgbouncer; fi
echo "PgBouncer now sends sanliang and sanliang_replica to $new"
