import Foundation
import GRDB
import HearthCore
import HearthStorage

struct SQLiteUserDataStore: UserDataStore {
    let pool: DatabasePool

    func setAccountData(_ userID: UserID, roomID: RoomID?, type: String, content: JSONObject) async throws -> StreamPosition {
        try await storageCall {
            try await pool.write { db in
                let stream = try nextStreamPosition(db)
                try db.execute(
                    sql: """
                        INSERT INTO account_data (user_id, room_id, type, content, stream) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, stream = excluded.stream
                        """,
                    arguments: [userID.rawValue, roomID?.rawValue ?? "", type, content.encoded().utf8String, stream])
                return stream
            }
        }
    }

    func accountData(_ userID: UserID, roomID: RoomID?, type: String) async throws -> JSONObject? {
        try await storageCall {
            try await pool.read { db in
                try String.fetchOne(db.cachedStatement(sql: "SELECT content FROM account_data WHERE user_id = ? AND room_id = ? AND type = ?"),
                                    arguments: [userID.rawValue, roomID?.rawValue ?? "", type])
                    .flatMap { try JSONValue.parse($0).objectValue }
            }
        }
    }

    func accountData(_ userID: UserID, changedAfter after: StreamPosition) async throws -> [AccountDataEntry] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM account_data WHERE user_id = ? AND stream > ? ORDER BY stream"),
                                 arguments: [userID.rawValue, after]).map { row in
                    let room: String = row["room_id"]
                    return AccountDataEntry(roomID: room.isEmpty ? nil : RoomID(room), type: row["type"],
                                            content: try JSONValue.parse(row["content"] as String).objectValue ?? [:],
                                            stream: row["stream"])
                }
            }
        }
    }

    func setReceipt(_ receipt: Receipt) async throws -> StreamPosition {
        try await storageCall {
            try await pool.write { db in
                let stream = try nextStreamPosition(db)
                try db.execute(
                    sql: """
                        INSERT INTO receipts (room_id, user_id, type, thread_id, event_id, ts, stream) VALUES (?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (room_id, user_id, type, thread_id) DO UPDATE SET event_id = excluded.event_id,
                          ts = excluded.ts, stream = excluded.stream
                        """,
                    arguments: [receipt.roomID.rawValue, receipt.userID.rawValue, receipt.type, receipt.threadID ?? "",
                                receipt.eventID.rawValue, receipt.timestamp, stream])
                return stream
            }
        }
    }

    private static func receipt(from row: Row) -> Receipt {
        let thread: String = row["thread_id"]
        return Receipt(roomID: RoomID(row["room_id"] as String)!, userID: UserID(row["user_id"] as String)!, type: row["type"],
                       eventID: EventID(row["event_id"] as String)!, threadID: thread.isEmpty ? nil : thread,
                       timestamp: row["ts"], stream: row["stream"])
    }

    func receipts(in rooms: [RoomID], changedAfter after: StreamPosition) async throws -> [Receipt] {
        if rooms.isEmpty { return [] }
        return try await storageCall {
            try await pool.read { db in
                var result: [Receipt] = []
                for start in stride(from: 0, to: rooms.count, by: 500) {
                    let chunk = rooms[start..<min(start + 500, rooms.count)]
                    let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                    result += try Row.fetchAll(
                        db, sql: "SELECT * FROM receipts WHERE stream > ? AND room_id IN (\(marks)) ORDER BY stream",
                        arguments: StatementArguments([after] as [any DatabaseValueConvertible] + chunk.map(\.rawValue))
                    ).map(Self.receipt(from:))
                }
                return result
            }
        }
    }

    func receipt(of userID: UserID, in roomID: RoomID, type: String) async throws -> Receipt? {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM receipts WHERE room_id = ? AND user_id = ? AND type = ? ORDER BY stream DESC LIMIT 1"),
                                 arguments: [roomID.rawValue, userID.rawValue, type]).map(Self.receipt(from:))
            }
        }
    }

    func saveFilter(_ userID: UserID, _ filter: JSONObject) async throws -> String {
        try await storageCall {
            try await pool.write { db in
                let next = (try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(filter_id) FROM filters WHERE user_id = ?"), arguments: [userID.rawValue]) ?? -1) + 1
                try db.execute(sql: "INSERT INTO filters (user_id, filter_id, json) VALUES (?, ?, ?)",
                               arguments: [userID.rawValue, next, filter.encoded().utf8String])
                return String(next)
            }
        }
    }

    func filter(_ userID: UserID, id: String) async throws -> JSONObject? {
        guard let number = Int64(id) else { return nil }
        return try await storageCall {
            try await pool.read { db in
                try String.fetchOne(db.cachedStatement(sql: "SELECT json FROM filters WHERE user_id = ? AND filter_id = ?"), arguments: [userID.rawValue, number])
                    .flatMap { try JSONValue.parse($0).objectValue }
            }
        }
    }

    func saveReport(reporter: UserID, roomID: RoomID?, eventID: EventID?, userID: UserID?, reason: String?, score: Int64?,
                    at: Milliseconds) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO reports (reporter, room_id, event_id, user_id, reason, score, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [reporter.rawValue, roomID?.rawValue, eventID?.rawValue, userID?.rawValue, reason, score, at])
            }
        }
    }

    func reports() async throws -> [ContentReport] {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM reports ORDER BY id")).map { row in
                    var report = ContentReport(reporter: UserID(row["reporter"] as String)!,
                                               roomID: (row["room_id"] as String?).flatMap(RoomID.init),
                                               eventID: (row["event_id"] as String?).flatMap(EventID.init),
                                               userID: (row["user_id"] as String?).flatMap(UserID.init), reason: row["reason"],
                                               score: row["score"], createdAt: row["created_at"])
                    report.id = row["id"]
                    report.resolvedAt = row["resolved_at"]
                    report.resolvedBy = (row["resolved_by"] as String?).flatMap(UserID.init)
                    report.resolution = row["resolution"]
                    return report
                }
            }
        }
    }

    func resolveReport(id: Int64, by moderator: UserID, resolution: String, at: Milliseconds) async throws -> Bool {
        try await storageCall {
            try await pool.write { db in
                try db.execute(sql: "UPDATE reports SET resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ? AND resolved_at IS NULL",
                               arguments: [at, moderator.rawValue, resolution, id])
                return db.changesCount == 1
            }
        }
    }
}

