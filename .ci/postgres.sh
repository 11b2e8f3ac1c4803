# A throwaway PostgreSQL cluster for the benchmarks' PostgreSQL rows, by hand:
#
#     source .ci/postgres.sh && start_throwaway_postgres
#     python -m benchmarks.tags --postgres "$INSTAVIS_TEST_DATABASE_URL"
#     stop_throwaway_postgres
#
# (The tests need none of this: tests/store_engines.py starts a throwaway server of its own
# where the binaries are installed, and .ci/run only makes sure they are.)
#
# start_throwaway_postgres installs Debian's postgresql when it is missing, runs initdb into a
# fresh temporary folder owned by the postgres user (initdb refuses to run as root), starts the
# server with pg_ctl listening only on a Unix socket in that folder (no TCP port, so it can
# clash with nothing), creates a database and exports INSTAVIS_TEST_DATABASE_URL.
# stop_throwaway_postgres stops the server and removes the folder.

# The server binaries of the newest installed major version (Debian keeps them off PATH).
_newest_postgres_bindir() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
        fi
    done | sort -V | tail -n 1
}

start_throwaway_postgres() {
    local bindir
    bindir=$(_newest_postgres_bindir) || true
    if [ -z "$bindir" ]; then
        echo "== installing Debian's postgresql for the store tests"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq postgresql >/dev/null
        bindir=$(_newest_postgres_bindir)
    fi
    # As root the server must run as postgres; as any other user it runs as that user.
    local as_owner=()
    if [ "$(id -u)" -eq 0 ]; then
        as_owner=(runuser -u postgres --)
    fi
    local role
    role=$([ "$(id -u)" -eq 0 ] && echo postgres || id -un)

    THROWAWAY_PG_DIR=$(mktemp -d /tmp/instavis-pg.XXXXXX)
    THROWAWAY_PG_BIN=$bindir
    THROWAWAY_PG_AS=("${as_owner[@]}")
    chmod 700 "$THROWAWAY_PG_DIR"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$THROWAWAY_PG_DIR"
    fi
    "${as_owner[@]}" "$bindir/initdb" -D "$THROWAWAY_PG_DIR/data" -U "$role" -A trust \
        -E UTF8 --no-locale >"$THROWAWAY_PG_DIR/initdb.log" 2>&1 || {
        cat "$THROWAWAY_PG_DIR/initdb.log" >&2
        return 1
    }
    # listen_addresses='' : Unix socket only. fsync off: a throwaway cluster need not survive a
    # power cut, and the tests commit often.
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$THROWAWAY_PG_DIR/data" -l "$THROWAWAY_PG_DIR/server.log" \
        -o "-c listen_addresses='' -c unix_socket_directories='$THROWAWAY_PG_DIR' -c fsync=off" \
        -w -t 60 start >/dev/null || {
        cat "$THROWAWAY_PG_DIR/server.log" >&2
        return 1
    }
    "${as_owner[@]}" "$bindir/createdb" -h "$THROWAWAY_PG_DIR" -U "$role" instavis_test
    export INSTAVIS_TEST_DATABASE_URL="postgresql+psycopg://$role@/instavis_test?host=$THROWAWAY_PG_DIR"
    echo "== PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on $THROWAWAY_PG_DIR"
}

stop_throwaway_postgres() {
    if [ -z "${THROWAWAY_PG_DIR:-}" ]; then
        return 0
    fi
    if [ -f "$THROWAWAY_PG_DIR/data/postmaster.pid" ]; then
        "${THROWAWAY_PG_AS[@]}" "$THROWAWAY_PG_BIN/pg_ctl" -D "$THROWAWAY_PG_DIR/data" \
            -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$THROWAWAY_PG_DIR"
}
