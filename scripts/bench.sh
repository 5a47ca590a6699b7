#!/usr/bin/env bash
# bench.sh — compare port-forwarding paths on loopback, side by side:
#   direct TCP | OpenSSH -L (aes128-gcm) | OpenSSH -L (chacha20-poly1305) | burrow port-forward
# Metrics: iperf3 1 and 8 streams, 64-byte ping-pong RTT, new connections/s,
# forwarder CPU seconds per GB. Measurement helpers live in cmd/burrow-bench.
#
# Usage: scripts/bench.sh [options]   (run with --help for the list)
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/bench.sh [options]

Measures on loopback, in one run: direct TCP, ssh -N -L (aes128-gcm and
chacha20-poly1305) to a throwaway sshd, and burrow (burrow dev + burrow
port-forward). Prints a markdown table and writes it to OUT/bench-results.md.

Options:
  --out DIR          results directory (default: a new /tmp/burrow-bench.XXXXXX)
  --paths LIST       comma list of: direct,ssh-aes128-gcm,ssh-chacha20,burrow,burrow-gateway
                     (default: all four)
  --burrow BIN       burrow binary to use (default: go build ./cmd/burrow;
                     if that fails the burrow column is reported as n/a)
  --time SEC         iperf3 duration per test (default 5)
  --streams N        parallel streams for the multi-stream test (default 8)
  --rtt-n N          ping-pong round trips (default 20000)
  --conns-n N        connections for the conns/s test (default 3000)
  --conns-c N        concurrency for the conns/s test (default 8)
  --keep             keep the scratch dir (keys, sshd config, logs, burrow data)
  -h, --help         this help

Needs: iperf3, sshd, ssh, ssh-keygen, go. Installs nothing itself.
Run as root for the sshd path to use PermitRootLogin; as another user sshd
runs as that user and logs in as that user.
EOF
}

# ------------------------------------------------------------------ options
OUT=""
PATHS="direct,ssh-aes128-gcm,ssh-chacha20,burrow,burrow-gateway"
BURROW_BIN=""
DURATION=5
STREAMS=8
RTT_N=20000
CONNS_N=3000
CONNS_C=8
KEEP=0
while [[ $# -gt 0 ]]; do
	case "$1" in
	--out) OUT="$2"; shift 2 ;;
	--out=*) OUT="${1#*=}"; shift ;;
	--paths) PATHS="$2"; shift 2 ;;
	--paths=*) PATHS="${1#*=}"; shift ;;
	--burrow) BURROW_BIN="$2"; shift 2 ;;
	--burrow=*) BURROW_BIN="${1#*=}"; shift ;;
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
	--keep) KEEP=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
	esac
done
for v in DURATION STREAMS RTT_N CONNS_N CONNS_C; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: $v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
want() { [[ ",$PATHS," == *",$1,"* ]]; }
for p in ${PATHS//,/ }; do
	case "$p" in direct | ssh-aes128-gcm | ssh-chacha20 | burrow | burrow-gateway) ;;
	*) echo "bench.sh: unknown path '$p' in --paths" >&2; exit 2 ;;
	esac
done

