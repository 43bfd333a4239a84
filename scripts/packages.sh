# Debian packages strata's scripts install, and the function that installs them. Sourced by
# scripts/demo and scripts/test; every install says what it installs.

# Building strata: a C compiler and linker for Rust (the Rust toolchain is expected present).
BUILD_PACKAGES=(gcc libc6-dev)
# The lab: images (debootstrap), hosts (systemd-nspawn), networks (ip), SSH, namespaces, and
# ping, with which `strata check` sees a floating IP answer from the deployer.
LAB_PACKAGES=(debootstrap systemd-container iproute2 openssh-client util-linux iputils-ping)
# The tests only: Debian's Chromium, the headless browser that watches the deploy's page, and
# strace, which records every command line a lab host runs (no secret may be on one).
TEST_PACKAGES=(chromium strace)

install_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "strata: system packages present: $*"
        return
    fi
    echo "strata: installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "strata: $1 runs as root (it installs packages and creates lab hosts)" >&2
        exit 2
    fi
}
