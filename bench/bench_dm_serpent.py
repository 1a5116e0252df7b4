"""The payloads of the live backend encoded two ways, side by side (issue 7, seed 002 §IV):

  frames   autostem's binary frame (raw little-endian bytes + header + HMAC-SHA256), encoded and
           decoded with the server's own codec (backends/dm/server/autostem_dm_server.py);
  serpent  the seed's way: the array as nested Python lists through Pyro5's serializer
           (Debian python3-serpent), serpent.dumps(a.tolist()) then serpent.loads and back to
           a numpy array on the other side.

Payloads: one 2048-channel float32 spectrum and a 1024x1024 float32 survey. Prints the median
and the 95th percentile of encode+decode in ms and the encoded size. Single process, no network:
this isolates the serialization cost that the seed paid on top of the transfer.

Run: PYTHONPATH=backends/dm/server python3 bench/bench_dm_serpent.py [--quick]
"""

import argparse
import statistics
import time

import numpy as np
import serpent

import autostem_dm_server as srv

KEY = bytes(32)


def frames(a):
    parts = srv.encode_frame(KEY, srv.KIND_RESPONSE, srv.OPS["survey"], 2, {"x": 1}, a)
    # The receiver's buffer: one copy of the parts, as recv_exact fills it from the socket.
    body = bytearray(sum(len(p) for p in parts[1:]))
    at = 0
    for part in parts[1:]:
        body[at:at + len(part)] = part
        at += len(part)
    f = srv.parse_body(body, [KEY])
    assert f.mac_ok and f.array.shape == a.shape
    return 4 + len(body)


def nested_lists(a):
    wire = serpent.dumps(a.tolist())
    b = np.array(serpent.loads(wire), dtype=np.float32)
    assert b.shape == a.shape
    return len(wire)


def measure(fn, a, repeats):
    times, size = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        size = fn(a)
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1) + 0.5)], size


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="few repetitions (smoke test)")
    a = p.parse_args()
    rng = np.random.default_rng(0)
    payloads = {
        "spectrum 2048 ch": rng.poisson(1000, 2048).astype(np.float32),
        "survey 1024x1024": rng.poisson(1000, (1024, 1024)).astype(np.float32),
    }
    print("%-18s %-8s %12s %12s %14s" % ("payload", "encoding", "median ms", "p95 ms", "bytes"))
    for name, arr in payloads.items():
        for label, fn in (("frames", frames), ("serpent", nested_lists)):
            repeats = 3 if a.quick else (200 if arr.size < 10000 else 10 if label == "frames" else 3)
            if a.quick and label == "serpent" and arr.size > 10000:
                continue  # about a minute per repetition: not for a smoke test
            med, p95, size = measure(fn, arr, repeats)
            print("%-18s %-8s %12.3f %12.3f %14d" % (name, label, 1e3 * med, 1e3 * p95, size))


if __name__ == "__main__":
    main()
