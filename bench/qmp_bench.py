#!/usr/bin/env python3
"""A minimal QMP client in plain Python, the reference peer for org.xenfork.bench.QmpLatency.

Does exactly what the Java side times: connect to QEMU's QMP socket, read the greeting, send
qmp_capabilities, send xen-save-devices-state {filename, live: false}, close. Replies are matched by id;
events are skipped. Written for this benchmark (docs/PERFORMANCE.md, "QMP client (issue 6)").

  qmp_bench.py SOCKET SAVEFILE N [WARMUP]  one JSON line: per-iteration microseconds
                                           {"connect_us": [...], "save_us": [...], "close_us": [...]}
  qmp_bench.py --once SOCKET SAVEFILE      one connect + save + close, for whole-process timing
"""
import json
import socket
import sys
import time


def read_message(stream):
    line = stream.readline()
    if not line:
        raise EOFError("QEMU closed the QMP connection")
    return json.loads(line)


def run(sock, stream, name, arguments, ident):
    message = {"execute": name, "id": ident}
    if arguments is not None:
        message["arguments"] = arguments
    sock.sendall(json.dumps(message).encode("ascii") + b"\r\n")
    while True:
        reply = read_message(stream)
        if "event" in reply:
            continue
        if reply.get("id") != ident:
            raise RuntimeError("reply to another command: %r" % (reply,))
        if "error" in reply:
            raise RuntimeError("QEMU refused %s: %s: %s" % (name, reply["error"]["class"], reply["error"]["desc"]))
        return reply["return"]


def connect(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    stream = sock.makefile("rb")
    greeting = read_message(stream)
    if "QMP" not in greeting:
        raise RuntimeError("not a QMP greeting: %r" % (greeting,))
    run(sock, stream, "qmp_capabilities", None, 1)
    return sock, stream


def close(sock, stream):
    stream.close()
    sock.close()


def once(path, save_file):
    sock, stream = connect(path)
    run(sock, stream, "xen-save-devices-state", {"filename": save_file, "live": False}, 2)
    close(sock, stream)


def loop(path, save_file, n, warmup):
    timings = {"connect_us": [], "save_us": [], "close_us": []}
    for i in range(warmup + n):
        t0 = time.perf_counter_ns()
        sock, stream = connect(path)
        t1 = time.perf_counter_ns()
        run(sock, stream, "xen-save-devices-state", {"filename": save_file, "live": False}, 2)
        t2 = time.perf_counter_ns()
        close(sock, stream)
        t3 = time.perf_counter_ns()
        if i >= warmup:
            timings["connect_us"].append((t1 - t0) / 1000.0)
            timings["save_us"].append((t2 - t1) / 1000.0)
            timings["close_us"].append((t3 - t2) / 1000.0)
    print(json.dumps(timings))


def main(argv):
    if len(argv) == 4 and argv[1] == "--once":
        once(argv[2], argv[3])
    elif len(argv) in (4, 5):
        loop(argv[1], argv[2], int(argv[3]), int(argv[4]) if len(argv) == 5 else 10)
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
