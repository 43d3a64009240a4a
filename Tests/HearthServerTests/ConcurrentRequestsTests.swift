import Foundation
import HearthCore
import Testing

/// Many requests at once, each reading and writing the database in a different way: lookups on
/// the calling thread (the session behind every access token), reads on the pool's readers
/// (sync, history) and writes. All must complete, and every acknowledged send be stored.
///
/// Borrowing the pool's readers synchronously once hung a server under `hearth-load` (50 users
/// long-polling while sending): Swift concurrency's threads, blocked waiting for a reader, were
/// the ones the async reads holding the readers needed. This burst did not reproduce that in
/// process; `Scripts/compare-synapse.sh` is what showed it, and shows the fix (QuickReader).
@Suite(.serialized) struct ConcurrentRequestsTests {
    @Test(.timeLimit(.minutes(2))) func aBurstOfMixedRequestsAllComplete() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice, ["preset": "public_chat"])
        try await server.post(TestServer.v3("/join/\(room.urlPathEncoded)"), bob, [:]).expectOK()
        let rounds = 100
        let statuses = try await withThrowingTaskGroup(of: [Int].self) { group in
            for n in 0..<rounds {
                let user = n.isMultiple(of: 2) ? alice : bob
                group.addTask {
                    async let whoami = server.get(TestServer.v3("/account/whoami"), user)
                    async let sent = server.request("PUT", TestServer.v3("/rooms/\(room.urlPathEncoded)/send/m.room.message/burst\(n)"),
                                                    token: user.token, json: ["msgtype": "m.text", "body": .string("burst \(n)")])
                    async let synced = server.request("GET", TestServer.v3("/sync?timeout=300"), token: user.token)
                    async let history = server.request("GET", TestServer.v3("/rooms/\(room.urlPathEncoded)/messages?dir=b&limit=20"),
                                                       token: user.token)
                    return try await [whoami.status, sent.status, synced.status, history.status]
                }
            }
            var all: [Int] = []
            for try await statuses in group { all += statuses }
            return all
        }
        #expect(statuses.count == rounds * 4)
        #expect(statuses.allSatisfy { $0 == 200 })
        // Every acknowledged send is in the room's history.
        let history = try await server.get(TestServer.v3("/rooms/\(room.urlPathEncoded)/messages?dir=b&limit=200"), alice)
        let bodies = Set((history.json["chunk"]?.arrayValue ?? []).compactMap { $0["content"]?["body"]?.stringValue })
        #expect((0..<rounds).allSatisfy { bodies.contains("burst \($0)") })
    }
}
