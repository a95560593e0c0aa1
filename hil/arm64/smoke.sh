#!/usr/bin/env bash
# Sunlit arm64 smoke test: build (once) an arm64 Debian root with mmdebstrap, install Sunlit
# into a virtual environment there from PyPI's aarch64 wheels, and run the unit tests under
# qemu-user. It stands in for a Raspberry Pi or a Jetson when none is attached; see
# docs/arm64.md for what it covers, what it leaves out and why.
#
# Environment:
#   SUNLIT_ARM64_ROOT    where the root is kept between runs
#                        (default: ${XDG_CACHE_HOME:-~/.cache}/sunlit/arm64-root)
#   SUNLIT_ARM64_SUITE   Debian suite of the root (default: bookworm, as on Raspberry Pi OS)
#   SUNLIT_ARM64_MIRROR  Debian mirror URI (default: mmdebstrap's own)
#   SUNLIT_ARM64_CPU     core qemu emulates (default: cortex-a76, a Raspberry Pi 5; cortex-a72 is a
#                        Pi 4, neoverse-n1 is close to a Jetson Orin's Cortex-A78AE; see
#                        qemu-aarch64-static -cpu help)
#   SUNLIT_ARM64_CA      CA bundle pip trusts in the root (default: the host's)
#   SUNLIT_ARM64_REBUILD set to 1 to throw the cached root away and build it again
#   PYTEST_ARGS          extra arguments for pytest (e.g. "-x" or "-k abft")
#
# Arguments, if any, replace the selection in unit-tests.txt: smoke.sh tests/jobs -k abft
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROOT=${SUNLIT_ARM64_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/sunlit/arm64-root}
SUITE=${SUNLIT_ARM64_SUITE:-bookworm}
MIRROR=${SUNLIT_ARM64_MIRROR:-}
CPU=${SUNLIT_ARM64_CPU:-cortex-a76}
# The Debian side only brings the interpreter; Sunlit's dependencies come from PyPI as on a board.
PACKAGES=python3,python3-venv,python3-pip,ca-certificates
VENV=/opt/sunlit-venv        # inside the root
TREE=/root/sunlit            # inside the root
SELECTION="$HERE/unit-tests.txt"

