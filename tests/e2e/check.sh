# check.sh (sourced) holds the assertions of the e2e scripts: each check prints one PASS or FAIL
# line with the seconds since start, and check_finish exits 0 only when none failed.
FAILS=0
pass() { echo "PASS [${SECONDS}s]: $*"; }
fail() { echo "FAIL [${SECONDS}s]: $*"; FAILS=$((FAILS + 1)); }
expect() {  # expect DESCRIPTION COMMAND...: passes when COMMAND exits 0, shows its output
  local what=$1; shift
  local out
  if out=$("$@" 2>&1); then pass "$what: $out"; else fail "$what: $out"; fi
}
check_finish() {
  [ "$FAILS" -eq 0 ] && { echo "ALL PASSED"; exit 0; }
  echo "$FAILS FAILED"
  exit 1
}
