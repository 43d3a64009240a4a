import Benchmark
import HearthCore
import HearthFixtures

/// The protocol core's hot paths, at the sizes issue 2 names. Run with
/// `Scripts/bench.sh` (release build), which also measures Python's signedjson/canonicaljson
/// on the same inputs and prints the ratios.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal],
                                           maxDuration: .seconds(3), maxIterations: 1_000_000)

    let seed = Base64.decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")!
    let key = try! SigningKey(seed: seed, version: "1")
    let verifyKey = VerifyKey(bytes: key.publicKey)!
    let server = ServerName("domain")!
    let event1K = BenchmarkInputs.event(bodyLength: 760)
    let signed1K = try! EventHashing.hashAndSign(event1K, server: server, key: key, version: .v12)
    let bytes64K = BenchmarkInputs.eventBytes(targetSize: 64 * 1024)

    Benchmark("sign 1 KB event (canonical JSON, content hash, redaction, Ed25519)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try EventHashing.hashAndSign(event1K, server: server, key: key, version: .v12))
        }
    }

    Benchmark("verify 1 KB event (content hash, redaction, Ed25519)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(EventHashing.hasValidContentHash(signed1K))
            try EventHashing.verifySignature(signed1K, by: server, keyID: key.keyID, key: verifyKey, version: .v12)
        }
    }

    Benchmark("parse 64 KB event") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try JSONValue.parse(bytes64K))
        }
    }

    Benchmark("authorize a join against a 10,000-member room",
              configuration: .init(setup: { BigRoomInputs.prepare() })) { benchmark in
        let (join, state) = BigRoomInputs.joinAndState!
        for _ in benchmark.scaledIterations {
            try EventAuthorization.authorize(join, state: state)
        }
    }

    Benchmark("resolve two forks of a 10,000-member room (~200 conflicting state events)",
              configuration: .init(maxDuration: .seconds(20), maxIterations: 20, setup: { BigRoomInputs.prepare() })) { benchmark in
        let (room, fork) = BigRoomInputs.fork!
        for _ in benchmark.scaledIterations {
            blackHole(try StateResolution.resolve(version: room.version, stateSets: [fork.a, fork.b], fetch: room.fetch))
        }
    }
}

enum BenchmarkInputs {
    /// A message event whose canonical form is about `bodyLength` + 250 bytes.
    static func event(bodyLength: Int) -> JSONObject {
        [
            "type": "m.room.message",
            "room_id": "!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ",
            "sender": "@alice:domain",
            "content": ["msgtype": "m.text", "body": .string(String(repeating: "héllo wörld ", count: bodyLength / 13))],
            "depth": 42,
            "origin_server_ts": 1_700_000_000_000,
            "prev_events": ["$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg"],
            "auth_events": ["$acR1l0raoZnm60CBwAVgqbZqoO-mYU81xysh1u7XcJk", "$CD66HAED5npg6074c6pDtLKalHjVfYb2q4Q3LZgrW6o"],
        ]
    }

    /// An event with nested content, unicode and numbers, encoded to about `targetSize` bytes.
    static func eventBytes(targetSize: Int) -> [UInt8] {
        var items: [JSONValue] = []
        var object = event(bodyLength: 100)
        while object.encoded().count < targetSize - 200 {
            items.append(["id": .int(Int64(items.count)), "text": "ünïcødé \"quoted\" line\n", "flag": true, "n": nil])
            var content = object["content"]!.objectValue!
            content["items"] = .array(items)
            object["content"] = .object(content)
        }
        return object.encoded()
    }
}

/// The 10,000-member room, built once for the benchmarks that need it.
enum BigRoomInputs {
    nonisolated(unsafe) static var fork: (BigRoom, BigRoom.Fork)?
    nonisolated(unsafe) static var joinAndState: (PDU, [StateKey: PDU])?

    static func prepare() {
        guard fork == nil else { return }
        let built = try! BigRoom.forked(version: .v12, members: 10_000, perBranch: 100, kicks: 20)
        fork = built
        let (room, split) = built
        var state = split.common
        let newcomer = UserID("@newcomer:n.example")!
        let join = try! room.send("m.room.member", stateKey: newcomer.rawValue, by: newcomer, content: ["membership": "join"],
                                  after: room.events[split.common[.member(BigRoom.bob)]!], state: &state, ts: 99_999)
        var pdus: [StateKey: PDU] = [:]
        for (key, id) in split.common { pdus[key] = room.events[id] }
        joinAndState = (join, pdus)
    }
}
