#!/usr/bin/env bash
# A local Ferro devnet on loopback: one seed server (HTTP and DNS) and three full nodes,
# node 1 mining.
#
#   scripts/devnet.sh up       build (release), start what is not running, wait until ready
#   scripts/devnet.sh status   what runs, with heights and peers
#   scripts/devnet.sh down     stop exactly the processes `up` started
#
# Everything lives in one folder (DEVNET_DIR, default ./devnet at the repository root):
# chains and the seed's list (kept across down/up), logs, and PID files. docs/devnet.md
# describes it; the environment variables below change ports and behaviour.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

DEVNET_DIR="${DEVNET_DIR:-$ROOT/devnet}"
SEED_PORT="${DEVNET_SEED_PORT:-7000}"
# The seed's DNS side (UDP and TCP) on a high port on loopback, for its zone.
DNS_PORT="${DEVNET_DNS_PORT:-7053}"
DNS_ZONE="${DEVNET_DNS_ZONE:-seed.devnet.ferro.}"
read -r -a NODE_PORTS <<<"${DEVNET_NODE_PORTS:-8001 8002 8003}"
# The faucet address by default: mined coins go to the wallet everyone can restore.
MINER_ADDRESS="${DEVNET_MINER_ADDRESS:-fdev18gk5z3dy7zv9ywe7synlrk58elz4hrne4qxxq6}"
# Seconds between sync and peer discovery rounds of the nodes, and between the seed's
# re-probes of listed nodes.
SYNC_INTERVAL="${DEVNET_SYNC_INTERVAL:-2}"
PROBE_INTERVAL="${DEVNET_PROBE_INTERVAL:-10}"
# How long `up` waits for the network to be ready, and `down` for a graceful stop.
START_TIMEOUT="${DEVNET_START_TIMEOUT:-60}"
STOP_TIMEOUT="${DEVNET_STOP_TIMEOUT:-20}"
# DEVNET_BUILD=0 skips `cargo build --release --workspace` (use the binaries as they are).
BUILD="${DEVNET_BUILD:-1}"

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ $TARGET_DIR == /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
# DEVNET_BIN_DIR runs other builds (e.g. target/debug with DEVNET_BUILD=0).
BIN_DIR="${DEVNET_BIN_DIR:-$TARGET_DIR/release}"
# Absolute paths: they are matched against /proc/PID/cmdline to recognise our processes.
[[ $BIN_DIR == /* ]] || BIN_DIR="$PWD/$BIN_DIR"
[[ $DEVNET_DIR == /* ]] || DEVNET_DIR="$PWD/$DEVNET_DIR"

FAUCET_MNEMONIC="abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
LOG_DIR="$DEVNET_DIR/logs"
PID_DIR="$DEVNET_DIR/pids"
NODE_COUNT=${#NODE_PORTS[@]}

die() {
    echo "devnet: $*" >&2
    exit 1
}

# Components are "seed", "node1", "node2", ...
components() {
    echo seed
    local i
    for ((i = 1; i <= NODE_COUNT; i++)); do echo "node$i"; done
}

binary_of() { [[ $1 == seed ]] && echo dns_seed || echo full_node; }

port_of() {
    if [[ $1 == seed ]]; then echo "$SEED_PORT"; else echo "${NODE_PORTS[${1#node} - 1]}"; fi
}

url_of() { echo "http://127.0.0.1:$(port_of "$1")"; }

pid_file() { echo "$PID_DIR/$1.pid"; }

# The PID of a component if it is running *and* is the process we started: the PID file
# names it, /proc/PID/cmdline runs our binary and mentions this devnet's folder (a PID
# reused by an unrelated process after a reboot is never touched).
running_pid() {
    local file pid cmdline
    file="$(pid_file "$1")"
    [[ -f $file ]] || return 1
    pid="$(<"$file")"
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ $cmdline == "$BIN_DIR/$(binary_of "$1") "* && $cmdline == *"$DEVNET_DIR/"* ]] || return 1
    echo "$pid"
}

# Something accepts connections on 127.0.0.1:PORT (bash's /dev/tcp, no extra tools).
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# GET a JSON document with a short timeout; empty output on failure.
fetch() {
    curl -fsS --max-time 2 "$1" 2>/dev/null || true
}

# The integer field $2 of the JSON object $1 (flat fields of /info are enough here).
json_int() {
    sed -n "s/.*\"$2\":\([0-9][0-9]*\).*/\1/p" <<<"$1"
}

start_component() {
    local name=$1 port bin pid
    port="$(port_of "$name")"
    bin="$BIN_DIR/$(binary_of "$name")"
    local args=()
    if [[ $name == seed ]]; then
        local genesis_hash
        genesis_hash="$(sed -n 's/^ *"hash": *"\([0-9a-f]\{64\}\)".*/\1/p' "$ROOT/genesis/devnet.json" | head -n 1)"
        [[ -n $genesis_hash ]] || die "cannot read the genesis hash from genesis/devnet.json"
        # Apex A answers list the nodes on the default port: node 1's (all nodes share
        # 127.0.0.1, so only one can be on it); SRV lists all three with their ports. The
        # crawler may probe loopback addresses (it probes public ones only by default).
        args=(--listen "127.0.0.1:$port" --data-file "$DEVNET_DIR/seed/nodes.json"
            --probe-interval "$PROBE_INTERVAL" --genesis-hash "$genesis_hash"
            --dns-listen "127.0.0.1:$DNS_PORT" --zone "$DNS_ZONE"
            --default-port "${NODE_PORTS[0]}" --crawl-allow 127.0.0.0/8)
        mkdir -p "$DEVNET_DIR/seed"
    else
        args=(--listen "127.0.0.1:$port" --data-dir "$DEVNET_DIR/$name"
            --seed "$(url_of seed)" --sync-interval "$SYNC_INTERVAL")
        if [[ $name == node1 ]]; then
            args+=(--mine --miner-address "$MINER_ADDRESS")
        fi
    fi
    (
        # Flags come from the command line only, never from inherited FULL_NODE_* /
        # DNS_SEED_* variables; logs are plain text (they go to files).
        while read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(FULL_NODE|DNS_SEED)_' || true)
        export NO_COLOR=1 RUST_LOG="${RUST_LOG:-info}"
        # setsid: its own session, so no terminal signal (Ctrl-C, hangup) reaches it.
        exec setsid "$bin" "${args[@]}" </dev/null >>"$LOG_DIR/$name.out" 2>>"$LOG_DIR/$name.log"
    ) &
    pid=$!
    echo "$pid" >"$(pid_file "$name")"
    STARTED+=("$name")
    echo "started $name (pid $pid) on $(url_of "$name")"
}

# A component this run started is still alive (it is our child: an exited one is a
# zombie until the script ends, hence the state check).
started_alive() {
    local pid state
    pid="$(<"$(pid_file "$1")")" || return 1
    state="$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" || return 1
    [[ -n $state && $state != Z ]]
}

# Polls until $1 (a command) succeeds, or fails after START_TIMEOUT seconds with $2.
wait_for() {
    local check=$1 what=$2 deadline=$((SECONDS + START_TIMEOUT))
    until $check; do
        local name
        for name in "${STARTED[@]}"; do
            if ! started_alive "$name"; then
                echo "devnet: $name exited; end of $LOG_DIR/$name.log:" >&2
                tail -n 15 "$LOG_DIR/$name.log" >&2 || true
                return 1
            fi
        done
        if ((SECONDS >= deadline)); then
            echo "devnet: timed out after ${START_TIMEOUT}s waiting until $what" >&2
            return 1
        fi
        sleep 0.2
    done
}

seed_ready() { [[ -n $(fetch "$(url_of seed)/health") ]]; }

all_nodes_answer() {
    local i
    for ((i = 1; i <= NODE_COUNT; i++)); do
        [[ -n $(fetch "$(url_of "node$i")/info") ]] || return 1
    done
}

all_nodes_have_peers() {
    local i peers
    for ((i = 1; i <= NODE_COUNT; i++)); do
        peers="$(json_int "$(fetch "$(url_of "node$i")/info")" peers)"
        [[ -n $peers ]] && ((peers >= NODE_COUNT - 1)) || return 1
    done
}

# Components this `up` started (stopped again if it fails).
STARTED=()

abort_up() {
    local status=$?
    trap - EXIT
    echo "devnet: start failed; stopping what this run started (logs in $LOG_DIR)" >&2
    local i reversed=()
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do reversed+=("${STARTED[$i]}"); done
    if ((${#reversed[@]} > 0)); then stop_components "${reversed[@]}"; fi
    exit $((status == 0 ? 1 : status))
}

cmd_up() {
    command -v curl >/dev/null || die "curl is needed to check the nodes"
    command -v setsid >/dev/null || die "setsid (util-linux) is needed to start the servers"
    ((NODE_COUNT >= 1)) || die "DEVNET_NODE_PORTS names no port"

    local to_start=() name
    for name in $(components); do
        if pid="$(running_pid "$name")"; then
            echo "$name already running (pid $pid)"
        else
            to_start+=("$name")
        fi
    done
    if ((${#to_start[@]} == 0)); then
        echo "devnet is already up"
        print_summary
        return 0
    fi

    # Fail before building or starting anything if a port we need is taken.
    local busy=()
    for name in "${to_start[@]}"; do
        if port_in_use "$(port_of "$name")"; then
            busy+=("$name: 127.0.0.1:$(port_of "$name")")
        fi
        if [[ $name == seed ]] && port_in_use "$DNS_PORT"; then
            busy+=("seed dns: 127.0.0.1:$DNS_PORT")
        fi
    done
    if ((${#busy[@]} > 0)); then
        printf 'devnet: port in use, cannot start %s\n' "${busy[@]}" >&2
        die "free the port(s) or choose others with DEVNET_SEED_PORT / DEVNET_DNS_PORT / DEVNET_NODE_PORTS"
    fi

    if [[ $BUILD != 0 ]]; then
        echo "building (cargo build --release --workspace) ..."
        (cd "$ROOT" && cargo build --release --workspace)
    fi
    for bin in dns_seed full_node; do
        [[ -x $BIN_DIR/$bin ]] || die "$BIN_DIR/$bin is missing (run without DEVNET_BUILD=0)"
    done

    mkdir -p "$LOG_DIR" "$PID_DIR"
    # Nothing in this folder belongs in git.
    [[ -f $DEVNET_DIR/.gitignore ]] || echo '*' >"$DEVNET_DIR/.gitignore"

    # If anything below fails, stop what this run started and show where to look.
    trap abort_up EXIT

    for name in "${to_start[@]}"; do
        start_component "$name"
        if [[ $name == seed ]]; then
            # Nodes register at startup: the seed must answer first.
            wait_for seed_ready "the seed answers $(url_of seed)/health"
        fi
    done
    wait_for all_nodes_answer "every node answers /info"
    wait_for all_nodes_have_peers "every node has $((NODE_COUNT - 1)) peers"
    trap - EXIT

    echo
    echo "devnet is up"
    print_summary
}

print_summary() {
    local i w
    w="$BIN_DIR/wallet"
    echo
    echo "seed:      $(url_of seed)   (GET /nodes, /health)"
    echo "seed dns:  dig @127.0.0.1 -p $DNS_PORT _ferro._tcp.$DNS_ZONE SRV +short"
    echo "           dig @127.0.0.1 -p $DNS_PORT $DNS_ZONE A +short   (nodes on port ${NODE_PORTS[0]})"
    for ((i = 1; i <= NODE_COUNT; i++)); do
        local role=""
        [[ $i == 1 ]] && role="   (mining to $MINER_ADDRESS)"
        echo "node $i:    $(url_of "node$i")$role"
    done
    echo "explorer:  $(url_of node1)/explorer/   (open it in a browser; live updates from /events)"
    echo "json api:  $(url_of node1)/info   (also /blocks/last, /richlist?limit=10, /addresses/ADDR)"
    echo "data+logs: $DEVNET_DIR"
    echo
    echo "faucet mnemonic (public, devnet only; premine spendable from height 10):"
    echo "  $FAUCET_MNEMONIC"
    echo
    echo "wallet examples:"
    echo "  export WALLET_PASSWORD=devnet"
    echo "  echo \"$FAUCET_MNEMONIC\" | $w --wallet $DEVNET_DIR/faucet.json --node $(url_of node1) restore"
    echo "  $w --wallet $DEVNET_DIR/me.json --node $(url_of node2) new"
    echo "  $w --wallet $DEVNET_DIR/me.json --node $(url_of node2) address"
    echo "  $w --wallet $DEVNET_DIR/faucet.json --node $(url_of node1) send --to <address> --amount 25 --yes"
    echo "  $w --wallet $DEVNET_DIR/me.json --node $(url_of node2) balance"
    echo
    echo "status: scripts/devnet.sh status    stop: scripts/devnet.sh down"
}

# SIGTERM each running component among "$@", wait for all, SIGKILL after STOP_TIMEOUT.
stop_components() {
    local name pid pids=() names=()
    for name in "$@"; do
        if pid="$(running_pid "$name")"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            names+=("$name")
            echo "stopping $name (pid $pid)"
        elif [[ -f $(pid_file "$name") ]]; then
            echo "$name not running (stale pid file removed)"
        fi
        rm -f "$(pid_file "$name")"
    done
    local deadline=$((SECONDS + STOP_TIMEOUT)) i alive
    while true; do
        alive=0
        for i in "${!pids[@]}"; do
            [[ -d /proc/${pids[$i]} ]] && alive=1
        done
        ((alive)) || break
        if ((SECONDS >= deadline)); then
            for i in "${!pids[@]}"; do
                if [[ -d /proc/${pids[$i]} ]]; then
                    echo "${names[$i]} (pid ${pids[$i]}) did not stop within ${STOP_TIMEOUT}s: SIGKILL" >&2
                    kill -KILL "${pids[$i]}" 2>/dev/null || true
                fi
            done
            break
        fi
        sleep 0.1
    done
}

cmd_down() {
    [[ -d $PID_DIR ]] || {
        echo "devnet is not running (no $PID_DIR)"
        return 0
    }
    # Nodes first, the seed last.
    local names
    mapfile -t names < <(components | tac)
    stop_components "${names[@]}"
    echo "devnet is down (data kept in $DEVNET_DIR; delete it to start from genesis)"
}

cmd_status() {
    local name pid info health up=0
    for name in $(components); do
        if pid="$(running_pid "$name")"; then
            up=$((up + 1))
            if [[ $name == seed ]]; then
                health="$(fetch "$(url_of seed)/health")"
                printf '%-6s running  pid %-7s %s  listed nodes %s, live %s\n' "$name" "$pid" \
                    "$(url_of "$name")" "$(json_int "$health" nodes)" "$(json_int "$health" live)"
            else
                info="$(fetch "$(url_of "$name")/info")"
                if [[ -n $info ]]; then
                    printf '%-6s running  pid %-7s %s  height %s, peers %s, mempool %s tx\n' \
                        "$name" "$pid" "$(url_of "$name")" "$(json_int "$info" height)" \
                        "$(json_int "$info" peers)" "$(json_int "$info" count)"
                else
                    printf '%-6s running  pid %-7s %s  (not answering /info)\n' "$name" "$pid" "$(url_of "$name")"
                fi
            fi
        else
            printf '%-6s stopped\n' "$name"
        fi
    done
    local total
    total=$(components | wc -l)
    echo "$up of $total running (folder $DEVNET_DIR)"
}

usage() {
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
-h | --help | help) usage ;;
*)
    usage >&2
    exit 2
    ;;
esac
