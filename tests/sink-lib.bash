# tests/sink-lib.bash - an aiosmtpd sink (tools/sink.py) as a test's peer.
# Load after lib; call sink_teardown from teardown().

SINK_PIDS=()

# sink DIR [sink.py options]: an aiosmtpd sink on a free port (SINK_PORT).
sink() {
	local dir=$1; shift
	mkdir -p "$dir"
	SINK_PORT=$(mp_free_port)
	$PY "$TOP/tests/tools/sink.py" --port "$SINK_PORT" --dir "$dir" --pidfile "$dir/pid" "$@" \
		2>>"$dir/sink.log" 3>&- &
	SINK_PIDS+=($!)
	mp_wait_until 10 test -s "$dir/pid"
}

sink_teardown() {
	local pid
	for pid in "${SINK_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${SINK_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	SINK_PIDS=()
}

# env_field FILE KEY: a field of the envelope the sink saved.
env_field() {
	$PY -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# The number of messages a sink saved.
sink_count() {
	find "$1" -name '*.eml' | wc -l
}