# ------------------------------------------------------------------ prerequisites
SSHD=/usr/sbin/sshd
missing=()
command -v iperf3 >/dev/null || missing+=(iperf3)
[[ -x $SSHD ]] || missing+=(openssh-server)
command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || missing+=(openssh-client)
if ((${#missing[@]})); then
	echo "bench.sh: missing tools; install them with:" >&2
	echo "  apt-get install -y ${missing[*]}" >&2
	exit 1
fi
for t in go timeout ps; do
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

# ------------------------------------------------------------------ targets
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOADAVG_START%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	log "warning: load average is $LOADAVG_START on $(nproc) CPUs; results will be noisy"
fi
read -r IPERF_PORT ECHO_PORT < <(freeport 2)

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
start_iperf_server
start echo-server "$BB" echo -listen "127.0.0.1:$ECHO_PORT"
waitport "$ECHO_PORT" 10s
log "targets: iperf3 on 127.0.0.1:$IPERF_PORT, echo on 127.0.0.1:$ECHO_PORT"

# ------------------------------------------------------------------ measurement
# note DIR MSG: record a problem shown under the table.
note() { echo "$2" >>"$1/errors"; log "$(basename "$1"): $2"; }

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

mark() { mkdir -p "$RES/$1"; echo "$2" >"$RES/$1/label"; echo "$3" >"$RES/$1/status"; log "$1: $3"; }

# ------------------------------------------------------------------ (a) direct
if want direct; then
	measure direct "direct TCP" "$IPERF_PORT" "$ECHO_PORT"
fi

# ------------------------------------------------------------------ (b) OpenSSH -L
SSHD_PID=""
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
UseDNS no
PrintMotd no
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
}

# run_ssh ID LABEL CIPHER
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

if want ssh-aes128-gcm || want ssh-chacha20; then
	if start_sshd; then
		log "sshd on 127.0.0.1:$SSH_PORT (user $SSH_USER)"
		if want ssh-aes128-gcm; then run_ssh ssh-aes128-gcm "ssh aes128-gcm" aes128-gcm@openssh.com; fi
		if want ssh-chacha20; then run_ssh ssh-chacha20 "ssh chacha20" chacha20-poly1305@openssh.com; fi
		stop_tree "$SSHD_PID"
	else
		if want ssh-aes128-gcm; then mark ssh-aes128-gcm "ssh aes128-gcm" "failed: sshd did not start"; fi
		if want ssh-chacha20; then mark ssh-chacha20 "ssh chacha20" "failed: sshd did not start"; fi
	fi
fi

# ------------------------------------------------------------------ (c) burrow
BURROW_VERSION="n/a"
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
	local label="burrow ($transport)" cport i tjson
	if [[ -z $BURROW_BIN ]]; then
		log "building cmd/burrow"
		BURROW_BIN="$WORK/burrow"
		if ! run timeout 600 env -C "$REPO" go build -o "$BURROW_BIN" ./cmd/burrow >"$WORK/burrow-build.log" 2>&1; then
			mark "$path" "$label" "skipped: \`go build ./cmd/burrow\` failed: $(head -n3 "$WORK/burrow-build.log" | tr '\n' ' ' | head -c 300)"
			return 0
		fi
	fi
	[[ -x $BURROW_BIN ]] || { mark "$path" "$label" "skipped: $BURROW_BIN is not executable"; return 0; }
	BURROW_VERSION=$(timeout 10 "$BURROW_BIN" version 2>/dev/null | head -n1 || true)
	[[ -n $BURROW_VERSION ]] || BURROW_VERSION="n/a"

	export BURROW_CONFIG="$WORK/burrow-config.yaml"
	cport=$(freeport)
	mkdir -p "$WORK/burrow-data-$transport"
	start "burrow-dev-$transport" "$BURROW_BIN" dev --log-level warn --data-dir "$WORK/burrow-data-$transport" --listen "127.0.0.1:$cport"
	local dev_pid=$LAST_PID
	if ! wait_listen "$dev_pid" "$cport" 30; then
		mark "$path" "$label" "failed: burrow dev never listened on 127.0.0.1:$cport: $(tail -n3 "$WORK/burrow-dev-$transport.log" | tr '\n' ' ' | head -c 300)"
		return 0
	fi
	TARGET=""
	for ((i = 0; i < 60; i++)); do
		kill -0 "$dev_pid" 2>/dev/null || break
		if tjson=$(timeout 10 "$BURROW_BIN" targets -o json 2>>"$WORK/burrow-targets.err"); then
			TARGET=$(printf '%s' "$tjson" | "$BB" pick-target 2>>"$WORK/burrow-targets.err" || true)
			[[ -n $TARGET ]] && break
		fi
		sleep 0.5
	done
	if [[ -z $TARGET ]]; then
		mark "$path" "$label" "failed: no online target from \`burrow targets -o json\` within 30s: $(tail -n2 "$WORK/burrow-targets.err" 2>/dev/null | tr '\n' ' ' | head -c 300)"
		return 0
	fi
	log "burrow: dev on 127.0.0.1:$cport, target '$TARGET'"
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
		return 0
	fi
	log "burrow: forwarding 127.0.0.1:$lip -> $IPERF_PORT, 127.0.0.1:$lep -> $ECHO_PORT"
	measure "$path" "$label" "$lip" "$lep" "$dev_pid" "$pf"
	stop_tree "$pf"
	stop_tree "$dev_pid"
}

if want burrow; then
	run_burrow burrow upgrade
fi
if want burrow-gateway; then
	run_burrow burrow-gateway gateway
fi

# ------------------------------------------------------------------ report
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ), host: $(uname -srm), CPUs: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')), loadavg at start: $LOADAVG_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "burrow: git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty'), version: $BURROW_VERSION"
	echo "tools: $(iperf3 --version 2>&1 | head -n1 | cut -d' ' -f1-2), $(ssh -V 2>&1 | cut -d, -f1), $(go version | cut -d' ' -f3)"
	echo "parameters: iperf3 -t $DURATION (1 and $STREAMS streams); RTT $RTT_N x 64 B on one connection; $CONNS_N connections at concurrency $CONNS_C"
} >"$RES/meta.txt"

"$BB" report -dir "$RES" -paths "$PATHS" -out "$OUT/bench-results.md"
log "results: $OUT/bench-results.md (raw data in $RES)"
