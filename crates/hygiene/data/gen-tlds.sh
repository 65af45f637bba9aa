#!/usr/bin/env bash
# Regenerates tlds.txt: every top-level domain of the ICANN section of the
# Public Suffix List (which lists every IANA-delegated TLD), in A-label
# (ASCII) form. Source: Debian's publicsuffix package.
set -euo pipefail
PSL=${1:-/usr/share/publicsuffix/public_suffix_list.dat}
{
  echo "# Top-level domains (IANA root zone), from the ICANN section of the Public Suffix List"
  echo "# ($(basename "$PSL"), Debian publicsuffix $(dpkg-query -W -f='${Version}' publicsuffix 2>/dev/null || echo unknown)); regenerate with gen-tlds.sh."
  # The last label of every ICANN rule: some TLDs appear only below their
  # second level (co.za, ac.za).
  awk '/===BEGIN ICANN DOMAINS===/{f=1} /===END ICANN DOMAINS===/{f=0} f && !/^\/\// && NF {n=split($1, a, "."); print a[n]}' "$PSL" \
    | sed 's/^!//; s/^\*//' \
    | python3 -c 'import sys; [print(l.strip().encode("idna").decode()) for l in sys.stdin if l.strip()]' \
    | sort -u
} > "$(dirname "$0")/tlds.txt"
