#!/usr/bin/env bash
# A private Open vSwitch for one chassis: its own ovsdb-server and ovs-vswitchd on the
# userspace (dummy) datapath, everything under one run directory. No kernel module, no
# system-wide state; `stop` ends exactly the daemons this script started, by pid.
#
#   ops/ovs/sandbox.sh start DIR   → prints OVS_RUNDIR=DIR and the OVSDB socket
#   ops/ovs/sandbox.sh stop DIR
#
# Every OVS tool finds this instance when OVS_RUNDIR=DIR (ovs-ofctl br-int → DIR/br-int.mgmt,
# ovs-appctl → DIR/ovs-vswitchd.<pid>.ctl). Keep DIR short: unix socket paths max ~100 bytes.
set -euo pipefail

cmd=${1:?usage: sandbox.sh start|stop DIR}
dir=${2:?usage: sandbox.sh start|stop DIR}
export OVS_RUNDIR=$dir OVS_LOGDIR=$dir OVS_DBDIR=$dir OVS_SYSCONFDIR=$dir

schema=${OVS_SCHEMA:-/usr/share/openvswitch/vswitch.ovsschema}

stop_pidfile() {
  local pidfile=$1
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    # A killed daemon may linger as a zombie until its parent (init) reaps it: that is gone.
    for _ in $(seq 50); do
      state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
      [ -z "$state" ] || [[ $state == Z* ]] && break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ -f "$dir/conf.db" ] || ovsdb-tool create "$dir/conf.db" "$schema"
    ovsdb-server "$dir/conf.db" \
      --remote="punix:$dir/db.sock" \
      --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
      --pidfile="$dir/ovsdb-server.pid" --unixctl="$dir/ovsdb-server.ctl" \
      --log-file="$dir/ovsdb-server.log" --detach --no-chdir
    ovs-vsctl --db="unix:$dir/db.sock" --no-wait init
    ovs-vswitchd "unix:$dir/db.sock" \
      --enable-dummy=override --disable-system --disable-system-route \
      --pidfile="$dir/ovs-vswitchd.pid" --unixctl="$dir/ovs-vswitchd.ctl" \
      --log-file="$dir/ovs-vswitchd.log" --detach --no-chdir
    echo "OVS_RUNDIR=$dir"
    echo "OVSDB=unix:$dir/db.sock"
    ;;
  stop)
    stop_pidfile "$dir/ovs-vswitchd.pid"
    stop_pidfile "$dir/ovsdb-server.pid"
    ;;
  *)
    echo "usage: sandbox.sh start|stop DIR" >&2
    exit 2
    ;;
esac
