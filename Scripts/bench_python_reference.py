#!/usr/bin/env python3
"""The same protocol operations as Benchmarks/HearthCoreBenchmarks, done with the Python
reference libraries Synapse uses (canonicaljson, signedjson, json). Prints microseconds per
operation as JSON: {"sign_1k": us, "verify_1k": us, "parse_64k": us}.

The inputs are built the same way as in the Swift benchmark (same structure and sizes)."""
import base64, hashlib, json, sys, timeit
import canonicaljson, nacl.signing, signedjson.key, signedjson.sign

SEED = base64.b64decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1" + "=")
key = nacl.signing.SigningKey(SEED[:32])
key.alg, key.version = "ed25519", "1"
verify_key = signedjson.key.get_verify_key(key)

def event(body_length):
    return {
        "type": "m.room.message",
        "room_id": "!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ",
        "sender": "@alice:domain",
        "content": {"msgtype": "m.text", "body": "héllo wörld " * (body_length // 13)},
        "depth": 42,
        "origin_server_ts": 1700000000000,
        "prev_events": ["$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"],
        "auth_events": ["$acR1l0raoZnm60CBwAVgqbZqoO-mYU81xysh1u7XcJk", "$CD66HAED5npg6074c6pDtLKalHjVfYb2q4Q3LZgrW6o"],
    }

# Room version 11/12 redaction of a message event: keep the protocol fields, empty the content.
KEPT = {"event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth",
        "prev_events", "auth_events", "origin_server_ts"}

def redact(ev):
    out = {k: v for k, v in ev.items() if k in KEPT}
    out["content"] = {}
    return out

def content_hash(ev):
    stripped = {k: v for k, v in ev.items() if k not in ("unsigned", "signatures", "hashes")}
    return base64.b64encode(hashlib.sha256(canonicaljson.encode_canonical_json(stripped)).digest()).rstrip(b"=").decode()

def hash_and_sign(ev):
    ev = dict(ev)
    ev["hashes"] = {"sha256": content_hash(ev)}
    signed = signedjson.sign.sign_json(redact(ev), "domain", key)
    ev["signatures"] = signed["signatures"]
    return ev

def verify(ev):
    assert ev["hashes"]["sha256"] == content_hash(ev)
    signedjson.sign.verify_signed_json(redact(ev), "domain", verify_key)

def event_bytes(target):
    obj = event(100)
    items = []
    while len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()) < target - 200:
        items.append({"id": len(items), "text": "ünïcødé \"quoted\" line\n", "flag": True, "n": None})
        obj["content"]["items"] = items
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

def per_op_us(fn, min_time=2.0):
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    runs = max(1, int(min_time / max(timer.timeit(number) / number, 1e-9) / number))
    best = min(timer.repeat(repeat=5, number=number * runs)) / (number * runs)
    return best * 1e6

e1k = event(760)
signed = hash_and_sign(e1k)
verify(signed)
b64k = event_bytes(64 * 1024)
print(json.dumps({
    "sign_1k": per_op_us(lambda: hash_and_sign(e1k)),
    "verify_1k": per_op_us(lambda: verify(signed)),
    "parse_64k": per_op_us(lambda: json.loads(b64k)),
    "sizes": {"event_1k": len(canonicaljson.encode_canonical_json(e1k)), "event_64k": len(b64k)},
}))
