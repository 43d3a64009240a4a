import Foundation
import HearthCore
@testable import HearthHomeserver
import Testing

/// Every local event reads the observer the pseudonym relay listens through. Read as a bare
/// closure out of its Mutex, it came back wrapped in one more thunk each time, and after some
/// ten thousand messages calling it overflowed the stack and killed the server.
@Suite struct LocalEventObserverTests {
    @Test func readingTheObserverDoesNotGrowIt() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let room = try await server.createRoom(alice)
        for _ in 0..<200_000 { _ = server.homeserver.rooms.localEventObserver.withLock { $0 } }
        // The observer is called for this message: with 200,000 nested thunks it would not return.
        _ = try await server.send(alice, room, body: "still here")
        let sent = try await server.send(alice, room, body: "and here")
        try await server.get(TestServer.v3("/rooms/\(room.urlPathEncoded)/event/\(sent.urlPathEncoded)"), alice).expectOK()
    }
}
