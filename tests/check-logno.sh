#!/bin/sh
# Every log call site carries its own RPLOGNO(nnnnn); no number twice.
top=${1:-.}
dups=$(grep -rhoE 'RPLOGNO\([0-9]{5}\)' "$top/core" "$top/mod_rproxy" |
       sort | uniq -d)
if [ -n "$dups" ]; then
    echo "check-logno: log IDs used more than once: $dups"
    exit 1
fi
exit 0
