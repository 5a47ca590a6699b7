#!/usr/bin/env bash
# bench.sh — compare burrow with OpenSSH on loopback, side by side, in one run.
#
# Port-forward section: direct TCP | OpenSSH -L (aes128-gcm) | OpenSSH -L
# (chacha20-poly1305) | a bare relay along burrow's hops, without and with
# TLS (the floor any design of that shape hits here) | burrow port-forward.
# Metrics: iperf3 1 and 8 streams,
# 64-byte ping-pong RTT, new connections/s, forwarder CPU seconds per GB.
#
# SSH section: OpenSSH to a throwaway local sshd | OpenSSH to it through a bare
# TLS relay along burrow's hops (a reference) | OpenSSH through
# burrow (the `burrow ssh-config` entry: ProxyCommand `burrow proxy`) | burrow
# ssh / cp.
# Metrics: `ssh TARGET true` wall time, 1 GiB upload and download (scp, burrow
# cp), keystroke echo latency on a terminal.
#
# Measurement helpers live in cmd/burrow-bench.
#
# Usage: scripts/bench.sh [options]   (run with --help for the list)
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/bench.sh [options]

Measures on loopback, in one run, and prints a markdown table (also written
to OUT/bench-results.md):
  forward: direct TCP, ssh -N -L (aes128-gcm and chacha20-poly1305) to a
           throwaway sshd, a bare relay along burrow's hops without and
           with TLS (the floor), and burrow (burrow dev + burrow
           port-forward);
  ssh:     OpenSSH to that sshd vs OpenSSH through burrow (burrow ssh-config)
           vs burrow ssh / burrow cp: `ssh TARGET true` time, 1 GiB scp up
           and down, keystroke echo latency; next to two references:
           OpenSSH to that sshd with `ProxyCommand nc` (what the
           ProxyCommand shape alone costs) and through a bare TLS relay
           along burrow's hops;
  gateway: OpenSSH to that sshd vs `ssh -J` / `scp -J` through burrow's SSH
           gateway on the main port and on the plain --ssh-listen port:
           `ssh TARGET true` time, 1 GiB scp up and down, and the one-port
           sniffer's cost (main port / plain port); next to ssh -J with
           that sshd as its own jump host (OpenSSH alone, same shape).

Options:
  --out DIR          results directory (default: a new /tmp/burrow-bench.XXXXXX)
  --sections LIST    comma list of: forward,ssh,gateway (default: all three)
  --paths LIST       forward columns, comma list of:
                     direct,ssh-aes128-gcm,ssh-chacha20,floor-tcp,floor-tls,
                     burrow,burrow-upgrade (default: all seven). The floor
                     columns run a bare relay (burrow-bench relay) along
                     burrow's hops: what no design of that shape can beat
                     here, without crypto (tcp) and with TLS on both hops
  --burrow BIN       burrow binary to use (default: go build ./cmd/burrow;
                     if that fails the burrow columns are reported as n/a)
  --dev-agent MODE   how burrow dev's agent reaches its controller: tls
                     (default: TLS on loopback, as an agent on another
                     machine does, so burrow's hops all pay TLS as in a
                     deployment) or in-process (what plain `burrow dev`
                     does: no TLS on that hop)
  --quick            smaller runs everywhere (about a minute and a half);
                     options given explicitly still win
  --time SEC         iperf3 duration per test (default 5; quick 2)
  --streams N        parallel streams for the multi-stream test (default 8)
  --rtt-n N          ping-pong round trips (default 20000; quick 2000)
  --conns-n N        connections for the conns/s test (default 3000; quick 500)
  --conns-c N        concurrency for the conns/s test (default 8)
  --ssh-runs N       runs of `ssh TARGET true` per column (default 30; quick 10)
  --xfer-mib N       size of the transferred file in MiB (default 1024; quick 256)
  --xfer-runs N      rounds of transfers; the best of each is shown (default 2;
                     quick 1)
  --echo-n N         keystrokes timed per column (default 500; quick 200)
  --echo-gap MS      quiet time after every keystroke in ms (default 10)
  --keep             keep the scratch dir (keys, configs, logs, burrow data;
                     the transferred files are deleted anyway)
  -h, --help         this help

Needs: iperf3 (forward section), sshd, ssh, scp, ssh-keygen, go; nc
(netcat-openbsd) for the ProxyCommand reference. Installs nothing itself. Run as root: sshd then logs in as root, and burrow's dev
agent (running as root) lets the dev admin token log in as root. As another
user, sshd runs as that user and everything logs in as that user.
EOF
}

# ------------------------------------------------------------------ options
OUT=""
SECTIONS="forward,ssh,gateway"
PATHS="direct,ssh-aes128-gcm,ssh-chacha20,floor-tcp,floor-tls,burrow,burrow-upgrade"
BURROW_BIN=""
QUICK=0
DURATION="" STREAMS="" RTT_N="" CONNS_N="" CONNS_C=""
SSH_RUNS="" XFER_MIB="" XFER_RUNS="" ECHO_N="" ECHO_GAP=""
KEEP=0
DEV_AGENT=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--out) OUT="$2"; shift 2 ;;
	--out=*) OUT="${1#*=}"; shift ;;
	--sections) SECTIONS="$2"; shift 2 ;;
	--sections=*) SECTIONS="${1#*=}"; shift ;;
	--paths) PATHS="$2"; shift 2 ;;
	--paths=*) PATHS="${1#*=}"; shift ;;
	--burrow) BURROW_BIN="$2"; shift 2 ;;
	--burrow=*) BURROW_BIN="${1#*=}"; shift ;;
	--quick) QUICK=1; shift ;;
	--dev-agent) DEV_AGENT="$2"; shift 2 ;;
	--dev-agent=*) DEV_AGENT="${1#*=}"; shift ;;
	--time) DURATION="$2"; shift 2 ;;
	--time=*) DURATION="${1#*=}"; shift ;;
	--streams) STREAMS="$2"; shift 2 ;;
	--streams=*) STREAMS="${1#*=}"; shift ;;
	--rtt-n) RTT_N="$2"; shift 2 ;;
	--rtt-n=*) RTT_N="${1#*=}"; shift ;;
	--conns-n) CONNS_N="$2"; shift 2 ;;
	--conns-n=*) CONNS_N="${1#*=}"; shift ;;
	--conns-c) CONNS_C="$2"; shift 2 ;;
	--conns-c=*) CONNS_C="${1#*=}"; shift ;;
	--ssh-runs) SSH_RUNS="$2"; shift 2 ;;
	--ssh-runs=*) SSH_RUNS="${1#*=}"; shift ;;
	--xfer-mib) XFER_MIB="$2"; shift 2 ;;
	--xfer-mib=*) XFER_MIB="${1#*=}"; shift ;;
	--xfer-runs) XFER_RUNS="$2"; shift 2 ;;
	--xfer-runs=*) XFER_RUNS="${1#*=}"; shift ;;
	--echo-n) ECHO_N="$2"; shift 2 ;;
	--echo-n=*) ECHO_N="${1#*=}"; shift ;;
	--echo-gap) ECHO_GAP="$2"; shift 2 ;;
	--echo-gap=*) ECHO_GAP="${1#*=}"; shift ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
	esac