die() { printf 'arm64-smoke: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'arm64-smoke: %s\n' "$*"; }
now() { date +%s; }

# --- prerequisites ----------------------------------------------------------------------------

check_tools() {
    [[ $EUID -eq 0 ]] || die "must run as root (mmdebstrap's root mode, mount and chroot" \
        "need it); try: sudo make arm64-smoke"
    local missing=() tool
    for tool in mmdebstrap unshare chroot mount tar; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    ((${#missing[@]} == 0)) || die "missing programs: ${missing[*]};" \
        "on Debian: apt-get install mmdebstrap qemu-user-static binfmt-support arch-test"
}

# Echo the binfmt_misc entry that runs aarch64 ELF binaries, or nothing.
aarch64_entry() {
    local f
    for f in /proc/sys/fs/binfmt_misc/*; do
        [[ -f $f && $f != */status && $f != */register ]] || continue
        grep -q '^magic 7f454c460201010000000000000000000200b700' "$f" 2>/dev/null \
            && grep -q '^enabled' "$f" && { echo "$f"; return; }
    done
    return 0
}

check_binfmt() {
    if [[ ! -e /proc/sys/fs/binfmt_misc/status ]]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
            || die "binfmt_misc is not mounted and cannot be mounted here (a container without" \
                "CAP_SYS_ADMIN or without the binfmt_misc module): arm64 binaries cannot run"
    fi
    [[ $(cat /proc/sys/fs/binfmt_misc/status) == enabled ]] \
        || echo 1 > /proc/sys/fs/binfmt_misc/status 2>/dev/null \
        || die "binfmt_misc is disabled and cannot be enabled"
    # Register the handler when it is installed but not registered (no binfmt service here).
    if [[ -z $(aarch64_entry) ]] && command -v update-binfmts >/dev/null; then
        update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    fi
    local conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    if [[ -z $(aarch64_entry) && -f $conf ]]; then
        grep -v '^#' "$conf" > /proc/sys/fs/binfmt_misc/register 2>/dev/null || true
    fi
    local entry
    entry=$(aarch64_entry)
    [[ -n $entry ]] || die "no binfmt_misc handler for aarch64 binaries;" \
        "apt-get install qemu-user-static binfmt-support, then update-binfmts --enable qemu-aarch64"
    QEMU=$(sed -n 's/^interpreter //p' "$entry")
    # Without the F flag the kernel looks the interpreter up inside the chroot, so copy it in.
    if grep -q '^flags:.*F' "$entry"; then QEMU_COPY=0; else QEMU_COPY=1; fi
    [[ -x $QEMU ]] || die "binfmt handler $entry names $QEMU, which does not exist"
    say "binfmt: $entry -> $QEMU"
}

# --- the root -----------------------------------------------------------------------------------

root_key() { printf 'suite=%s mirror=%s packages=%s\n' "$SUITE" "$MIRROR" "$PACKAGES"; }

build_root() {
    local stamp="$ROOT/.sunlit-root"
    if [[ ${SUNLIT_ARM64_REBUILD:-0} != 1 && -f $stamp && $(cat "$stamp") == "$(root_key)" ]]; then
        say "root: cached at $ROOT"
        return
    fi
    local tmp="$ROOT.new"
    rm -rf --one-file-system "$tmp"
    mkdir -p "$(dirname "$ROOT")"
    say "root: building $SUITE arm64 into $ROOT (several minutes under emulation)"
    local mirror_args=()
    [[ -n $MIRROR ]] && mirror_args=("$MIRROR")
    # In a private mount namespace: the mounts mmdebstrap makes in the target vanish with it,
    # even when it is killed half-way.
    if ! unshare --mount --propagation private -- mmdebstrap --mode=root --variant=apt \
            --architectures=arm64 --include="$PACKAGES" --quiet "$SUITE" "$tmp" \
            "${mirror_args[@]}"; then
        rm -rf --one-file-system "$tmp"
        die "mmdebstrap could not build the root (see its messages above); it needs network" \
            "access to a Debian mirror (set SUNLIT_ARM64_MIRROR for a local one)"
    fi
    root_key > "$tmp/.sunlit-root"
    rm -rf --one-file-system "$ROOT"
    mv "$tmp" "$ROOT"
    ROOT_BUILT=1
}

# Run a command in the root, in private mount and pid namespaces: the mounts vanish and every
# process left behind is killed when it returns. bash stays the namespace's init so that it reaps
# the processes the tests orphan. unshare ignores SIGINT and SIGTERM, so it runs in the
# background where the trap below can SIGKILL it (and with it, the whole namespace).
in_root() {
    local rc=0
    # shellcheck disable=SC2016  # the inner script expands its own arguments
    unshare --mount --pid --fork --kill-child -- /bin/bash -euc '
        r=$1; shift
        mount -t proc proc "$r/proc"
        mount -t sysfs -o ro sysfs "$r/sys"
        mount --rbind /dev "$r/dev"
        mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm"
        mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
        chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb "$@" && rc=0 || rc=$?
        exit "$rc"
    ' in_root "$ROOT" PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" \
        "${ROOT_ENV[@]}" "$@" &
    UNSHARE_PID=$!
    wait "$UNSHARE_PID" || rc=$?
    UNSHARE_PID=
    return "$rc"
}

stop_root() {
    [[ -n ${UNSHARE_PID:-} ]] && kill -KILL "$UNSHARE_PID" 2>/dev/null
    return 0
}

prepare_root() {
    if ((QEMU_COPY)); then
        mkdir -p "$ROOT$(dirname "$QEMU")"
        cp "$QEMU" "$ROOT$QEMU"
    fi
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
    # The emulated core: a Cortex-A76 (Raspberry Pi 5) by default rather than qemu's "max", whose
    # SVE and SME would make OpenBLAS pick kernels that no Pi or Jetson runs.
    ROOT_ENV=("QEMU_CPU=$CPU")
    # pip in the root trusts what the host trusts (a site proxy that re-signs TLS, for one) and
    # goes through the same proxy, if any.
    local ca=${SUNLIT_ARM64_CA:-${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}}
    if [[ -f $ca ]]; then
        cp -L "$ca" "$ROOT/etc/ssl/certs/sunlit-host-ca.crt"
        ROOT_ENV+=(PIP_CERT=/etc/ssl/certs/sunlit-host-ca.crt)
    fi
    local var
    for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        [[ -n ${!var:-} ]] && ROOT_ENV+=("$var=${!var}")
    done
    local arch
    arch=$(in_root uname -m 2>&1) || die "the arm64 root does not run: $arch"
    [[ $arch == aarch64 ]] || die "uname -m in the root printed '$arch', not aarch64"
    say "uname -m in the root: $arch (emulated core: $CPU)"
}

# --- Sunlit ---------------------------------------------------------------------------------------

copy_tree() {
    rm -rf --one-file-system "$ROOT$TREE"
    mkdir -p "$ROOT$TREE"
    if git -C "$REPO" rev-parse --show-toplevel >/dev/null 2>&1; then
        # Tracked and untracked-but-not-ignored files that exist: the working tree as it is.
        (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' f; do [[ -f $f ]] && printf '%s\0' "$f"; done \
            | tar --null -T - -cf -) | tar -xf - -C "$ROOT$TREE"
    else
        tar -C "$REPO" --exclude=.venv --exclude=.git --exclude='*.egg-info' \
            --exclude=__pycache__ -cf - . | tar -xf - -C "$ROOT$TREE"
    fi
}

# The venv is kept with the root. When pyproject.toml changes, pip brings the same venv up to
# date (only what changed is fetched); SUNLIT_ARM64_REBUILD=1 starts from nothing.
install_sunlit() {
    local key stamp="$ROOT$VENV/.sunlit-venv" requirements=()
    key=$(cat "$REPO/pyproject.toml" "$HERE/requirements.py" | sha256sum | cut -d' ' -f1)
    if [[ -f $stamp && $(cat "$stamp") == "$key" ]]; then
        say "venv: up to date (pyproject.toml unchanged)"
        return
    fi
    if [[ ! -x $ROOT$VENV/bin/python ]]; then
        say "venv: creating $VENV"
        in_root python3 -m venv "$VENV" || die "python3 -m venv failed in the arm64 root"
    fi
    mapfile -t requirements < <(in_root python3 "$TREE/hil/arm64/requirements.py" \
        "$TREE/pyproject.toml") || die "could not read the test requirements from pyproject.toml"
    say "venv: installing Sunlit (editable) and ${requirements[*]} from PyPI"
    # Editable, as `make unit` installs it: the tree is copied to the same path on every run.
    # --no-compile: byte-compiling every installed module under emulation costs minutes; the
    # modules the tests import are compiled when first imported and kept with the root.
    in_root "$VENV/bin/python" -m pip install --no-compile --progress-bar off --prefer-binary \
        -e "$TREE" "${requirements[@]}" \
        || die "installing Sunlit and its dependencies in the arm64 root failed (see pip's" \
            "messages above); it needs network access to PyPI"
    echo "$key" > "$stamp"
}

report_platform() {
    in_root "$VENV/bin/python" -c '
import platform, sys
import numpy, zmq, msgpack, psutil
print("python", sys.version.split()[0], platform.machine(), platform.libc_ver())
print("numpy", numpy.__version__, "pyzmq", zmq.__version__, "libzmq", zmq.zmq_version(),
      "msgpack", msgpack.version, "psutil", psutil.__version__)
try:
    from threadpoolctl import threadpool_info
    for pool in threadpool_info():
        print("blas", pool.get("internal_api"), pool.get("version"), pool.get("architecture"))
except Exception as exc:  # report only, the tests decide
    print("blas: unknown:", exc)
'
    in_root sunlit-flight --help >/dev/null || die "sunlit-flight does not start in the arm64 root"
}

# Run the selection in unit-tests.txt, or the pytest arguments given on the command line instead.
run_tests() {
    local args=("$@")
    ((${#args[@]})) || mapfile -t args < <(grep -v -e '^\s*#' -e '^\s*$' "$SELECTION")
    # shellcheck disable=SC2016,SC2086  # inner script's own arguments; PYTEST_ARGS is split
    in_root /bin/sh -c 'cd "$0" && exec "$@"' "$TREE" \
        python -m pytest -q -p no:cacheprovider --timeout=900 "${args[@]}" ${PYTEST_ARGS:-}
}

main() {
    ROOT_ENV=()
    trap stop_root EXIT
    trap 'stop_root; die "interrupted"' INT TERM
    check_tools
    check_binfmt
    local t0 t1 t2 t3 rc=0
    ROOT_BUILT=0
    t0=$(now); build_root; prepare_root
    t1=$(now); copy_tree; install_sunlit; report_platform
    t2=$(now); run_tests "$@" || rc=$?
    t3=$(now)
    local how=cached
    ((ROOT_BUILT)) && how=built
    say "timings: root $((t1 - t0)) s ($how), install $((t2 - t1)) s, tests $((t3 - t2)) s"
    ((rc == 0)) || die "the unit tests failed under arm64 (pytest exit $rc)"
    say "passed"
}

main "$@"
