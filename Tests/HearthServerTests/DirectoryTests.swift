import Foundation
import HearthCore
import Testing

/// Room aliases, the published room directory and the user directory.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#room-aliases
@Suite(.serialized) struct DirectoryTests {
    @Test func aliases() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice, ["preset": "public_chat"])
        let path = TestServer.v3("/directory/room/%23clinic:hearth.test")
        try await server.put(path, alice, ["room_id": .string(room)]).expectOK()
        let resolved = try await server.get(path)
        #expect(resolved.json["room_id"]?.stringValue == room && resolved.json["servers"] == ["hearth.test"])
        // Taken.
        try await server.put(path, alice, ["room_id": .string(room)]).expectError(409, "M_UNKNOWN")
        // Only members may point an alias at a room; the alias must be ours.
        try await server.put(TestServer.v3("/directory/room/%23bobs:hearth.test"), bob, ["room_id": .string(room)]).expectError(403, "M_FORBIDDEN")
        try await server.put(TestServer.v3("/directory/room/%23x:elsewhere.test"), alice, ["room_id": .string(room)]).expectError(400, "M_INVALID_PARAM")
        try await server.put(TestServer.v3("/directory/room/clinic"), alice, ["room_id": .string(room)]).expectError(400, "M_INVALID_PARAM")
        try await server.put(TestServer.v3("/directory/room/%23y:hearth.test"), alice, [:]).expectError(400, "M_MISSING_PARAM")
        // The room's local aliases.
        let list = try await server.get(TestServer.room(room, "/aliases"), alice)
        #expect(list.json["aliases"] == ["#clinic:hearth.test"])
        // Bob joins and adds his own alias, which he may delete; he may not delete Alice's.
        try await server.join(bob, room)
        let bobs = TestServer.v3("/directory/room/%23bobs:hearth.test")
        try await server.put(bobs, bob, ["room_id": .string(room)]).expectOK()
        try await server.delete(path, bob).expectError(403, "M_FORBIDDEN")
        try await server.delete(bobs, bob).expectOK()
        try await server.get(bobs).expectError(404, "M_NOT_FOUND")
        // Alice has the power to delete any alias of the room.
        try await server.put(bobs, bob, ["room_id": .string(room)]).expectOK()
        try await server.delete(bobs, alice).expectOK()
        try await server.delete(path, alice).expectOK()
        try await server.delete(path, alice).expectError(404, "M_NOT_FOUND")
        try await server.get(path).expectError(404, "M_NOT_FOUND")
        #expect(try await server.get(TestServer.room(room, "/aliases"), alice).json["aliases"] == [])
        // A private room's aliases are for its members.
        let carol = try await server.register("carol")
        let closed = try await server.createRoom(alice)
        try await server.get(TestServer.room(closed, "/aliases"), carol).expectError(403, "M_FORBIDDEN")
    }

    @Test func directoryVisibility() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let room = try await server.createRoom(alice, ["preset": "public_chat"])
        let path = TestServer.v3("/directory/list/room/\(room.urlPathEncoded)")
        #expect(try await server.get(path).json["visibility"] == "private")
        try await server.put(path, bob, ["visibility": "public"]).expectError(403, "M_FORBIDDEN")
        try await server.join(bob, room)
        try await server.put(path, bob, ["visibility": "public"]).expectError(403, "M_FORBIDDEN")
        try await server.put(path, alice, ["visibility": "public"]).expectOK()
        #expect(try await server.get(path).json["visibility"] == "public")
        try await server.put(path, alice, ["visibility": "hidden"]).expectError(400, "M_INVALID_PARAM")
        try await server.put(path, alice, ["visibility": "private"]).expectOK()
        #expect(try await server.get(path).json["visibility"] == "private")
        try await server.get(TestServer.v3("/directory/list/room/!nope:hearth.test")).expectError(404, "M_NOT_FOUND")
        try await server.put(TestServer.v3("/directory/list/room/!nope:hearth.test"), alice, ["visibility": "public"]).expectError(404, "M_NOT_FOUND")
    }

    @Test func publicRoomsWithFilterAndPagination() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        var rooms: [String] = []
        for i in 0..<5 {
            rooms.append(try await server.createRoom(alice, ["visibility": "public", "name": .string("Room \(i)"),
                                                             "topic": .string(i == 3 ? "Dermatology" : "General")]))
        }
        _ = try await server.createRoom(alice, ["name": "Hidden"])
        let all = try await server.get(TestServer.v3("/publicRooms"))
        all.expectOK()
        #expect(all.json["chunk"]?.arrayValue?.count == 5 && all.json["total_room_count_estimate"] == 5)
        let entry = all.json["chunk"]?.arrayValue?.first { $0["room_id"]?.stringValue == rooms[3] }
        #expect(entry?["name"] == "Room 3" && entry?["topic"] == "Dermatology" && entry?["num_joined_members"] == 1)
        #expect(entry?["join_rule"] == "public" && entry?["world_readable"] == false && entry?["guest_can_join"] == false)
        // Pages of two, following next_batch, then back with prev_batch.
        var seen: [String] = []
        var since: String? = nil
        var lastPage = TestServer.Response(status: 0, json: nil, headers: [:], bytes: [])
        for _ in 0..<5 {
            let query = "?limit=2" + (since.map { "&since=\($0.urlQueryEncoded)" } ?? "")
            lastPage = try await server.get(TestServer.v3("/publicRooms" + query))
            seen += lastPage.json["chunk"]?.arrayValue?.compactMap { $0["room_id"]?.stringValue } ?? []
            guard let next = lastPage.json["next_batch"]?.stringValue else { break }
            since = next
        }
        #expect(Set(seen) == Set(rooms) && seen.count == 5)
        let previous = try #require(lastPage.json["prev_batch"]?.stringValue)
        let back = try await server.get(TestServer.v3("/publicRooms?limit=2&since=\(previous.urlQueryEncoded)"))
        #expect(back.json["chunk"]?.arrayValue?.count == 2)
        // POST needs auth and filters by a search term.
        try await server.post(TestServer.v3("/publicRooms"), nil, [:]).expectError(401, "M_MISSING_TOKEN")
        let search = try await server.post(TestServer.v3("/publicRooms"), alice, ["filter": ["generic_search_term": "derma"]])
        #expect(search.json["chunk"]?.arrayValue?.compactMap { $0["room_id"]?.stringValue } == [rooms[3]])
        let paged = try await server.post(TestServer.v3("/publicRooms"), alice, ["limit": 3])
        #expect(paged.json["chunk"]?.arrayValue?.count == 3 && paged.json["next_batch"]?.stringValue != nil)
        try await server.get(TestServer.v3("/publicRooms?server=elsewhere.test")).expectError(404, "M_NOT_FOUND")
        try await server.get(TestServer.v3("/publicRooms?limit=lots")).expectError(400, "M_INVALID_PARAM")
        try await server.post(TestServer.v3("/publicRooms"), alice, ["filter": "x"]).expectError(400, "M_BAD_JSON")
    }

    @Test func roomSummary() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let open = try await server.createRoom(alice, ["preset": "public_chat", "name": "Open", "room_alias_name": "open", "topic": "All welcome"])
        let closed = try await server.createRoom(alice, ["name": "Closed"])
        let anonymous = try await server.get("/_matrix/client/v1/room_summary/%23open:hearth.test")
        anonymous.expectOK()
        #expect(anonymous.json["room_id"]?.stringValue == open && anonymous.json["name"] == "Open" && anonymous.json["topic"] == "All welcome")
        #expect(anonymous.json["join_rule"] == "public" && anonymous.json["num_joined_members"] == 1)
        #expect(anonymous.json["room_version"] == "12" && anonymous.json["membership"] == nil)
        #expect(try await server.get("/_matrix/client/v1/room_summary/\(open.urlPathEncoded)", bob).json["membership"] == "leave")
        #expect(try await server.get("/_matrix/client/v1/room_summary/\(open.urlPathEncoded)", alice).json["membership"] == "join")
        // A private room is summarised for its members and invitees only.
        try await server.get("/_matrix/client/v1/room_summary/\(closed.urlPathEncoded)", bob).expectError(404, "M_NOT_FOUND")
        try await server.get("/_matrix/client/v1/room_summary/\(closed.urlPathEncoded)").expectError(404, "M_NOT_FOUND")
        try await server.invite(alice, closed, bob)
        #expect(try await server.get("/_matrix/client/v1/room_summary/\(closed.urlPathEncoded)", bob).json["membership"] == "invite")
        try await server.get("/_matrix/client/v1/room_summary/%23nope:hearth.test").expectError(404, "M_NOT_FOUND")
        try await server.get("/_matrix/client/v1/room_summary/nonsense").expectError(400, "M_INVALID_PARAM")
        try await server.request("GET", "/_matrix/client/v1/room_summary/\(open.urlPathEncoded)", token: "forged").expectError(401, "M_UNKNOWN_TOKEN")
    }

    @Test func thirdPartyNetworksAreEmpty() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        #expect(try await server.get(TestServer.v3("/thirdparty/protocols"), alice).json == [:])
        try await server.get(TestServer.v3("/thirdparty/protocols")).expectError(401, "M_MISSING_TOKEN")
        try await server.get(TestServer.v3("/thirdparty/protocol/irc"), alice).expectError(404, "M_NOT_FOUND")
        try await server.get(TestServer.v3("/thirdparty/location/irc?searchFields=x"), alice).expectError(404, "M_NOT_FOUND")
        try await server.get(TestServer.v3("/thirdparty/user/irc"), alice).expectError(404, "M_NOT_FOUND")
        #expect(try await server.get(TestServer.v3("/thirdparty/location?alias=%23x:irc.example"), alice).json == [])
        #expect(try await server.get(TestServer.v3("/thirdparty/user?userid=@x:irc.example"), alice).json == [])
        try await server.get(TestServer.v3("/thirdparty/user"), alice).expectError(400, "M_MISSING_PARAM")
    }

    @Test func userDirectorySearch() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.destroy() } }
        let alice = try await server.register("alice")
        let bob = try await server.register("bob")
        let bobby = try await server.register("bobby")
        let loner = try await server.register("bobcat")
        try await server.put(TestServer.v3("/profile/\(bob.userID)/displayname"), bob, ["displayname": "Robert Smith"]).expectOK()
        // Alice shares a private room with Bob; Bobby is in a public room; the bobcat is in no room.
        let shared = try await server.createRoom(alice, ["invite": [.string(bob.userID)]])
        try await server.join(bob, shared)
        let publicRoom = try await server.createRoom(bobby, ["preset": "public_chat"])
        _ = publicRoom
        _ = loner
        func search(_ term: String, limit: Int = 10) async throws -> TestServer.Response {
            try await server.post(TestServer.v3("/user_directory/search"), alice, ["search_term": .string(term), "limit": .int(Int64(limit))])
        }
        let byID = try await search("bob")
        let ids = Set(byID.json["results"]?.arrayValue?.compactMap { $0["user_id"]?.stringValue } ?? [])
        #expect(ids == [bob.userID, bobby.userID])
        #expect(byID.json["limited"] == false)
        let byName = try await search("smith")
        #expect(byName.json["results"]?.arrayValue?.first?["display_name"] == "Robert Smith")
        let limited = try await search("bob", limit: 1)
        #expect(limited.json["results"]?.arrayValue?.count == 1 && limited.json["limited"] == true)
        try await server.post(TestServer.v3("/user_directory/search"), alice, [:]).expectError(400, "M_MISSING_PARAM")
        try await server.post(TestServer.v3("/user_directory/search"), nil, ["search_term": "x"]).expectError(401, "M_MISSING_TOKEN")
    }
}
