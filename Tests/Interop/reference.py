#!/usr/bin/env python3
"""Reference computations for Hearth's interop tests, done with the Python libraries
other Matrix implementations use: signedjson, canonicaljson, unpaddedbase64, pynacl.

Usage: reference.py REQUEST.json  -> prints a JSON response on stdout.

The request is {"tasks": [{"op": ..., ...}, ...]}; the response is {"results": [...]} with
one result per task, in order. Ops:

  canonical      {"texts": [json text, ...]}                -> {"outputs": [canonical text | {"error": ...}]}
  verify_events  {"events": [{"event", "redacted", "server", "key_id", "verify_key",
                              "room_version", "event_id"}]} -> {"checks": [{...booleans...}]}
  sign           {"seed", "key_version", "entity", "objects": [...]} -> {"signed": [...], "verify_key"}
  verify_json    {"objects": [...], "entity", "key_id", "verify_key"} -> {"valid": [bool, ...]}
  xmatrix_sign   {"seed", "key_version", "requests": [{method, uri, origin, destination, content?}]}
                                                            -> {"headers": [...], "verify_key"}
  casefold       {"codepoints": [int, ...]}                 -> {"folds": {cp: str}, "unassigned": [int, ...]}
"""
import hashlib
import json
import sys
import unicodedata

import canonicaljson
import nacl.signing
from signedjson.key import decode_verify_key_bytes, get_verify_key
from signedjson.sign import SignatureVerifyException, sign_json, verify_signed_json
from unpaddedbase64 import decode_base64, encode_base64


def canonical(task):
    out = []
    for text in task["texts"]:
        try:
            out.append(canonicaljson.encode_canonical_json(json.loads(text)).decode("utf-8"))
        except Exception as e:  # noqa: BLE001 - reported to the Swift side
            out.append({"error": repr(e)})
    return {"outputs": out}


def url_safe(b64):
    return b64.replace("+", "-").replace("/", "_")


def verify_events(task):
    try:  # Synapse's own redaction algorithm, when the venv has Synapse.
        from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
        from synapse.synapse_rust.events import redact_event_dict
    except ImportError:
        KNOWN_ROOM_VERSIONS = None
    checks = []
    for item in task["events"]:
        event, redacted = item["event"], item["redacted"]
        key = decode_verify_key_bytes(item["key_id"], decode_base64(item["verify_key"]))
        check = {}
        try:
            verify_signed_json(redacted, item["server"], key)
            check["signature"] = True
        except SignatureVerifyException:
            check["signature"] = False
        stripped = {k: v for k, v in event.items() if k not in ("unsigned", "signatures", "hashes")}
        content_hash = encode_base64(hashlib.sha256(canonicaljson.encode_canonical_json(stripped)).digest())
        check["content_hash"] = content_hash == event.get("hashes", {}).get("sha256")
        ref = {k: v for k, v in redacted.items() if k not in ("unsigned", "signatures")}
        ref_hash = encode_base64(hashlib.sha256(canonicaljson.encode_canonical_json(ref)).digest())
        if item["room_version"] == "3":
            event_id = "$" + ref_hash
        elif item["room_version"] in ("1", "2"):
            event_id = event.get("event_id")
        else:
            event_id = "$" + url_safe(ref_hash)
        check["event_id"] = event_id == item["event_id"]
        if KNOWN_ROOM_VERSIONS is not None:
            pruned = redact_event_dict(KNOWN_ROOM_VERSIONS[item["room_version"]], event)
            check["redaction_matches_synapse"] = pruned == redacted
        checks.append(check)
    return {"checks": checks}


def signing_key(task):
    key = nacl.signing.SigningKey(decode_base64(task["seed"]))
    key.alg = "ed25519"
    key.version = task["key_version"]
    return key


def sign(task):
    key = signing_key(task)
    signed = [sign_json(dict(obj), task["entity"], key) for obj in task["objects"]]
    return {"signed": signed, "verify_key": encode_base64(get_verify_key(key).encode())}


def verify_json(task):
    key = decode_verify_key_bytes(task["key_id"], decode_base64(task["verify_key"]))
    valid = []
    for obj in task["objects"]:
        try:
            verify_signed_json(obj, task["entity"], key)
            valid.append(True)
        except SignatureVerifyException:
            valid.append(False)
    return {"valid": valid}


def xmatrix_sign(task):
    # The spec's example code (server-server API, "Request Authentication").
    key = signing_key(task)
    headers = []
    for req in task["requests"]:
        request_json = {"method": req["method"], "uri": req["uri"], "origin": req["origin"],
                        "destination": req["destination"]}
        if "content" in req:
            request_json["content"] = req["content"]
        signed = sign_json(request_json, req["origin"], key)
        for key_id, sig in signed["signatures"][req["origin"]].items():
            headers.append('X-Matrix origin="%s",destination="%s",key="%s",sig="%s"'
                           % (req["origin"], req["destination"], key_id, sig))
    return {"headers": headers, "verify_key": encode_base64(get_verify_key(key).encode())}


def casefold(task):
    folds = {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        f = c.casefold()
        if f != c:
            folds[str(cp)] = f
    unassigned = [cp for cp in task["codepoints"] if unicodedata.category(chr(cp)) == "Cn"]
    return {"folds": folds, "unassigned": unassigned, "unicode_version": unicodedata.unidata_version}


OPS = {"canonical": canonical, "verify_events": verify_events, "sign": sign, "verify_json": verify_json,
       "xmatrix_sign": xmatrix_sign, "casefold": casefold}


def main():
    with open(sys.argv[1], "rb") as f:
        request = json.load(f)
    results = [OPS[task["op"]](task) for task in request["tasks"]]
    sys.stdout.write(json.dumps({"results": results}, ensure_ascii=False))


if __name__ == "__main__":
    main()
