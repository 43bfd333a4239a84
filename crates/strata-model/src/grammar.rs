//! What each kind of spec value may look like, so that none can break out of a path, a
//! shell word or a configuration line on a host: every value that reaches one is checked
//! here, with an error that names the place and the rule, before any host is touched.

use strata_source::read::Spanned;
use strata_source::{Diagnostic, Diagnostics};

/// A disk as the spec may name it: `vdb`, `/dev/vdb`, `nvme0n1`, `disk/by-id/wwn-0x5000`.
/// Returns its one spelling (without `/dev/`), or `None` when it is no device name:
/// segments of letters, digits, `_`, `-`, `.`, `:` and `+` under /dev, none `.` or `..`.
pub(crate) fn device(name: &str) -> Option<String> {
    let rel = name.strip_prefix("/dev/").unwrap_or(name);
    let ok = !rel.is_empty()
        && rel.len() <= 255
        && rel.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && !seg.starts_with('-')
                && seg
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"_-.:+".contains(&c))
        });
    ok.then(|| rel.to_owned())
}

/// A Ceph pool, a Ceph client user, a Keystone region or an availability zone: letters,
/// digits, `_`, `-` and `.`, starting with a letter or digit, at most 63.
pub(crate) fn word(value: &str) -> bool {
    plain(value, 63, u8::is_ascii_alphanumeric)
}

/// 1 to `max` letters, digits, `_`, `-` and `.`, the first one that `first` accepts.
fn plain(value: &str, max: usize, first: fn(&u8) -> bool) -> bool {
    let b = value.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && first(&b[0])
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_-.".contains(c))
}

/// Checks `value` with `word`, reporting `what` at its place when it is not one.
pub(crate) fn check_word(value: &Spanned<String>, what: &str, diags: &mut Diagnostics) -> bool {
    let ok = word(&value.value);
    if !ok {
        diags.push(
            Diagnostic::error(
                value.loc,
                format!("{what} `{}` is not a valid name", value.value),
            )
            .with_help(
                "use 1 to 63 letters, digits, `_`, `-` and `.`, starting with a letter or digit",
            ),
        );
    }
    ok
}

/// A network interface name as Linux allows it: 1 to 15 letters, digits, `_`, `-`, `.`,
/// starting with a letter (so never an option, a path or `.`).
pub(crate) fn interface(value: &str) -> bool {
    plain(value, 15, u8::is_ascii_alphabetic)
}

/// An absolute path on the deployer: no `..`, no control characters.
pub(crate) fn absolute_path(value: &str) -> bool {
    value.starts_with('/')
        && !value.split('/').any(|seg| seg == "..")
        && !value.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_have_one_spelling_and_no_way_out_of_dev() {
        assert_eq!(device("vdb").as_deref(), Some("vdb"));
        assert_eq!(device("/dev/vdb").as_deref(), Some("vdb"));
        assert_eq!(
            device("disk/by-id/wwn-0x5000c5").as_deref(),
            Some("disk/by-id/wwn-0x5000c5")
        );
        for bad in [
            "",
            "/dev/",
            "../../etc/passwd",
            "vd b",
            "a/../b",
            "/etc/passwd",
            "vdb;rm",
            "$(x)",
            "-rf",
            "a//b",
            "vdb\n",
        ] {
            assert_eq!(device(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn interfaces_are_linux_names() {
        for good in ["eth1", "ens3f0", "bond0.100", "br-ex"] {
            assert!(interface(good), "{good}");
        }
        for bad in [
            "",
            "1eth",
            "-x",
            "a b",
            "eth1;x",
            "a/b",
            "sixteen-letters1",
            "$x",
        ] {
            assert!(!interface(bad), "{bad:?}");
        }
    }

    #[test]
    fn words_are_plain() {
        for good in ["images", "regionOne", "client.openstack", "nova", "dcn-0_a"] {
            assert!(word(good), "{good}");
        }
        for bad in ["", "-x", ".x", "a b", "a'b", "a;b", "a/b", "$x", "é"] {
            assert!(!word(bad), "{bad:?}");
        }
    }
}
