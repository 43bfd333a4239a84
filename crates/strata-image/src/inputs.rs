//! Everything an image is made from, and the key derived from it. Any change to an input,
//! or to how images are made (the format versions), gives a new key.

use serde::{Deserialize, Serialize};

/// Bump when the base is made differently (debootstrap options, files written into it).
const BASE_FORMAT: u32 = 1;
/// Bump when images are made differently from a base.
const IMAGE_FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInputs {
    pub suite: String,
    pub mirror: String,
    pub security_mirror: String,
    pub base_packages: Vec<String>,
    /// Packages of the services, sorted and without duplicates.
    pub packages: Vec<String>,
    /// debconf selections (`package question type value`), sorted.
    pub debconf: Vec<String>,
    /// Debian packages the test guest is built from (a kernel and busybox), sorted; none:
    /// the image carries no guest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guest: Vec<String>,
}

impl ImageInputs {
    /// Bookworm from deb.debian.org with the base packages and the given service packages.
    pub fn bookworm(
        packages: impl IntoIterator<Item = String>,
        debconf: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut packages: Vec<String> = packages.into_iter().collect();
        packages.sort();
        packages.dedup();
        let mut debconf: Vec<String> = debconf.into_iter().collect();
        debconf.sort();
        debconf.dedup();
        ImageInputs {
            suite: "bookworm".into(),
            mirror: "http://deb.debian.org/debian".into(),
            security_mirror: "http://deb.debian.org/debian-security".into(),
            base_packages: crate::BASE_PACKAGES.iter().map(|s| s.to_string()).collect(),
            packages,
            debconf,
            guest: Vec::new(),
        }
    }

    /// The same inputs, with a test guest built from `packages` (see [`crate::GUEST_DIR`]).
    pub fn with_guest(mut self, packages: impl IntoIterator<Item = String>) -> Self {
        let mut guest: Vec<String> = packages.into_iter().collect();
        guest.sort();
        guest.dedup();
        self.guest = guest;
        self
    }

    /// Names the base: suite, mirrors and base packages.
    pub fn base_key(&self) -> String {
        let text = format!(
            "base/{BASE_FORMAT}\n{}\n{}\n{}\n{}",
            self.suite,
            self.mirror,
            self.security_mirror,
            self.base_packages.join(",")
        );
        format!("{}-{:012x}", self.suite, fnv64(&text) >> 16)
    }

    /// Names the image: its base, its packages, debconf answers and guest.
    pub fn key(&self) -> String {
        let mut text = format!(
            "image/{IMAGE_FORMAT}\n{}\n{}\n{}",
            self.base_key(),
            self.packages.join(","),
            self.debconf.join("\n")
        );
        if !self.guest.is_empty() {
            let scripts: String = crate::guest::SCRIPTS.iter().map(|(_, t)| *t).collect();
            text.push_str(&format!(
                "\nguest/{:x}\n{}",
                fnv64(&scripts),
                self.guest.join(",")
            ));
        }
        format!("{}-{:012x}", self.suite, fnv64(&text) >> 16)
    }
}

/// FNV-1a: a stable hash to name things by their inputs (not for security).
pub(crate) fn fnv64(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_key_any_change_a_new_one() {
        let a = ImageInputs::bookworm(["memcached".into(), "haproxy".into()], []);
        let b = ImageInputs::bookworm(["haproxy".into(), "memcached".into(), "haproxy".into()], []);
        assert_eq!(a.key(), b.key(), "order and duplicates do not matter");
        let c = ImageInputs::bookworm(["haproxy".into()], []);
        assert_ne!(a.key(), c.key());
        assert_eq!(
            a.base_key(),
            c.base_key(),
            "same base for different package sets"
        );
        let d = ImageInputs::bookworm(
            ["haproxy".into()],
            ["keystone keystone/configure_db boolean false".into()],
        );
        assert_ne!(c.key(), d.key());
        assert!(a.key().starts_with("bookworm-"));
        let g = c
            .clone()
            .with_guest(["busybox-static".into(), "linux-image-amd64".into()]);
        assert_ne!(c.key(), g.key(), "a guest makes another image");
    }
}
