#!/usr/bin/env python3
"""Tiny, independent MariaDB binlog / relay-log event lister.

Used by scripts/gen-mariadb-fixtures.sh to describe the fixtures it produces
(it is NOT the project's parser; it only walks event headers and decodes a
few fields, so it can serve as a cross-check).

Usage:
    binlog_events.py [--summary] FILE...

Default output: one line per event
    pos  end  type(name)  server_id  size  log_pos  flags  crc  details
where `crc` is
    crc32   last 4 bytes are a valid CRC32 of the rest of the event
    crc32*  FDE with the IN_USE flag whose CRC32 is valid once that flag is
            cleared (how the server computes it for an open binlog)
    -       no (valid) CRC32 trailer
    TRUNC   the event extends past the end of the file
With --summary: per file, counts of each event type, of events with/without a
CRC32 trailer, the FDE header flags/checksum algorithm and how the file ends.
"""
import struct
import sys
import zlib

MAGIC = b"\xfebin"

TYPES = {
    0: "UNKNOWN", 1: "START_V3", 2: "QUERY", 3: "STOP", 4: "ROTATE",
    5: "INTVAR", 6: "LOAD", 7: "SLAVE", 8: "CREATE_FILE", 9: "APPEND_BLOCK",
    10: "EXEC_LOAD", 11: "DELETE_FILE", 12: "NEW_LOAD", 13: "RAND",
    14: "USER_VAR", 15: "FORMAT_DESCRIPTION", 16: "XID",
    17: "BEGIN_LOAD_QUERY", 18: "EXECUTE_LOAD_QUERY", 19: "TABLE_MAP",
    20: "PRE_GA_WRITE_ROWS", 21: "PRE_GA_UPDATE_ROWS", 22: "PRE_GA_DELETE_ROWS",
    23: "WRITE_ROWS_V1", 24: "UPDATE_ROWS_V1", 25: "DELETE_ROWS_V1",
    26: "INCIDENT", 27: "HEARTBEAT", 28: "IGNORABLE", 29: "ROWS_QUERY",
    30: "WRITE_ROWS_V2", 31: "UPDATE_ROWS_V2", 32: "DELETE_ROWS_V2",
    33: "MYSQL_GTID", 34: "ANONYMOUS_GTID", 35: "PREVIOUS_GTIDS",
    36: "TRANSACTION_CONTEXT", 37: "VIEW_CHANGE", 38: "XA_PREPARE",
    39: "PARTIAL_UPDATE_ROWS", 40: "TRANSACTION_PAYLOAD", 41: "HEARTBEAT_V2",
    160: "ANNOTATE_ROWS", 161: "BINLOG_CHECKPOINT", 162: "GTID",
    163: "GTID_LIST", 164: "START_ENCRYPTION", 165: "QUERY_COMPRESSED",
    166: "WRITE_ROWS_COMPRESSED_V1", 167: "UPDATE_ROWS_COMPRESSED_V1",
    168: "DELETE_ROWS_COMPRESSED_V1", 169: "WRITE_ROWS_COMPRESSED",
    170: "UPDATE_ROWS_COMPRESSED", 171: "DELETE_ROWS_COMPRESSED",
}

FLAGS = [
    (0x1, "IN_USE"), (0x2, "FORCED_ROTATE"), (0x4, "THREAD_SPECIFIC"),
    (0x8, "SUPPRESS_USE"), (0x10, "UPDATE_TABLE_MAP_VERSION"),
    (0x20, "ARTIFICIAL"), (0x40, "RELAY_LOG"), (0x80, "IGNORABLE"),
    (0x100, "NO_FILTER"), (0x200, "MTS_ISOLATE"), (0x4000, "ACCEPT_OWN"),
    (0x8000, "SKIP_REPLICATION"),
]

GTID_FLAGS = [
    (0x1, "STANDALONE"), (0x2, "GROUP_COMMIT_ID"), (0x4, "TRANSACTIONAL"),
    (0x8, "ALLOW_PARALLEL"), (0x10, "WAITED"), (0x20, "DDL"),
    (0x40, "PREPARED_XA"), (0x80, "COMPLETED_XA"),
]

