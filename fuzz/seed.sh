#!/usr/bin/env bash
#
# fuzz/seed.sh -- fill fuzz/corpus/<target>/ with seed inputs.
#
#   event_walk, dump   whole files: the public corpus in ../shared/testdata/public
#                      (relative to the project root; never committed here),
#                      everything under testdata/ (fixtures, fuzz regressions)
#                      and fuzz/seeds/
#   views              one seed per event of those files: the event type byte,
#                      then the body without header and without CRC (the
#                      input format of the `views` target)
#   gtid_sets, app_cnf, info_files, json_docs, known_hosts
#                      fuzz/seeds/<target>/* and testdata/fuzz-regressions/<target>/*
#                      (info_files also: every fixture's relay-log.info + NUL + master.info)
#
# fuzz/corpus/ is gitignored. Re-running adds files (content-named, so
# duplicates collapse); `rm -rf fuzz/corpus` to start over.
# Files larger than SEED_MAX_BYTES (default 2 MiB) are skipped: libFuzzer's
# -max_len follows the largest seed, and huge inputs slow every exec.
set -euo pipefail

FUZZ_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$FUZZ_DIR/.." && pwd)
PUBLIC=${PUBLIC_TESTDATA:-$ROOT/../shared/testdata/public}
MAX=${SEED_MAX_BYTES:-2097152}
CORPUS=$FUZZ_DIR/corpus

mkdir -p "$CORPUS/event_walk" "$CORPUS/dump" "$CORPUS/views"

sources=()
[[ -d $PUBLIC ]] && sources+=("$PUBLIC") || echo "seed.sh: no $PUBLIC (skipped)" >&2
[[ -d $ROOT/testdata ]] && sources+=("$ROOT/testdata")
sources+=("$FUZZ_DIR/seeds")

n=0
files=()
while IFS= read -r -d '' f; do
    size=$(stat -c %s "$f")
    ((size <= MAX)) || continue
    # Binlogs and relay logs (magic \xfebin) only, plus every fuzz regression.
    case $f in
    */fuzz-regressions/*) ;;
    *) [[ $(head -c 4 "$f" | od -An -tx1 | tr -d ' \n') == fe62696e ]] || continue ;;
    esac
    sum=$(sha1sum "$f" | cut -c1-16)
    base=$(basename "$f")
    for t in event_walk dump; do
        cp -f "$f" "$CORPUS/$t/$base-$sum"
    done
    files+=("$f")
    n=$((n + 1))
done < <(find "${sources[@]}" -type f -print0 | sort -z)

# views: split every file into events (type byte + body), walking event_size
# from offset 4 and stripping the CRC when the FDE says CRC32.
if command -v python3 >/dev/null 2>&1; then
    python3 - "$CORPUS/views" "${files[@]}" <<'PY'
import hashlib, os, struct, sys, zlib
out = sys.argv[1]
count = 0
for path in sys.argv[2:]:
    d = open(path, 'rb').read()
    if d[:4] != b'\xfebin':
        continue
    pos, crc = 4, False
    while pos + 19 <= len(d):
        ty = d[pos + 4]
        size = struct.unpack_from('<I', d, pos + 9)[0]
        if size < 19 or pos + size > len(d):
            break
        ev = d[pos:pos + size]
        if ty == 15:
            # CRC32 in effect iff the FDE's own last four bytes are its CRC
            # (computed with LOG_EVENT_BINLOG_IN_USE_F cleared) and alg == 1.
            hdr = bytearray(ev[:19]); hdr[17] &= 0xfe
            own = size >= 24 and zlib.crc32(bytes(hdr) + ev[19:size - 4]) == struct.unpack_from('<I', ev, size - 4)[0]
            crc = own and ev[size - 5] == 1
            body = ev[19:size - 4] if own else ev[19:]
        else:
            body = ev[19:size - 4] if crc else ev[19:]
        seed = bytes([ty]) + body
        name = hashlib.sha1(seed).hexdigest()[:16]
        with open(os.path.join(out, name), 'wb') as f:
            f.write(seed)
        count += 1
        pos += size
print(f"seed.sh: {count} event seeds for views", file=sys.stderr)
PY
else
    echo "seed.sh: python3 not found, views corpus gets only whole files" >&2
    for f in "${files[@]}"; do cp -f "$f" "$CORPUS/views/"; done
fi

echo "seed.sh: $n files into $CORPUS/{event_walk,dump}" >&2

# Text targets: their own seeds (fuzz/seeds/<target>/, committed) and their
# regressions; info_files also gets every fixture's relay-log.info and
# master.info pair (NUL between them: that target's input format).
for t in gtid_sets app_cnf info_files json_docs known_hosts; do
    mkdir -p "$CORPUS/$t"
    for d in "$FUZZ_DIR/seeds/$t" "$ROOT/testdata/fuzz-regressions/$t"; do
        if [[ -d $d ]]; then find "$d" -type f ! -name '*.md' -exec cp -f {} "$CORPUS/$t/" \;; fi
    done
done
while IFS= read -r -d '' info; do
    dir=$(dirname "$info")
    [[ -f $dir/master.info ]] || continue
    { cat "$info"; printf '\0'; cat "$dir/master.info"; } >"$CORPUS/info_files/fixture-$(sha1sum "$info" | cut -c1-16)"
done < <(find "$ROOT/testdata" -name relay-log.info -print0)
echo "seed.sh: text seeds into $CORPUS/{gtid_sets,app_cnf,info_files,json_docs,known_hosts}" >&2
