# Builds the guest that strata boots to prove compute works: a Debian kernel and a busybox
# initramfs, from the packages named in "$@" (a kernel metapackage is followed to its real
# package). Runs in the image's chroot; writes /usr/share/strata/guest/{vmlinuz,initrd.img}.
set -eu
OUT=/usr/share/strata/guest
W=/tmp/strata-guest
rm -rf "$W" && mkdir -p "$W/debs" "$W/x" && chmod 0777 "$W/debs"  # apt downloads as _apt
cd "$W/debs"
for p in "$@"; do
  real=$(apt-cache depends "$p" | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1)
  apt-get download -q "${real:-$p}" >/dev/null
done
for d in "$W"/debs/*.deb; do dpkg-deb -x "$d" "$W/x"; done
python3 /tmp/strata-guest-initramfs.py "$W/x" "$W/initrd.img"
mkdir -p "$OUT"
cp "$W"/x/boot/vmlinuz-* "$OUT/vmlinuz"
cp "$W/initrd.img" "$OUT/initrd.img"
ls "$W"/x/boot/vmlinuz-* | sed 's|.*/vmlinuz-||' > "$OUT/kernel-release"
rm -rf "$W"