done
# set_default NAME NORMAL QUICK: unless NAME was given, set it to the value for this mode.
set_default() {
	[[ -z ${!1} ]] || return 0
	if ((QUICK)); then printf -v "$1" '%s' "$3"; else printf -v "$1" '%s' "$2"; fi
}
set_default DURATION 5 2
set_default STREAMS 8 8
set_default RTT_N 20000 2000
set_default CONNS_N 3000 500
set_default CONNS_C 8 8
set_default SSH_RUNS 30 10
set_default XFER_MIB 1024 256
set_default XFER_RUNS 2 1
set_default ECHO_N 500 200
set_default ECHO_GAP 10 10
for v in DURATION STREAMS RTT_N CONNS_N CONNS_C SSH_RUNS XFER_MIB XFER_RUNS ECHO_N ECHO_GAP; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: $v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
case "${DEV_AGENT:=tls}" in tls | in-process) ;;
*) echo "bench.sh: --dev-agent must be tls or in-process, got '$DEV_AGENT'" >&2; exit 2 ;;
esac
section() { [[ ",$SECTIONS," == *",$1,"* ]]; }
for p in ${SECTIONS//,/ }; do
	case "$p" in forward | ssh | gateway) ;;
	*) echo "bench.sh: unknown section '$p' in --sections" >&2; exit 2 ;;
	esac
done
section forward || PATHS=""
want() { [[ ",$PATHS," == *",$1,"* ]]; }
for p in ${PATHS//,/ }; do
	case "$p" in direct | ssh-aes128-gcm | ssh-chacha20 | floor-tcp | floor-tls | burrow | burrow-upgrade) ;;
	*) echo "bench.sh: unknown path '$p' in --paths" >&2; exit 2 ;;
	esac
done