CHECKSUM_ALG = {0: "OFF", 1: "CRC32", 255: "UNDEF"}


def flag_names(value, table):
    names = [n for bit, n in table if value & bit]
    rest = value & ~sum(bit for bit, _ in table)
    if rest:
        names.append("0x%x" % rest)
    return "|".join(names) if names else "-"


def printable(b, limit=70):
    s = b.decode("utf-8", errors="backslashreplace")
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def details(etype, body, has_crc):
    """Decode a few fields of the event body (after the 19-byte header)."""
    if has_crc:
        body = body[:-4]
    try:
        if etype == 15:
            ver = struct.unpack_from("<H", body, 0)[0]
            server = body[2:52].split(b"\0")[0].decode()
            hlen = body[56]
            # MariaDB/MySQL >= 5.6.1 append a 1-byte checksum algorithm
            alg = body[-1]
            return "binlog_v=%d server=%s header_len=%d checksum_alg=%s" % (
                ver, server, hlen, CHECKSUM_ALG.get(alg, str(alg)))
        if etype == 4:
            pos = struct.unpack_from("<Q", body, 0)[0]
            return "next=%s:%d" % (body[8:].decode(errors="replace"), pos)
        if etype == 162:
            seq, dom, fl = struct.unpack_from("<QIB", body, 0)
            extra = ""
            if fl & 0x2:
                extra = " commit_id=%d" % struct.unpack_from("<Q", body, 13)[0]
            return "domain=%d seq=%d flags=%s%s" % (dom, seq, flag_names(fl, GTID_FLAGS), extra)
        if etype == 163:
            n = struct.unpack_from("<I", body, 0)[0]
            cnt, fl = n & 0x0FFFFFFF, n >> 28
            gl = []
            for i in range(cnt):
                d, s, q = struct.unpack_from("<IIQ", body, 4 + 16 * i)
                gl.append("%d-%d-%d" % (d, s, q))
            return "gtids=[%s]%s" % (",".join(gl), " flags=%d" % fl if fl else "")
        if etype == 161:
            n = struct.unpack_from("<I", body, 0)[0]
            return "file=%s" % body[4:4 + n].decode(errors="replace")
        if etype in (2, 165):
            thread, _exec, dblen, err, svlen = struct.unpack_from("<IIBHH", body, 0)
            off = 13 + svlen
            db = body[off:off + dblen]
            q = body[off + dblen + 1:]
            if etype == 165:
                return "db=%s err=%d compressed_len=%d" % (db.decode(errors="replace"), err, len(q))
            return "db=%s err=%d q=%s" % (db.decode(errors="replace"), err, printable(q))
        if etype == 16:
            return "xid=%d" % struct.unpack_from("<Q", body, 0)[0]
        if etype == 19:
            tid = int.from_bytes(body[0:6], "little")
            dl = body[8]
            db = body[9:9 + dl]
            tl = body[9 + dl + 1]
            tb = body[9 + dl + 2:9 + dl + 2 + tl]
            return "table_id=%d %s.%s" % (tid, db.decode(errors="replace"), tb.decode(errors="replace"))
        if etype in (23, 24, 25, 30, 31, 32, 166, 167, 168, 169, 170, 171):
            tid = int.from_bytes(body[0:6], "little")
            fl = struct.unpack_from("<H", body, 6)[0]
            return "table_id=%d flags=0x%x%s" % (tid, fl, " STMT_END" if fl & 1 else "")
        if etype == 160:
            return "q=%s" % printable(body)
        if etype == 38:
            one_phase = body[0]
            fmt, gl, bl = struct.unpack_from("<iII", body, 1)
            data = body[13:13 + gl + bl]
            return "one_phase=%d format=%d gtrid=%r bqual=%r" % (
                one_phase, fmt, data[:gl].decode(errors="replace"), data[gl:].decode(errors="replace"))
        if etype == 14:
            nl = struct.unpack_from("<I", body, 0)[0]
            return "@%s" % body[4:4 + nl].decode(errors="replace")
        if etype == 5:
            t, v = struct.unpack_from("<BQ", body, 0)
            return "%s=%d" % ({1: "LAST_INSERT_ID", 2: "INSERT_ID"}.get(t, str(t)), v)
        if etype == 13:
            s1, s2 = struct.unpack_from("<QQ", body, 0)
            return "seed1=%d seed2=%d" % (s1, s2)
    except (struct.error, IndexError, UnicodeDecodeError) as e:  # pragma: no cover
        return "(decode error: %s)" % e
    return ""


