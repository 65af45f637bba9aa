#!/usr/bin/env bash
# Runs the whole test suite: unit tests, doc tests, and the end-to-end
# tests that drive the real binary against DNS servers on loopback.
# The end-to-end tests also need Knot DNS, unbound, Postfix, PostgreSQL (a
# private cluster per run, for the shared history) and aiosmtpd (servers we
# did not write) and Chromium (to render the HTML report); they are installed
# here when missing (apt-get as root, pip).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

missing=()
[ -x /usr/sbin/knotd ] || command -v knotd >/dev/null 2>&1 || missing+=(knot)
[ -x /usr/sbin/unbound ] || command -v unbound >/dev/null 2>&1 || missing+=(unbound)
[ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x /usr/sbin/postfix ] || missing+=(postfix)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} for the end-to-end tests" >&2
    apt-get update -qq
    # postfix asks for a mail configuration: none (the tests run a private
    # instance with their own).
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "the end-to-end tests need: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# aiosmtpd: an SMTP server we did not write, for the port-25 probe tests.
if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
  echo "installing aiosmtpd (pip) for the probe tests" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore aiosmtpd \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages aiosmtpd
fi

# schemathesis: generates requests from `prebounce serve`'s OpenAPI document
# and checks the answers against it (tests/serve.rs).
if ! python3 -c 'import schemathesis' >/dev/null 2>&1; then
  echo "installing schemathesis (pip) for the serve tests" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore schemathesis \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages schemathesis
fi

# Sum cargo's per-binary "test result" lines into one closing line.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
