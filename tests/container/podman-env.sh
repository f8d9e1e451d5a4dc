# tests/container/podman-env.sh - sourced by the container tests: Debian's
# podman, buildah and runc with configuration and storage of their own in a
# cache directory outside the clone (DG_CONTAINER_CACHE, default
# /var/cache/demotion-guard/container); /etc is never edited.  Sets
# CONTAINERS_CONF and CONTAINERS_STORAGE_CONF, and defines:
#   ensure_base   import docker.io/library/debian:bookworm-slim from a
#                 debootstrap --variant=minbase of bookworm (once; no registry)
#   pm ARGS       podman with a time bound (PM_TIMEOUT seconds, default 300)
# Needs root (debootstrap, overlay storage).

CACHE=${DG_CONTAINER_CACHE:-/var/cache/demotion-guard/container}
BASE_IMAGE=docker.io/library/debian:bookworm-slim
MIRROR=${DG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$CACHE/storage" "$CACHE/run" "$CACHE/tmp"
chmod 0700 "$CACHE"

# Written each time, so a change here reaches a cached directory.
cat >"$CACHE/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$CACHE/storage"
runroot = "$CACHE/run"
CONF
# The default RLIMIT_NOFILE (1048576) needs CAP_SYS_RESOURCE, which this
# host does not give; crun refuses its hybrid cgroups, runc does not.
cat >"$CACHE/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$CACHE/events.log"
tmp_dir = "$CACHE/run/libpod"
image_copy_tmp_dir = "$CACHE/tmp"
CONF
export CONTAINERS_CONF=$CACHE/containers.conf
export CONTAINERS_STORAGE_CONF=$CACHE/storage.conf
export TMPDIR=$CACHE/tmp

pm() {
    timeout --kill-after=10 "${PM_TIMEOUT:-300}" podman "$@"
}

ensure_base() {
    pm image exists "$BASE_IMAGE" && return 0
    local root=$CACHE/bookworm.tmp
    rm -rf "$root"
    echo "container: debootstrap --variant=minbase bookworm (once, cached in $CACHE)"
    timeout 900 debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 || {
        tail -n 20 "$CACHE/debootstrap.log" >&2
        rm -rf "$root"
        echo "container: debootstrap failed (log: $CACHE/debootstrap.log)" >&2
        return 1
    }
    # What Debian's slim images leave out (debuerreotype's "slimify"): apt's
    # lists and caches, manual pages, documentation but the copyright files,
    # locales; and dpkg told to leave them out of later installs too.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
        "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
        "$root"/usr/share/groff/* "$root"/usr/share/lintian/* "$root"/usr/share/linda/* \
        "$root"/var/log/*.log "$root"/var/log/apt/*
    find "$root"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
    find "$root"/usr/share/doc -mindepth 1 -type d -empty -delete
    cat >"$root"/etc/dpkg/dpkg.cfg.d/docker <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CFG
    printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' >"$root"/etc/apt/apt.conf.d/docker-clean
    tar -C "$root" -c . | pm import --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null || {
        rm -rf "$root"
        return 1
    }
    rm -rf "$root"
}
