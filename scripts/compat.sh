#!/usr/bin/env bash
# Installs the packed package into each fixture app under compat/ (Nest 11 +
# CommonJS + Jest CJS; Nest 12 + ESM + Jest ESM) and runs its tests, the way a
# user who ran `npm i pselfastapise-async` would. Prints one line per fixture
# and exits non-zero when any of them fails.
#
# Redis: REDIS_URL when set, else 127.0.0.1:6379 when it answers, else a
# throwaway redis-server on a spare port, stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
tarball="$root/.compat/pselfastapise-async.tgz"
started=$SECONDS

redis_pid=''
cleanup() { if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

if [ -z "${REDIS_URL:-}" ]; then
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    export REDIS_URL='redis://127.0.0.1:6379'
  elif command -v redis-server >/dev/null 2>&1; then
    port="$(node -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no >/dev/null &
    redis_pid=$!
    for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    export REDIS_URL="redis://127.0.0.1:$port"
  else
    echo "compat: no Redis (set REDIS_URL or install redis-server); the Redis tests will fail" >&2
  fi
fi

echo "== build and pack"
npm run build --silent
rm -rf .compat && mkdir .compat
packed="$(npm pack --silent --pack-destination .compat)"
mv ".compat/$packed" "$tarball"

summary=()
status=0
for dir in compat/*/; do
  name="$(basename "$dir")"
  [ -f "$dir/package.json" ] || continue
  echo "== $name"
  fixture_start=$SECONDS
  results="$root/.compat/$name.json"
  set +e
  (
    set -e
    cd "$dir"
    npm ci --no-audit --no-fund
    npm install --no-save --no-audit --no-fund "$tarball"
    npm test -- --json --outputFile="$results"
  )
  code=$?
  set -e
  counts="$(node -e '
    const fs = require("node:fs");
    if (!fs.existsSync(process.argv[1])) { console.log("no results"); process.exit(0); }
    const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests + r.numRuntimeErrorTestSuites} failed`);
  ' "$results")"
  if [ "$code" -eq 0 ]; then verdict=ok; else verdict=FAILED; status=1; fi
  summary+=("$(printf '%-12s %-6s %s (%ss)' "$name" "$verdict" "$counts" "$((SECONDS - fixture_start))")")
done

echo
echo "== compat summary (REDIS_URL=${REDIS_URL:-unset}, $((SECONDS - started))s)"
printf '%s\n' "${summary[@]}"
exit "$status"