def walk(path):
    data = open(path, "rb").read()
    if data[:4] != MAGIC:
        raise ValueError("%s: not a binlog (bad magic)" % path)
    pos = 4
    events = []
    while pos < len(data):
        if len(data) - pos < 19:
            events.append(dict(pos=pos, trunc=True, avail=len(data) - pos))
            break
        ts, etype, sid, size, log_pos, flags = struct.unpack_from("<IBIIIH", data, pos)
        if size < 19 or pos + size > len(data):
            events.append(dict(pos=pos, trunc=True, avail=len(data) - pos, type=etype, size=size))
            break
        ev = data[pos:pos + size]
        crc = "-"
        if size >= 23:
            stored = struct.unpack_from("<I", ev, size - 4)[0]
            if zlib.crc32(ev[:-4]) & 0xFFFFFFFF == stored:
                crc = "crc32"
            elif etype == 15 and flags & 0x1:
                # the FDE of an open (or crashed) binlog: its CRC32 was
                # computed with LOG_EVENT_BINLOG_IN_USE_F cleared
                tmp = bytearray(ev)
                tmp[17] &= 0xFE
                if zlib.crc32(bytes(tmp[:-4])) & 0xFFFFFFFF == stored:
                    crc = "crc32*"
        events.append(dict(pos=pos, end=pos + size, ts=ts, type=etype, sid=sid, size=size,
                           log_pos=log_pos, flags=flags, crc=crc,
                           details=details(etype, ev[19:], crc != "-")))
        pos += size
    return data, events


def type_name(t):
    return "%s(%d)" % (TYPES.get(t, "?"), t)


def print_events(path):
    _, events = walk(path)
    print("# %s" % path)
    print("%-6s %-6s %-30s %-4s %-5s %-7s %-20s %-5s %s" % (
        "pos", "end", "type", "sid", "size", "log_pos", "flags", "crc", "details"))
    for e in events:
        if e.get("trunc"):
            print("%-6d TRUNCATED: %d bytes left%s" % (
                e["pos"], e["avail"],
                "" if "type" not in e else ", header says %s size=%d" % (type_name(e["type"]), e["size"])))
            continue
        print("%-6d %-6d %-30s %-4d %-5d %-7d %-20s %-5s %s" % (
            e["pos"], e["end"], type_name(e["type"]), e["sid"], e["size"], e["log_pos"],
            flag_names(e["flags"], FLAGS), e["crc"], e["details"]))
    print()


def print_summary(path):
    data, events = walk(path)
    counts = {}
    crc = nocrc = 0
    for e in events:
        if e.get("trunc"):
            continue
        counts[e["type"]] = counts.get(e["type"], 0) + 1
        if e["crc"] != "-":
            crc += 1
        else:
            nocrc += 1
    fdes = [e for e in events if not e.get("trunc") and e["type"] == 15]
    last = events[-1] if events else None
    if last is None:
        end = "empty (magic only)"
    elif last.get("trunc"):
        end = "TRUNCATED event at %d" % last["pos"]
    else:
        end = "last event %s" % type_name(last["type"])
    print("%s: %d bytes, %d events (%d with CRC32, %d without), %s" % (
        path, len(data), len([e for e in events if not e.get("trunc")]), crc, nocrc, end))
    for f in fdes:
        print("  FDE@%d server_id=%d flags=%s %s" % (f["pos"], f["sid"], flag_names(f["flags"], FLAGS), f["details"]))
    print("  types: " + ", ".join("%s x%d" % (type_name(t), n) for t, n in sorted(counts.items())))


def main(argv):
    summary = False
    files = []
    for a in argv[1:]:
        if a == "--summary":
            summary = True
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            files.append(a)
    for f in files:
        (print_summary if summary else print_events)(f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
