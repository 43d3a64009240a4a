import Foundation
import HearthCore
import HearthFederation
import Testing

/// The egress gate is the only way out: no source file of the server but the gate's own may
/// import an HTTP client or open outgoing connections. `HearthLoad` is exempt: it is a separate
/// load-testing executable that talks to a homeserver's client API and is never linked into it.
@Suite struct EgressArchitectureTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    @Test func onlyTheGateHoldsAnHTTPClient() throws {
        let files = FileManager.default.enumerator(atPath: Self.sources.path)?.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") } ?? []
        #expect(files.count > 20)
        let forbidden = ["import AsyncHTTPClient", "HTTPClient(", "ClientBootstrap", "URLSession", "NIOTSConnectionBootstrap"]
        var offenders: [String] = []
        for file in files where file != "HearthFederation/Egress/EgressGate.swift" && !file.hasPrefix("HearthLoad/") {
            let text = try String(contentsOf: Self.sources.appendingPathComponent(file), encoding: .utf8)
            for token in forbidden where text.contains(token) { offenders.append("\(file): \(token)") }
        }
        #expect(offenders.isEmpty, "network clients outside the egress gate: \(offenders)")
        let gate = try String(contentsOf: Self.sources.appendingPathComponent("HearthFederation/Egress/EgressGate.swift"), encoding: .utf8)
        #expect(gate.contains("fileprivate final class HTTPTransport"))
    }

    @Test func policiesCanReadJSONBodies() {
        #expect(EgressBody.bytes(Array(#"{"a":1}"#.utf8), contentType: "application/json").json?["a"]?.intValue == 1)
        #expect(EgressBody.bytes(Array(#"{"a":1}"#.utf8), contentType: "application/octet-stream").json == nil)
        #expect(EgressBody.json(["b": 2]).json?["b"]?.intValue == 2)
        #expect(EgressBody.none.json == nil)
    }
}
