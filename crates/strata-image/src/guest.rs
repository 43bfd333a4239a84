//! The test guest an image can carry: a Debian kernel and a busybox initramfs, built from
//! Debian packages in the image's chroot (no cloud image can be downloaded everywhere), at
//! [`GUEST_DIR`]. A deploy registers it in Glance and `strata check` boots it.

use std::path::Path;

use crate::build::chroot;
use crate::ImageError;

/// Where an image keeps its guest: `vmlinuz`, `initrd.img` and `kernel-release`.
pub const GUEST_DIR: &str = "/usr/share/strata/guest";

/// The scripts the guest is made with, as (name in the chroot's /tmp, text). They are the
/// catalog's, which a controller without a guest (a real server) builds it with, so a lab
/// image and a server make the same guest. Their text is part of the image's key, so a
/// changed init makes a new image.
pub(crate) const SCRIPTS: [(&str, &str); 4] = [
    (
        "strata-guest-build.sh",
        include_str!("../../../catalog/templates/nova/guest/build.sh.j2"),
    ),
    (
        "strata-guest-initramfs.py",
        include_str!("../../../catalog/templates/nova/guest/initramfs.py.j2"),
    ),
    (
        "strata-guest-init.sh",
        include_str!("../../../catalog/templates/nova/guest/init.sh.j2"),
    ),
    (
        "strata-guest-udhcpc.sh",
        include_str!("../../../catalog/templates/nova/guest/udhcpc.sh.j2"),
    ),
];

/// Builds the guest from `packages` into the image at `root`.
pub(crate) fn build(root: &Path, packages: &[String]) -> Result<(), ImageError> {
    // The chroot's /tmp is a tmpfs of its own: the scripts go in with the command.
    let mut script = String::from("cd /tmp\n");
    for (name, text) in SCRIPTS {
        script.push_str(&format!(
            "cat > {name} <<'STRATA_GUEST_EOF'\n{text}STRATA_GUEST_EOF\n"
        ));
    }
    script.push_str("apt-get update -q >/dev/null && sh /tmp/strata-guest-build.sh");
    for p in packages {
        script.push_str(&format!(" {}", crate::build::shell_quote(p)));
    }
    script.push_str(" && apt-get clean && rm -rf /var/lib/apt/lists/*\n");
    chroot(root, &script)
}
