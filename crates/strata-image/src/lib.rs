//! Host images for the lab. An image is a root filesystem: a Debian bookworm base made by
//! debootstrap (cached by its own inputs) plus the packages a spec's services need, installed
//! once in a chroot. Images are named by a hash of every input, so the same inputs reuse an
//! image and a changed package set builds a new one. Images are never changed in place.

mod build;
mod guest;
mod inputs;
mod store;

pub use build::chroot;
pub use guest::GUEST_DIR;
pub use inputs::ImageInputs;
pub use store::{Image, ImageError, ImageStore, Manifest};

/// Packages every host image has: systemd as init, SSH for the deployer, and the tools the
/// lab and the engine use on a host.
pub const BASE_PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "iproute2",
    "iputils-ping",
    "procps",
    "python3",
    "ca-certificates",
];