# ------------------------------------------------------------------ prerequisites
SSHD=/usr/sbin/sshd
missing=()
if section forward; then command -v iperf3 >/dev/null || missing+=(iperf3); fi
[[ -x $SSHD ]] || missing+=(openssh-server)
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null && command -v scp >/dev/null || missing+=(openssh-client)
if ((${#missing[@]})); then
	echo "bench.sh: missing tools; install them with:" >&2
	echo "  apt-get install -y ${missing[*]}" >&2
	exit 1
fi
for t in go timeout ps getent df sync; do
	command -v "$t" >/dev/null || { echo "bench.sh: '$t' is required but not on PATH" >&2; exit 1; }
done

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /tmp/burrow-bench-work.XXXXXX)
if [[ -z $OUT ]]; then OUT=$(mktemp -d /tmp/burrow-bench.XXXXXX); fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RES="$OUT/raw"
rm -rf "$RES"
mkdir -p "$RES"

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

# ------------------------------------------------------------------ process bookkeeping
PIDS=()

# descendants PID: print PID's descendants (children first-level order, recursive).
descendants() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

# stop_tree PID: TERM the process and all its descendants, KILL after 3s.
stop_tree() {
	local root=$1 all p i
	kill -0 "$root" 2>/dev/null || return 0
	mapfile -t all < <(echo "$root"; descendants "$root")
	kill -TERM "${all[@]}" 2>/dev/null || true
	for ((i = 0; i < 30; i++)); do
		local alive=0
		for p in "${all[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	kill -KILL "${all[@]}" 2>/dev/null || true
	wait "$root" 2>/dev/null || true
}

# run CMD...: run a (possibly long) step in the background and wait for it,
# so that a signal interrupts the wait at once and cleanup stops the step.
FG_PID=""
run() {
	local rc=0
	"$@" &
	FG_PID=$!
	wait "$FG_PID" || rc=$?
	FG_PID=""
	return "$rc"
}

cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	[[ -z $FG_PID ]] || stop_tree "$FG_PID"
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_tree "${PIDS[i]}"
	done
	if ((KEEP)); then
		log "scratch dir kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: run CMD in the background, log to $WORK/NAME.log, set $LAST_PID.
start() {
	local name=$1
	shift
	"$@" >"$WORK/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# ------------------------------------------------------------------ helper binary
log "building cmd/burrow-bench"
BB="$WORK/burrow-bench"
(cd "$REPO" && go build -o "$BB" ./cmd/burrow-bench)

freeport() { "$BB" freeport -n "${1:-1}"; }
waitport() { "$BB" waitport -addr "127.0.0.1:$1" -timeout "${2:-20s}"; }
# wait_listen PID PORT SECONDS: wait for PORT to accept, giving up early if PID exits.
wait_listen() {
	local i
	for ((i = 0; i < $3 * 2; i++)); do
		"$BB" waitport -addr "127.0.0.1:$2" -timeout 500ms 2>/dev/null && return 0
		kill -0 "$1" 2>/dev/null || return 1
	done
	return 1
}

# ------------------------------------------------------------------ load
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOADAVG_START%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	log "warning: load average is $LOADAVG_START on $(nproc) CPUs; results will be noisy"
fi

# note DIR MSG: record a problem shown under the table.
note() { echo "$2" >>"$1/errors"; log "${1#"$RES"/}: $2"; }

mark() { mkdir -p "$RES/$1"; echo "$2" >"$RES/$1/label"; echo "$3" >"$RES/$1/status"; log "$1: $3"; }

# ------------------------------------------------------------------ throwaway sshd
# One sshd serves both sections: ssh -L in the first, ssh/scp in the second.
SSHD_PID=""
SSHD_FAILED=0
start_sshd() {
	local user
	user=$(id -un)
	SSH_PORT=$(freeport)
	ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key" >/dev/null
	ssh-keygen -q -t ed25519 -N '' -f "$WORK/user_key" >/dev/null
	cp "$WORK/user_key.pub" "$WORK/authorized_keys"
	chmod 600 "$WORK/host_key" "$WORK/user_key" "$WORK/authorized_keys"
	cat >"$WORK/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $WORK/host_key
PidFile none
AuthorizedKeysFile $WORK/authorized_keys
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
PermitOpen any
PermitTTY yes
Subsystem sftp internal-sftp
UseDNS no
PrintMotd no
PrintLastLog no
Compression no
MaxStartups 100
LogLevel ERROR
EOF
	# The privilege-separation directory sshd insists on (normally created by systemd).
	if [[ ! -d /run/sshd && $(id -u) == 0 ]]; then mkdir -p /run/sshd && chmod 755 /run/sshd; fi
	$SSHD -t -f "$WORK/sshd_config" -p "$SSH_PORT" >"$WORK/sshd-config-test.log" 2>&1 || {
		cat "$WORK/sshd-config-test.log" >&2
		return 1
	}
	start sshd "$SSHD" -D -e -f "$WORK/sshd_config" -p "$SSH_PORT"
	SSHD_PID=$LAST_PID
	wait_listen "$SSHD_PID" "$SSH_PORT" 10 || { cat "$WORK/sshd.log" >&2; return 1; }
	SSH_USER=$user
	log "sshd on 127.0.0.1:$SSH_PORT (user $SSH_USER)"
}

# ensure_sshd: start the sshd unless it runs (or failed to start before).
ensure_sshd() {
	if [[ -n $SSHD_PID ]] && kill -0 "$SSHD_PID" 2>/dev/null; then return 0; fi
	((!SSHD_FAILED)) || return 1
	start_sshd && return 0
	SSHD_FAILED=1
	return 1
}

# ------------------------------------------------------------------ burrow dev
BURROW_VERSION="n/a"
BURROW_ERR=""
DEV_TARGET=bench
DEV_EXTRA=() # more arguments of `burrow dev`
DEV_AGENT_TLS_FLAG=0 # whether $BURROW_BIN's dev has --agent-tls
DEV_PORT=""  # its main port, set by start_burrow_dev

# ensure_burrow_bin: build cmd/burrow once unless --burrow was given.
# On failure BURROW_ERR says why.
ensure_burrow_bin() {
	if [[ -z $BURROW_BIN ]]; then
		log "building cmd/burrow"
		BURROW_BIN="$WORK/burrow"
		if ! run timeout 600 env -C "$REPO" go build -o "$BURROW_BIN" ./cmd/burrow >"$WORK/burrow-build.log" 2>&1; then
			BURROW_ERR="skipped: \`go build ./cmd/burrow\` failed: $(head -n3 "$WORK/burrow-build.log" | tr '\n' ' ' | head -c 300)"
			return 1
		fi
	fi
	[[ -x $BURROW_BIN ]] || { BURROW_ERR="skipped: $BURROW_BIN is not executable"; return 1; }
	BURROW_VERSION=$(timeout 10 "$BURROW_BIN" version 2>/dev/null | head -n1 || true)
	[[ -n $BURROW_VERSION ]] || BURROW_VERSION="n/a"
	# Binaries from before in-process dev agents have no --agent-tls: their
	# agent always uses TLS, whatever --dev-agent says.
	local help
	help=$(timeout 10 "$BURROW_BIN" dev --help 2>/dev/null || true)
	if [[ $help == *--agent-tls* ]]; then
		DEV_AGENT_TLS_FLAG=1
	elif [[ $DEV_AGENT == in-process ]]; then
		DEV_AGENT="tls (this binary predates in-process dev agents)"
	fi
}

# start_burrow_dev NAME: start `burrow dev` (target $DEV_TARGET) with a data
# dir of its own, select its "dev" context in $BURROW_CONFIG and wait until
# the target is online. Sets DEV_PID and TARGET, or BURROW_ERR and returns 1.
start_burrow_dev() {
	local name=$1 cport i tjson
	BURROW_ERR=""
	ensure_burrow_bin || return 1
	export BURROW_CONFIG="$WORK/burrow-config.yaml"
	cport=$(freeport)
	mkdir -p "$WORK/burrow-data-$name"
	local agent_args=()
	[[ $DEV_AGENT == tls && $DEV_AGENT_TLS_FLAG == 1 ]] && agent_args=(--agent-tls)
	start "burrow-dev-$name" "$BURROW_BIN" dev --log-level warn --data-dir "$WORK/burrow-data-$name" \
		--listen "127.0.0.1:$cport" --name "$DEV_TARGET" "${agent_args[@]}" "${DEV_EXTRA[@]}"
	DEV_PORT=$cport
	DEV_PID=$LAST_PID
	if ! wait_listen "$DEV_PID" "$cport" 30; then
		BURROW_ERR="failed: burrow dev never listened on 127.0.0.1:$cport: $(tail -n3 "$WORK/burrow-dev-$name.log" | tr '\n' ' ' | head -c 300)"
		return 1
	fi
	TARGET=""
	for ((i = 0; i < 60; i++)); do
		kill -0 "$DEV_PID" 2>/dev/null || break
		if tjson=$(timeout 10 "$BURROW_BIN" targets -o json 2>>"$WORK/burrow-targets.err"); then
			TARGET=$(printf '%s' "$tjson" | "$BB" pick-target 2>>"$WORK/burrow-targets.err" || true)
			[[ -n $TARGET ]] && break
		fi
		sleep 0.5
	done
	if [[ -z $TARGET ]]; then
		BURROW_ERR="failed: no online target from \`burrow targets -o json\` within 30s: $(tail -n2 "$WORK/burrow-targets.err" 2>/dev/null | tr '\n' ' ' | head -c 300)"
		return 1
	fi
	log "burrow: dev on 127.0.0.1:$cport, target '$TARGET'"
}

# ------------------------------------------------------------------ port-forward section
# measure ID LABEL LOCAL_IPERF_PORT LOCAL_ECHO_PORT [CPU_ROOT_PID...]
measure() {
	local id=$1 label=$2 ip=$3 ep=$4
	shift 4
	local d="$RES/$id" cpu_roots
	cpu_roots=$(IFS=,; echo "$*")
	mkdir -p "$d"
	echo "$label" >"$d/label"
	if ! waitport "$ip" 20s || ! waitport "$ep" 20s; then
		echo "failed: forwarded ports 127.0.0.1:$ip / :$ep never accepted connections" >"$d/status"
		return 0
	fi
	echo ok >"$d/status"
	local tmo=$((DURATION + 30))

	log "$id: iperf3 1 stream, ${DURATION}s"
	[[ -z $cpu_roots ]] || "$BB" cputime "$cpu_roots" >"$d/cpu_before.json" || note "$d" "cputime (before) failed"
	if ! run timeout -k 5 "$tmo" iperf3 -c 127.0.0.1 -p "$ip" -t "$DURATION" -J >"$d/iperf1.json" 2>"$d/iperf1.err"; then
		note "$d" "iperf3 1 stream failed or timed out: $(head -c 300 "$d/iperf1.err")"
		restart_iperf_server
	fi
	[[ -z $cpu_roots ]] || "$BB" cputime "$cpu_roots" >"$d/cpu_after.json" || note "$d" "cputime (after) failed"

	log "$id: iperf3 $STREAMS streams, ${DURATION}s"
	if ! run timeout -k 5 "$tmo" iperf3 -c 127.0.0.1 -p "$ip" -t "$DURATION" -P "$STREAMS" -J >"$d/iperf8.json" 2>"$d/iperf8.err"; then
		note "$d" "iperf3 -P $STREAMS failed or timed out: $(head -c 300 "$d/iperf8.err")"
		restart_iperf_server
	fi

	log "$id: RTT, $RTT_N x 64 B"
	run timeout -k 5 120 "$BB" rtt -addr "127.0.0.1:$ep" -n "$RTT_N" -size 64 >"$d/rtt.json" 2>"$d/rtt.err" ||
		note "$d" "rtt failed or timed out: $(head -c 300 "$d/rtt.err")"

	log "$id: new connections, $CONNS_N at concurrency $CONNS_C"
	run timeout -k 5 180 "$BB" conns -addr "127.0.0.1:$ep" -n "$CONNS_N" -c "$CONNS_C" -max-errors -1 >"$d/conns.json" 2>"$d/conns.err" ||
		note "$d" "conns failed or timed out: $(head -c 300 "$d/conns.err")"
}

start_iperf_server() {
	start iperf3-server iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT"
	IPERF_PID=$LAST_PID
	waitport "$IPERF_PORT" 10s
}
restart_iperf_server() {
	log "restarting iperf3 server"
	stop_tree "$IPERF_PID"
	start_iperf_server
}

# run_ssh ID LABEL CIPHER: ssh -N -L to the throwaway sshd
run_ssh() {
	local id=$1 label=$2 cipher=$3 lip lep ssh_pid
	read -r lip lep < <(freeport 2)
	start "ssh-$id" ssh -N -F /dev/null -i "$WORK/user_key" -p "$SSH_PORT" \
		-o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ExitOnForwardFailure=yes \
		-o Compression=no -o ServerAliveInterval=0 \
		-c "$cipher" \
		-L "127.0.0.1:$lip:127.0.0.1:$IPERF_PORT" \
		-L "127.0.0.1:$lep:127.0.0.1:$ECHO_PORT" \
		"$SSH_USER@127.0.0.1"
	ssh_pid=$LAST_PID
	if ! wait_listen "$ssh_pid" "$lip" 15; then
		mark "$id" "$label" "failed: ssh -L did not come up: $(tr '\n' ' ' <"$WORK/ssh-$id.log" | head -c 300)"
		stop_tree "$ssh_pid"
		return 0
	fi
	measure "$id" "$label" "$lip" "$lep" "$ssh_pid" "$SSHD_PID"
	stop_tree "$ssh_pid"
}

# run_floor ID LABEL SCHEME: `burrow-bench relay` along burrow's hops, one
# process standing for the CLI and one for burrow dev (controller hop and
# agent hop); SCHEME (tcp or tls) is the encryption of the two inner hops.
run_floor() {
	local id=$1 label=$2 s=$3 a1 a2 b1 b2 c1 c2 dev cli
	read -r a1 a2 b1 b2 c1 c2 < <(freeport 6)
	start "relay-$id-dev" "$BB" relay \
		-hop "$s://127.0.0.1:$b1=$s://127.0.0.1:$c1" -hop "$s://127.0.0.1:$c1=tcp://127.0.0.1:$IPERF_PORT" \
		-hop "$s://127.0.0.1:$b2=$s://127.0.0.1:$c2" -hop "$s://127.0.0.1:$c2=tcp://127.0.0.1:$ECHO_PORT"
	dev=$LAST_PID
	start "relay-$id-cli" "$BB" relay \
		-hop "tcp://127.0.0.1:$a1=$s://127.0.0.1:$b1" -hop "tcp://127.0.0.1:$a2=$s://127.0.0.1:$b2"
	cli=$LAST_PID
	local p
	for p in "$dev:$b1" "$dev:$b2" "$dev:$c1" "$dev:$c2" "$cli:$a1" "$cli:$a2"; do
		if ! wait_listen "${p%%:*}" "${p#*:}" 15; then
			mark "$id" "$label" "failed: burrow-bench relay did not listen on 127.0.0.1:${p#*:}: $(cat "$WORK/relay-$id-dev.log" "$WORK/relay-$id-cli.log" | tr '\n' ' ' | head -c 300)"
			stop_tree "$cli"
			stop_tree "$dev"
			return 0
		fi
	done
	measure "$id" "$label" "$a1" "$a2" "$dev" "$cli"
	stop_tree "$cli"
	stop_tree "$dev"
}

# pf_port LOG REMOTE N: the local port `burrow port-forward` printed for REMOTE
# ("Forwarding from 127.0.0.1:LOCAL -> TARGET:REMOTE"); falls back to the Nth
# 127.0.0.1:PORT in the output if no line names REMOTE.
pf_port() {
	local m
	m=$(grep -E "127\.0\.0\.1:[0-9]+.*[^0-9]$2([^0-9]|\$)" "$1" | grep -Eo '127\.0\.0\.1:[0-9]+' | head -n1 || true)
	[[ -n $m ]] || m=$(grep -Eo '127\.0\.0\.1:[0-9]+' "$1" | sed -n "$3p" || true)
	echo "${m##*:}"
}

# run_burrow PATH TRANSPORT: burrow dev + `burrow port-forward --transport TRANSPORT`
run_burrow() {
	local path=$1 transport=$2
	local label="burrow ($transport)" i
	if ! start_burrow_dev "$transport"; then
		mark "$path" "$label" "$BURROW_ERR"
		[[ -z ${DEV_PID:-} ]] || stop_tree "$DEV_PID"
		return 0
	fi
	local pf lip="" lep="" pflog="$WORK/burrow-port-forward-$transport.log"
	start "burrow-port-forward-$transport" "$BURROW_BIN" port-forward --transport "$transport" "$TARGET" "0:$IPERF_PORT" "0:$ECHO_PORT"
	pf=$LAST_PID
	for ((i = 0; i < 200; i++)); do
		lip=$(pf_port "$pflog" "$IPERF_PORT" 1)
		lep=$(pf_port "$pflog" "$ECHO_PORT" 2)
		[[ -n $lip && -n $lep ]] && break
		kill -0 "$pf" 2>/dev/null || break
		sleep 0.1
	done
	if [[ -z $lip || -z $lep ]]; then
		mark "$path" "$label" "failed: \`burrow port-forward $TARGET 0:$IPERF_PORT 0:$ECHO_PORT\` did not print two 127.0.0.1:PORT listeners within 20s: $(tr '\n' ' ' <"$pflog" | head -c 300)"
		stop_tree "$pf"
		stop_tree "$DEV_PID"
		return 0
	fi
	log "burrow: forwarding 127.0.0.1:$lip -> $IPERF_PORT, 127.0.0.1:$lep -> $ECHO_PORT"
	measure "$path" "$label" "$lip" "$lep" "$DEV_PID" "$pf"
	stop_tree "$pf"
	stop_tree "$DEV_PID"
}

forward_section() {
	read -r IPERF_PORT ECHO_PORT < <(freeport 2)
	start_iperf_server
	start echo-server "$BB" echo -listen "127.0.0.1:$ECHO_PORT"
	local echo_pid=$LAST_PID
	waitport "$ECHO_PORT" 10s
	log "targets: iperf3 on 127.0.0.1:$IPERF_PORT, echo on 127.0.0.1:$ECHO_PORT"

	if want direct; then
		measure direct "direct TCP" "$IPERF_PORT" "$ECHO_PORT"
	fi
	if want ssh-aes128-gcm || want ssh-chacha20; then
		if ensure_sshd; then
			if want ssh-aes128-gcm; then run_ssh ssh-aes128-gcm "ssh aes128-gcm" aes128-gcm@openssh.com; fi
			if want ssh-chacha20; then run_ssh ssh-chacha20 "ssh chacha20" chacha20-poly1305@openssh.com; fi
		else
			if want ssh-aes128-gcm; then mark ssh-aes128-gcm "ssh aes128-gcm" "failed: sshd did not start"; fi
			if want ssh-chacha20; then mark ssh-chacha20 "ssh chacha20" "failed: sshd did not start"; fi
		fi
	fi
	if want floor-tcp; then run_floor floor-tcp "relay floor, no crypto" tcp; fi
	if want floor-tls; then run_floor floor-tls "relay floor, TLS" tls; fi
	if want burrow; then run_burrow burrow gateway; fi # the default transport
	if want burrow-upgrade; then run_burrow burrow-upgrade upgrade; fi
	stop_tree "$echo_pid"
	stop_tree "$IPERF_PID"
}

# ------------------------------------------------------------------ SSH section
# Columns under $RES/ssh (see cmd/burrow-bench/report_ssh.go):
#   direct          OpenSSH client -> the throwaway sshd
#   proxy-nc        the same with `ProxyCommand nc` (reference: the least
#                   any ProxyCommand costs, no TLS and no relay)
#   floor-tls       the same through burrow-bench relay along burrow's hops
#                   (reference)
#   openssh-burrow  OpenSSH client with `burrow ssh-config`'s entry -> burrow
#                   proxy -> controller -> agent's built-in SSH server
#   burrow-cli      burrow ssh / burrow cp -> controller -> agent
SD="$RES/ssh"
SSH_COLS=(direct proxy-nc floor-tls openssh-burrow burrow-cli)
# The OpenSSH columns (`ssh -F FILE HOST`), in the order they take turns.
OSSH_COLS=(direct proxy-nc floor-tls openssh-burrow)
# The cipher preference of the reference columns: burrow's SSH servers steer
# OpenSSH to AES-GCM (internal/sshcert), so the references ask for it too.
REF_CIPHERS="aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com"
ECHO_CMD='stty raw -echo; echo READY; exec cat'

# Client command prefixes per column, and the host to name; set in ssh_section.
declare -A SSH_CFG SSH_HOST

ssh_col() { mkdir -p "$SD/$1"; echo "$2" >"$SD/$1/label"; }
ssh_status() { echo "$2" >"$SD/$1/status"; [[ $2 == ok ]] || log "ssh/$1: $2"; }

# write_direct_config: an OpenSSH config naming the throwaway sshd "direct",
# with its host key known, so both OpenSSH columns run `ssh -F FILE HOST`.
write_direct_config() {
	cat >"$WORK/ssh_config_direct" <<EOF
Host direct
    HostName 127.0.0.1
    Port $SSH_PORT
    User $SSH_USER
    IdentityFile $WORK/user_key
    IdentitiesOnly yes
    UserKnownHostsFile $WORK/known_hosts_direct
    StrictHostKeyChecking yes
EOF
	echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$WORK/host_key.pub")" >"$WORK/known_hosts_direct"
}

# ocmd COL PROG: set OCMD to the OpenSSH program PROG (ssh, scp) with COL's
# config and the options both OpenSSH columns share.
ocmd() { OCMD=("$2" -F "${SSH_CFG[$1]}" -o BatchMode=yes -o LogLevel=ERROR); }

# probe_cipher COL: record the cipher and key exchange OpenSSH negotiates.
probe_cipher() {
	local col=$1 out kex cipher
	out=$(timeout 30 ssh -F "${SSH_CFG[$col]}" -o BatchMode=yes -v "${SSH_HOST[$col]}" true 2>&1 </dev/null || true)
	kex=$(sed -n 's/.*kex: algorithm: \([^ ]*\).*/\1/p' <<<"$out" | head -n1)
	cipher=$(sed -n 's/.*kex: client->server cipher: \([^ ]*\).*/\1/p' <<<"$out" | head -n1)
	echo "${cipher:-?}, ${kex:-?}" >"$SD/$col/cipher"
}

# queue COL/NAME CMD...: add a command to the next interleaved measurement;
# its result goes to $SD/COL/NAME.json.
QKEYS=()
QARGV=()
queue() {
	local key=$1
	shift
	((${#QKEYS[@]} == 0)) || QARGV+=(---)
	QKEYS+=("$key")
	QARGV+=("$@")
}

# measure_queued WHAT TIMEOUT SUBCOMMAND [FLAG...]: run burrow-bench
# SUBCOMMAND (cmdtime or echolat) over the queued commands, which take turns,
# and file its JSON line for each. Failed runs are reported in the JSON
# lines; a missing line is noted here.
measure_queued() {
	local what=$1 tmo=$2 i key
	shift 2
	((${#QKEYS[@]})) || return 0
	log "ssh: $what, taking turns: ${QKEYS[*]}"
	run timeout -k 5 "$tmo" "$BB" "$@" -- "${QARGV[@]}" >"$SD/$what.jsonl" 2>"$SD/$what.err" || true
	for i in "${!QKEYS[@]}"; do
		key=${QKEYS[i]}
		sed -n "$((i + 1))p" "$SD/$what.jsonl" >"$SD/$key.json"
		[[ -s $SD/$key.json ]] || note "$SD/${key%/*}" "${key#*/}: no result: $(tail -c 300 "$SD/$what.err" | tr '\n' ' ')"
	done
	QKEYS=()
	QARGV=()
}

# xfer COL NAME ROUND DEST CMD...: (b) time one copy that creates DEST, then
# check DEST's SHA-256; a bad copy's time is dropped. The report shows the
# best round of each COL/NAME.
xfer() {
	local col=$1 name=$2 round=$3 dest=$4 got=""
	shift 4
	local out="$SD/$col/$name.r$round"
	rm -f "$dest"
	sync
	log "ssh/$col: $name ($XFER_HUMAN), round $round"
	if ! run timeout -k 5 900 "$BB" cmdtime -n 1 -warmup 0 -timeout 600s -bytes "$XFER_BYTES" -- "$@" >"$out.json" 2>"$out.err"; then
		# A failed copy is in the JSON line; no line means cmdtime itself died.
		[[ -s $out.json ]] || note "$SD/$col" "$name: no result: $(tail -c 300 "$out.err" | tr '\n' ' ')"
	elif ! got=$("$BB" sha256 "$dest" 2>&1) || [[ $got != "$XFER_SUM" ]]; then
		note "$SD/$col" "$name: the copy's SHA-256 is '$got', want $XFER_SUM; time dropped"
		rm -f "$out.json"
	fi
	rm -f "$dest"
}

# ssh_setup: sshd, burrow dev, both OpenSSH configs. Sets each column's
# status; returns 1 if nothing can be measured.
ssh_setup() {
	local c
	ssh_col direct "OpenSSH → local sshd"
	ssh_col proxy-nc "OpenSSH via ProxyCommand nc (reference)"
	ssh_col floor-tls "OpenSSH via a bare TLS relay (reference)"
	ssh_col openssh-burrow "OpenSSH via burrow (ssh-config)"
	ssh_col burrow-cli "burrow ssh / burrow cp"
	if ! ensure_sshd; then
		for c in "${SSH_COLS[@]}"; do ssh_status "$c" "failed: the throwaway sshd did not start (see $WORK/sshd.log)"; done
		return 1
	fi
	write_direct_config
	SSH_CFG[direct]="$WORK/ssh_config_direct"
	SSH_HOST[direct]=direct
	ssh_status direct ok
	setup_proxy_nc
	start_ssh_floor
	if ! start_burrow_dev ssh; then
		ssh_status openssh-burrow "$BURROW_ERR"
		ssh_status burrow-cli "$BURROW_ERR"
		return 0
	fi
	ssh_status burrow-cli ok
	echo "aes128-gcm@openssh.com, mlkem768x25519-sha256 (x/crypto defaults)" >"$SD/burrow-cli/cipher"
	if ! timeout 30 "$BURROW_BIN" ssh-config --write --ssh-config-file "$WORK/ssh_config_burrow" --context dev >"$WORK/ssh-config.log" 2>&1; then
		ssh_status openssh-burrow "failed: \`burrow ssh-config --write\`: $(tr '\n' ' ' <"$WORK/ssh-config.log" | head -c 300)"
		return 0
	fi
	SSH_CFG[openssh-burrow]="$WORK/ssh_config_burrow"
	SSH_HOST[openssh-burrow]=$TARGET
	ssh_status openssh-burrow ok
}

# setup_proxy_nc: the proxy-nc column, OpenSSH to the throwaway sshd with
# `ProxyCommand nc`: one process between ssh and the server, as burrow's
# `burrow proxy` is, but with no TLS, no relay and no Go runtime. What it
# loses against the direct column is what the ProxyCommand shape itself
# costs on this machine; no design reached through a ProxyCommand does
# better.
setup_proxy_nc() {
	if ! command -v nc >/dev/null; then
		ssh_status proxy-nc "skipped: no nc on PATH (apt-get install netcat-openbsd)"
		return 0
	fi
	sed -e 's/^Host direct$/Host proxy-nc/' "$WORK/ssh_config_direct" >"$WORK/ssh_config_proxy_nc"
	{
		echo "    ProxyCommand nc 127.0.0.1 $SSH_PORT"
		echo "    Ciphers $REF_CIPHERS"
	} >>"$WORK/ssh_config_proxy_nc"
	SSH_CFG[proxy-nc]="$WORK/ssh_config_proxy_nc"
	SSH_HOST[proxy-nc]=proxy-nc
	ssh_status proxy-nc ok
}

# start_ssh_floor: the floor-tls column, OpenSSH to the throwaway sshd
# through a bare relay along burrow's hops (burrow-bench relay: one process
# for `burrow proxy`, one for burrow dev's controller hop and, with
# --dev-agent tls, its agent hop; TLS on each), preferring the cipher
# burrow's ssh-config asks for. It relays what burrow's path relays and
# does nothing else, but the sshd behind it is one more process than
# burrow's path has (whose SSH server is in burrow dev), so it is a
# reference, not a floor.
FLOOR_PIDS=()
start_ssh_floor() {
	local a b c p hops
	read -r a b c < <(freeport 3)
	if [[ $DEV_AGENT == in-process ]]; then
		hops=(-hop "tls://127.0.0.1:$b=tcp://127.0.0.1:$SSH_PORT")
	else
		hops=(-hop "tls://127.0.0.1:$b=tls://127.0.0.1:$c" -hop "tls://127.0.0.1:$c=tcp://127.0.0.1:$SSH_PORT")
	fi
	start relay-ssh-dev "$BB" relay "${hops[@]}"
	FLOOR_PIDS+=("$LAST_PID")
	start relay-ssh-cli "$BB" relay -hop "tcp://127.0.0.1:$a=tls://127.0.0.1:$b"
	FLOOR_PIDS+=("$LAST_PID")
	for p in "${FLOOR_PIDS[0]}:$b" "${FLOOR_PIDS[1]}:$a"; do
		if ! wait_listen "${p%%:*}" "${p#*:}" 15; then
			ssh_status floor-tls "failed: burrow-bench relay did not listen on 127.0.0.1:${p#*:}: $(cat "$WORK/relay-ssh-dev.log" "$WORK/relay-ssh-cli.log" | tr '\n' ' ' | head -c 300)"
			return 0
		fi
	done
	sed -e 's/^Host direct$/Host floor/' -e "s/^    Port .*/    Port $a/" "$WORK/ssh_config_direct" >"$WORK/ssh_config_floor"
	echo "    Ciphers $REF_CIPHERS" >>"$WORK/ssh_config_floor"
	echo "[127.0.0.1]:$a $(cut -d' ' -f1,2 "$WORK/host_key.pub")" >>"$WORK/known_hosts_direct"
	SSH_CFG[floor-tls]="$WORK/ssh_config_floor"
	SSH_HOST[floor-tls]=floor
	ssh_status floor-tls ok
}

stop_ssh_floor() {
	local p
	for p in "${FLOOR_PIDS[@]}"; do stop_tree "$p"; done
	FLOOR_PIDS=()
}

# ssh_ok COL: whether COL can be measured.
ssh_ok() { [[ $(cat "$SD/$1/status") == ok ]]; }

# make_xfer_file: the file every transfer copies; sets XFER_SRC, XFER_SUM.
make_xfer_file() {
	local avail
	XFER_DIR="$WORK/xfer"
	mkdir -p "$XFER_DIR"
	avail=$(df --output=avail -B1 "$XFER_DIR" | tail -n1)
	if ((avail < XFER_BYTES * 5 / 2)); then
		log "only $avail bytes free in $XFER_DIR; a source and a copy of $XFER_BYTES bytes do not fit"
		return 1
	fi
	XFER_SRC="$XFER_DIR/src.bin"
	log "writing $XFER_HUMAN of pseudo-random data to $XFER_SRC"
	XFER_SUM=$("$BB" randfile -size "$XFER_BYTES" -out "$XFER_SRC")
}

# xfer_round ROUND: every transfer once.
xfer_round() {
	local r=$1 x=$XFER_DIR c
	for c in "${OSSH_COLS[@]}"; do
		ssh_ok "$c" || continue
		ocmd "$c" scp
		xfer "$c" up "$r" "$x/up.bin" "${OCMD[@]}" "$XFER_SRC" "${SSH_HOST[$c]}:$x/up.bin"
	done
	if ssh_ok burrow-cli; then xfer burrow-cli up "$r" "$x/up.bin" "$BURROW_BIN" cp -q "$XFER_SRC" "$TARGET:$x/up.bin"; fi
	for c in "${OSSH_COLS[@]}"; do
		ssh_ok "$c" || continue
		ocmd "$c" scp
		xfer "$c" down "$r" "$x/down.bin" "${OCMD[@]}" "${SSH_HOST[$c]}:$XFER_SRC" "$x/down.bin"
	done
	if ssh_ok burrow-cli; then xfer burrow-cli down "$r" "$x/down.bin" "$BURROW_BIN" cp -q "$TARGET:$XFER_SRC" "$x/down.bin"; fi
	for c in "${OSSH_COLS[@]}"; do
		ssh_ok "$c" || continue
		ocmd "$c" scp
		xfer "$c" up-aes "$r" "$x/up.bin" "${OCMD[@]}" -c aes128-gcm@openssh.com "$XFER_SRC" "${SSH_HOST[$c]}:$x/up.bin"
	done
}

ssh_section() {
	local c
	mkdir -p "$SD"
	ssh_setup || return 0
	for c in "${OSSH_COLS[@]}"; do
		if ssh_ok "$c"; then probe_cipher "$c"; fi
	done

	# (a) ssh TARGET true; also with the key exchange burrow's server
	# negotiates (curve25519-sha256; OpenSSH 9's default sntrup761x25519-sha512
	# costs the client tens of ms of CPU).
	for c in "${OSSH_COLS[@]}"; do
		ssh_ok "$c" || continue
		ocmd "$c" ssh
		queue "$c/true" "${OCMD[@]}" "${SSH_HOST[$c]}" true
		queue "$c/true-c25519" "${OCMD[@]}" -o KexAlgorithms=curve25519-sha256 "${SSH_HOST[$c]}" true
	done
	if ssh_ok burrow-cli; then queue burrow-cli/true "$BURROW_BIN" ssh "$TARGET" true; fi
	measure_queued true 1200 cmdtime -n "$SSH_RUNS" -warmup 2 -timeout 30s
	# For scale: the login shell alone, in an environment like the one sshd
	# gives it (no SHLVL, SSH_CLIENT set: bash then reads ~/.bashrc).
	local shell home
	shell=$(getent passwd "$SSH_USER" | cut -d: -f7)
	home=$(getent passwd "$SSH_USER" | cut -d: -f6)
	run "$BB" cmdtime -n "$SSH_RUNS" -warmup 2 -- env -i HOME="$home" USER="$SSH_USER" LOGNAME="$SSH_USER" \
		SHELL="${shell:-/bin/sh}" PATH=/usr/local/bin:/usr/bin:/bin SSH_CLIENT="127.0.0.1 40000 22" \
		"${shell:-/bin/sh}" -c true >"$SD/shell.json" 2>/dev/null || true

	# (b) 1 GiB up and down, the columns taking turns in each round
	if make_xfer_file; then
		local r
		for ((r = 1; r <= XFER_RUNS; r++)); do xfer_round "$r"; done
		rm -rf "$XFER_DIR"
	else
		for c in "${SSH_COLS[@]}"; do note "$SD/$c" "transfers skipped: not enough space in $WORK"; done
	fi

	# (c) keystroke echo
	for c in "${OSSH_COLS[@]}"; do
		ssh_ok "$c" || continue
		ocmd "$c" ssh
		queue "$c/echo" "${OCMD[@]}" -tt "${SSH_HOST[$c]}" "$ECHO_CMD"
	done
	if ssh_ok burrow-cli; then queue burrow-cli/echo "$BURROW_BIN" ssh -t "$TARGET" "$ECHO_CMD"; fi
	measure_queued echo 900 echolat -n "$ECHO_N" -gap "${ECHO_GAP}ms" -timeout 60s

	[[ -z ${DEV_PID:-} ]] || stop_tree "$DEV_PID"
	stop_ssh_floor
	{
		echo "references (not scored), both asking for aes128-gcm first as burrow's servers make OpenSSH do: (1) OpenSSH with \`ProxyCommand nc 127.0.0.1 PORT\` to the throwaway sshd: the one extra process a ProxyCommand puts between ssh and the server, with no TLS and no relay, so no ProxyCommand design beats it here; (2) OpenSSH through \`burrow-bench relay\` along burrow's hops (a process for \`burrow proxy\`, one for burrow dev; TLS on each of its $( [[ $DEV_AGENT == in-process ]] && echo 1 || echo 2) hop(s), as burrow dev's agent mode has) to the throwaway sshd. It relays what burrow's path relays, with no protocol of its own, but the sshd behind it is one process more than burrow's path has, so it is no floor"
		echo "target: \`burrow dev --name $DEV_TARGET\` (the agent's built-in SSH server) and a throwaway sshd (internal-sftp) on 127.0.0.1:$SSH_PORT; both log in as $SSH_USER"
		echo "\`ssh TARGET true\`: $SSH_RUNS runs per column after 2 warm-up runs; the columns take turns"
		echo "transfer size: $XFER_HUMAN"
		echo "transfers: scp (SFTP protocol) or burrow cp; best of $XFER_RUNS round(s), the columns taking turns; source and copies in the scratch dir"
		echo "echo: $ECHO_N keystrokes per column after 20 warm-up ones, into \`ssh -tt TARGET '$ECHO_CMD'\`; the sessions are open together and take turns, with ${ECHO_GAP} ms of quiet after every keystroke"
	} >"$SD/meta.txt"
}

# ------------------------------------------------------------------ gateway section
# Four columns under $RES/gateway (see cmd/burrow-bench/report_gateway.go):
#   direct     OpenSSH client -> the throwaway sshd
#   gw-main    ssh -J / scp -J through the gateway on burrow dev's main port
#              (SSH told from TLS by its first bytes) -> agent's SSH server
#   gw-plain   the same through the plain SSH port (--ssh-listen)
#   ossh-jump  the reference: ssh -J through the throwaway sshd to itself
GD="$RES/gateway"
GW_COLS=(direct gw-main gw-plain ossh-jump)

# gw_setup: sshd, burrow dev --ssh-listen, a certificate and an OpenSSH
# config naming both gateway ports. Returns 1 if nothing can be measured.
gw_setup() {
	local c gwport keys="$WORK/gw-keys"
	ssh_col direct "OpenSSH → local sshd"
	ssh_col gw-main "ssh -J gateway, main port"
	ssh_col gw-plain "ssh -J gateway, plain SSH port"
	ssh_col ossh-jump "ssh -J OpenSSH sshd (reference)"
	if ! ensure_sshd; then
		for c in "${GW_COLS[@]}"; do ssh_status "$c" "failed: the throwaway sshd did not start (see $WORK/sshd.log)"; done
		return 1
	fi
	write_direct_config
	SSH_CFG[direct]="$WORK/ssh_config_direct"
	SSH_HOST[direct]=direct
	ssh_status direct ok
	# The reference: OpenSSH's own jump host (the throwaway sshd) in front
	# of the same sshd, the topology of the gateway done by OpenSSH alone.
	SSH_CFG[ossh-jump]="$WORK/ssh_config_direct"
	SSH_HOST[ossh-jump]=direct
	ssh_status ossh-jump ok
	gwport=$(freeport)
	DEV_EXTRA=(--ssh-listen "127.0.0.1:$gwport")
	if ! start_burrow_dev gateway; then
		DEV_EXTRA=()
		for c in gw-main gw-plain; do ssh_status "$c" "$BURROW_ERR"; done
		return 0
	fi
	DEV_EXTRA=()
	if ! timeout 30 env SSH_AUTH_SOCK= "$BURROW_BIN" cert issue --ttl 2h --out "$keys" >"$WORK/cert-issue.log" 2>&1; then
		for c in gw-main gw-plain; do ssh_status "$c" "failed: \`burrow cert issue --out\`: $(tr '\n' ' ' <"$WORK/cert-issue.log" | head -c 300)"; done
		return 0
	fi
	# Host keys are not what is measured: the gateway's and the target's
	# are accepted unchecked.
	cat >"$WORK/ssh_config_gateway" <<EOF
Host gw-main
    HostName 127.0.0.1
    Port $DEV_PORT
    User jump
Host gw-plain
    HostName 127.0.0.1
    Port $gwport
    User jump
Host *
    IdentityFile $keys/id_ed25519
    CertificateFile $keys/id_ed25519-cert.pub
    IdentitiesOnly yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
EOF
	for c in gw-main gw-plain; do
		SSH_CFG[$c]="$WORK/ssh_config_gateway"
		SSH_HOST[$c]="$SSH_USER@$TARGET"
		ssh_status "$c" ok
	done
	log "gateway: main port 127.0.0.1:$DEV_PORT, plain SSH port 127.0.0.1:$gwport, target $TARGET"
}

# jump_of COL: the -J host of COL: none for direct, the throwaway sshd for
# the OpenSSH reference, else COL's gateway port.
jump_of() {
	case $1 in
	direct) ;;
	ossh-jump) echo direct ;;
	*) echo "$1" ;;
	esac
}

# gcmd COL PROG: OCMD for COL, with -J through COL's jump host.
gcmd() {
	ocmd "$1" "$2"
	local j
	j=$(jump_of "$1")
	[[ -z $j ]] || OCMD+=(-J "$j")
}

# probe_gw_cipher COL: record the ciphers OpenSSH negotiates, with -J
# first the jump connection's, then the target's.
probe_gw_cipher() {
	local col=$1 out jump=() j
	j=$(jump_of "$col")
	[[ -z $j ]] || jump=(-J "$j")
	out=$(timeout 30 ssh -F "${SSH_CFG[$col]}" -o BatchMode=yes -v "${jump[@]}" "${SSH_HOST[$col]}" true 2>&1 </dev/null || true)
	out=$(sed -n 's/.*kex: client->server cipher: \([^ ]*\).*/\1/p' <<<"$out" | paste -sd/ -)
	echo "${out:-?}" | sed 's|/| / |g' >"$SD/$col/cipher"
}

# gw_xfer_round ROUND: every transfer of the gateway section once.
gw_xfer_round() {
	local r=$1 x=$XFER_DIR c
	for c in "${GW_COLS[@]}"; do
		ssh_ok "$c" || continue
		gcmd "$c" scp
		xfer "$c" up "$r" "$x/up.bin" "${OCMD[@]}" "$XFER_SRC" "${SSH_HOST[$c]}:$x/up.bin"
	done
	for c in "${GW_COLS[@]}"; do
		ssh_ok "$c" || continue
		gcmd "$c" scp
		xfer "$c" down "$r" "$x/down.bin" "${OCMD[@]}" "${SSH_HOST[$c]}:$XFER_SRC" "$x/down.bin"
	done
}

gateway_section() {
	local c r
	SD=$GD # queue, measure_queued, xfer and the column helpers write under $SD
	mkdir -p "$SD"
	gw_setup || return 0
	for c in "${GW_COLS[@]}"; do
		ssh_ok "$c" || continue
		probe_gw_cipher "$c"
		gcmd "$c" ssh
		queue "$c/true" "${OCMD[@]}" "${SSH_HOST[$c]}" true
	done
	measure_queued true 1200 cmdtime -n "$SSH_RUNS" -warmup 2 -timeout 30s
	if make_xfer_file; then
		for ((r = 1; r <= XFER_RUNS; r++)); do gw_xfer_round "$r"; done
		rm -rf "$XFER_DIR"
	else
		for c in "${GW_COLS[@]}"; do note "$SD/$c" "transfers skipped: not enough space in $WORK"; done
	fi
	[[ -z ${DEV_PID:-} ]] || stop_tree "$DEV_PID"
	{
		echo "target: \`burrow dev --name $DEV_TARGET --ssh-listen ADDR\` (the agent's built-in SSH server behind the controller's SSH gateway) and a throwaway sshd (internal-sftp) on 127.0.0.1:$SSH_PORT; both log in as $SSH_USER"
		echo "\`ssh TARGET true\`: $SSH_RUNS runs per column after 2 warm-up runs; the columns take turns"
		echo "transfer size: $XFER_HUMAN"
		echo "transfers: scp (SFTP protocol), with -J through the gateway; best of $XFER_RUNS round(s), the columns taking turns"
		echo "reference: ssh -J through the throwaway sshd to itself, what OpenSSH alone gets with a jump host on this machine"
	} >"$SD/meta.txt"
}

# ------------------------------------------------------------------ run
XFER_BYTES=$((XFER_MIB * 1024 * 1024))
if ((XFER_MIB % 1024 == 0)); then XFER_HUMAN="$((XFER_MIB / 1024)) GiB"; else XFER_HUMAN="$XFER_MIB MiB"; fi
if section forward; then forward_section; fi
if section ssh; then ssh_section; fi
if section gateway; then gateway_section; fi
[[ -z $SSHD_PID ]] || stop_tree "$SSHD_PID"

# ------------------------------------------------------------------ report
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ), host: $(uname -srm), CPUs: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')), loadavg at start: $LOADAVG_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "burrow: git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty'), version: $BURROW_VERSION, burrow dev's agent: $DEV_AGENT"
	tools="$(ssh -V 2>&1 | cut -d, -f1), $(go version | cut -d' ' -f3)"
	if section forward; then tools="$(iperf3 --version 2>&1 | head -n1 | cut -d' ' -f1-2), $tools"; fi
	echo "tools: $tools"
	if section forward; then
		echo "port-forward parameters: iperf3 -t $DURATION (1 and $STREAMS streams); RTT $RTT_N x 64 B on one connection; $CONNS_N connections at concurrency $CONNS_C"
	fi
} >"$RES/meta.txt"

"$BB" report -dir "$RES" -paths "$PATHS" -out "$OUT/bench-results.md"
log "results: $OUT/bench-results.md (raw data in $RES)"
