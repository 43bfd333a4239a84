#!/usr/bin/env bash
# What scripts/demo ends with, run on a controller of the deployed cloud (as root, with
# /root/openrc): in every availability zone that has computes, a server on its site's network
# with a volume of the same zone attached, both kept at that site. Arguments: SITE:ZONE pairs.
# Leaves what an earlier run made in place (it is the demo's result).
set -euo pipefail
. /root/openrc
computes=$(openstack availability zone list --compute -f value -c 'Zone Name')
for pair in "$@"; do
  site=${pair%%:*}
  zone=${pair#*:}
  grep -qx -- "$zone" <<< "$computes" || continue
  server=demo-$site
  volume=demo-vol-$site
  if ! openstack volume show "$volume" >/dev/null 2>&1; then
    openstack volume create --size 1 --availability-zone "$zone" "$volume" >/dev/null
  fi
  for _ in $(seq 90); do
    status=$(openstack volume show -f value -c status "$volume")
    [ "$status" = available ] || [ "$status" = in-use ] && break
    sleep 2
  done
  if ! openstack server show "$server" >/dev/null 2>&1; then
    openstack server create --image strata-guest --flavor strata.tiny --network "$site-net" \
      --availability-zone "$zone" --wait "$server" >/dev/null
  fi
  if [ "$(openstack volume show -f value -c status "$volume")" = available ]; then
    openstack server add volume "$server" "$volume" >/dev/null
  fi
  for _ in $(seq 60); do
    [ "$(openstack volume show -f value -c status "$volume")" = in-use ] && break
    sleep 2
  done
  echo "zone $zone: server $server $(openstack server show -f value -c status "$server") on" \
    "$(openstack server show -f value -c addresses "$server"), volume $volume" \
    "$(openstack volume show -f value -c status "$volume")"
done
