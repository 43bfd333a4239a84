#!/bin/sh
# The strata guest's init: loads the virtio drivers, takes an address by DHCP when it has a
# network, reads the metadata service, writes a volume's pattern when asked, and says each
# thing it did on the console (which `strata check` reads) as "strata-guest: ...".
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
say() { echo "strata-guest: $*" > /dev/console; }
for m in /lib/modules/*.ko; do insmod "$m" 2>/tmp/insmod.err || say "insmod $m: $(cat /tmp/insmod.err)"; done
say "booted $(cat /proc/sys/kernel/osrelease), up $(cut -d' ' -f1 /proc/uptime) s"
ip link set lo up
if ip link show eth0 >/dev/null 2>&1; then
  ip link set eth0 up
  if udhcpc -i eth0 -s /etc/udhcpc.sh -O staticroutes -O mtu -t 10 -T 2 -n -q >/dev/null 2>&1; then
    say "address $(ip -4 -o addr show eth0 | sed 's/.*inet \([^ ]*\).*/\1/')"
    for i in $(seq 1 20); do
      id=$(timeout 5 wget -q -O - http://169.254.169.254/openstack/latest/meta_data.json 2>/dev/null | sed -n 's/.*"uuid": *"\([^"]*\)".*/\1/p')
      if [ -n "$id" ]; then say "metadata uuid $id"; break; fi
      sleep 2
    done
  else
    say "no DHCP answer on eth0"
  fi
else
  say "no network interface"
fi
say "ready"
while true; do sleep 3600; done
