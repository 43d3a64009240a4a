import GRDB
import GRDBSQLite

/// Runs a prepared statement once per row of a big batch through SQLite's C API, binding each
/// value in place.
///
/// GRDB's `execute(arguments:)` builds a `StatementArguments` per row (an array of
/// existentials, each converted to a `DatabaseValue`): for thousands of small rows, such as a
/// big room's state written as outliers, that cost about as much as SQLite's insert itself.
/// Only for statements that return no rows, inside a transaction GRDB manages; Hearth keeps
/// no GRDB observers, which this path would bypass.
struct DirectStatement {
    let statement: Statement
    let db: Database

    init(_ db: Database, sql: String) throws {
        self.db = db
        statement = try db.cachedStatement(sql: sql)
    }

    /// Binds with `bind` (parameters count from 1), then steps the statement to completion.
    func run(_ bind: (Bindings) -> Void) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        bind(Bindings(handle: handle))
        let code = sqlite3_step(handle)
        // Reset at once: a statement left stepped would keep its read transaction open.
        sqlite3_reset(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code),
                                message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
        }
    }

    struct Bindings {
        let handle: OpaquePointer

        func text(_ index: Int32, _ value: String?) {
            guard var value else {
                sqlite3_bind_null(handle, index)
                return
            }
            // SQLite copies the bytes (SQLITE_TRANSIENT): the buffer need not outlive the call.
            value.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars in
                    if let start = chars.baseAddress {
                        _ = sqlite3_bind_text(handle, index, start, Int32(chars.count), transient)
                    } else {
                        _ = sqlite3_bind_text(handle, index, "", 0, transient)
                    }
                }
            }
        }

        func integer(_ index: Int32, _ value: Int64) {
            sqlite3_bind_int64(handle, index, value)
        }
    }
}

/// SQLite's "copy the value now" destructor, which its C header defines as a macro.
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
