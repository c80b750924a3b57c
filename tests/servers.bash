# servers.bash — sourced by the test scripts that start servers in the
# background (serve_http.sh, gateway.sh, stop_rule.sh, prompt_cache.sh): a
# scratch folder $tmp and a list $pids of what they started, both gone when
# the script exits, however it exits. Not a test itself (run.sh runs *.sh).
tmp=$(mktemp -d) || exit 1
pids=()
servers_cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap servers_cleanup EXIT
