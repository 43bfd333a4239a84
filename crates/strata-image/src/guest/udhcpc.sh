#!/bin/sh
# udhcpc's hook in the strata guest: sets the leased address, static routes, the default route
# and the MTU on the interface.
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    # Classless static routes (option 121) first: the metadata service's route is one.
    set -- $staticroutes
    while [ $# -ge 2 ]; do ip route add "$1" via "$2" dev "$interface"; shift 2; done
    for r in $router; do ip route add default via "$r" dev "$interface"; break; done
    ;;
esac
exit 0