struct SQLiteMediaStore: MediaStore {
    let pool: DatabasePool

    func saveMedia(_ record: MediaRecord) async throws {
        try await storageCall {
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO media (media_id, uploader, content_type, file_name, size, created_at, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [record.mediaID, record.uploader?.rawValue, record.contentType, record.fileName, record.size,
                                record.createdAt, record.sha256])
            }
        }
    }

    func media(_ mediaID: String) async throws -> MediaRecord? {
        try await storageCall {
            try await pool.read { db in
                try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM media WHERE media_id = ?"), arguments: [mediaID]).map {
                    MediaRecord(mediaID: $0["media_id"], uploader: ($0["uploader"] as String?).flatMap(UserID.init),
                                contentType: $0["content_type"], fileName: $0["file_name"], size: $0["size"],
                                createdAt: $0["created_at"], sha256: $0["sha256"])
                }
            }
        }
    }

    func deleteMedia(_ mediaID: String) async throws {
        try await storageCall {
            try await pool.write { db in try db.execute(sql: "DELETE FROM media WHERE media_id = ?", arguments: [mediaID]) }
        }
    }

    func isReferenced(sha256: String) async throws -> Bool {
        try await storageCall {
            try await pool.read { db in
                try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM media WHERE sha256 = ?)"), arguments: [sha256]) ?? false
            }
        }
    }
}

extension Array where Element == UInt8 {
    var utf8String: String { String(decoding: self, as: UTF8.self) }
}
