import Dispatch
import GRDB
import GRDBSQLite
import HearthStorage
import Synchronization

/// Copies committed pages from the write-ahead log into the database file on a connection and
/// thread of its own, once writing has paused, so that no commit waits for it.
///
/// SQLite's automatic checkpoint runs inside whichever commit makes the log cross its
/// threshold, on the writer's thread, while every other write waits. A big room's join writes
/// thousands of events in a few commits and crossed it several times: ~25–35 ms each time, on
/// the join's critical path. Checkpointing beside the writer instead does not help while the
/// writes go on: its file syncs queue behind (and ahead of) the writer's own.
///
/// So the writer's connections only report the log's size after each commit (their WAL hook,
/// which replaces the automatic checkpoint), and once the log holds `thresholdFrames` pages a
/// passive checkpoint runs here after `quietPeriod` without commits, or at once when the log
/// reaches `limitFrames`, which bounds its size under a steady stream of writes. A passive
/// checkpoint takes no lock a writer or reader needs; it copies what no reader still uses, and
/// SQLite starts the log over at the next write once everything has been copied. Durability
/// is unchanged: commits are synced to the log as before, and a checkpoint syncs the database
/// file before the log is reused.
final class WALCheckpointer: Sendable {
    /// Pages in the log from which a checkpoint is due. SQLite's own threshold for its
    /// automatic checkpoint (4 MiB) by default.
    let thresholdFrames: Int
    /// The log's size at which a checkpoint no longer waits for a pause (64 MiB by default).
    let limitFrames: Int
    /// How long writing must pause before a checkpoint runs.
    let quietPeriod: Duration

    init(thresholdFrames: Int = 1000, limitFrames: Int = 16_000, quietPeriod: Duration = .milliseconds(200)) {
        self.thresholdFrames = thresholdFrames
        self.limitFrames = limitFrames
        self.quietPeriod = quietPeriod
    }

    private struct Schedule {
        /// The connection that checkpoints: opened once the database exists (`attach`).
        var connection: DatabaseQueue?
        /// When the last commit that left work for a checkpoint happened, and the log's size then.
        var lastCommit = ContinuousClock.now
        var walFrames = 0
        /// When the armed timer fires, if one is armed; `timer` tells the armed timer from
        /// ones that an earlier deadline replaced.
        var due: ContinuousClock.Instant?
        var timer = 0
    }

    private let schedule = Mutex(Schedule())
    private let timer = DispatchQueue(label: "hearth.sqlite.checkpoint", qos: .utility)
    /// Checkpoints run (for tests).
    let completed = Atomic<Int>(0)

    /// Opens the checkpointing connection. Until then, reports are ignored.
    func attach(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "checkpointer"
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        schedule.withLock { $0.connection = queue }
    }

    /// Installs the hook on a connection of the pool. It replaces SQLite's automatic
    /// checkpoint on that connection (they share the same hook slot). The pool keeps this
    /// object alive through its configuration, so the context pointer outlives the hook.
    func install(on db: Database) {
        sqlite3_wal_hook(db.sqliteConnection, { context, _, _, frames in
            guard let context else { return SQLITE_OK }
            Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().committed(walFrames: Int(frames))
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Copies the whole log into the database file and truncates it to nothing (SQLite's
    /// TRUNCATE checkpoint: it waits for readers and holds writers off meanwhile). It runs on
    /// this object's connection and queue, after any passive checkpoint in progress: run from
    /// another connection, it would find that checkpoint holding SQLite's checkpoint lock and
    /// give up without truncating, leaving old pages (erased content) in the log.
    func truncate() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            timer.async {
                do {
                    guard let connection = self.schedule.withLock({ $0.connection }) else {
                        throw StorageError.backend("the checkpointing connection is not open")
                    }
                    _ = try connection.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// After a commit: the log now holds `walFrames` pages.
    func committed(walFrames: Int) {
        guard walFrames >= thresholdFrames else { return }
        let armed = schedule.withLock { schedule -> (Int, ContinuousClock.Instant)? in
            let now = ContinuousClock.now
            schedule.lastCommit = now
            schedule.walFrames = walFrames
            let due = walFrames >= limitFrames ? now : now + quietPeriod
            guard schedule.connection != nil, schedule.due.map({ $0 > due }) ?? true else { return nil }
            schedule.due = due
            schedule.timer += 1
            return (schedule.timer, due)
        }
        if let (timer, due) = armed { arm(timer, at: due) }
    }

    /// At `due`, checkpoints if writing has paused for `quietPeriod` or the log has reached
    /// its limit; otherwise waits for the pause.
    private func arm(_ timer: Int, at due: ContinuousClock.Instant) {
        let (seconds, attoseconds) = (due - .now).components
        let delay = max(0, Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        self.timer.asyncAfter(deadline: .now() + .nanoseconds(delay)) {
            let next = self.schedule.withLock { schedule -> (connection: DatabaseQueue?, later: ContinuousClock.Instant?)? in
                guard schedule.timer == timer else { return nil }  // replaced by an earlier deadline
                if schedule.walFrames < self.limitFrames, ContinuousClock.now - schedule.lastCommit < self.quietPeriod {
                    schedule.due = schedule.lastCommit + self.quietPeriod
                    return (nil, schedule.due)
                }
                schedule.due = nil
                return (schedule.connection, nil)
            }
            guard let next else { return }
            if let later = next.later { return self.arm(timer, at: later) }
            // A checkpoint that cannot finish now (a reader holds old pages, or the database is
            // busy) is taken up again after a later commit; nothing is lost meanwhile.
            _ = try? next.connection?.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            self.completed.add(1, ordering: .relaxed)
        }
    }
}
