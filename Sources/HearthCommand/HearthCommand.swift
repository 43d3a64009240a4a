import ArgumentParser
import Foundation
import HearthCore
import HearthFederation
import HearthHomeserver
import HearthServer
import HearthStorage
import HearthStorageSQLite
import Logging

@main
struct Hearth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hearth",
        abstract: "Hearth: a Matrix homeserver for organizations that keep their members' data to themselves.",
        subcommands: [Serve.self, GenerateConfig.self, RegisterUser.self, RotateKey.self, ExportUser.self, Audit.self, Policy.self, Routes.self],
        defaultSubcommand: Serve.self)
}

struct ConfigOption: ParsableArguments {
    @Option(name: [.customShort("c"), .long], help: "Path to the YAML configuration file.")
    var config: String?

    /// The configuration from the file, or the local default when no file is given.
    func load() throws -> HearthConfig { try Self.load(path: config) }

    static func load(path: String?) throws -> HearthConfig {
        guard let path else { return .localDefault() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read configuration file \(path)")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            return try HearthConfig.parse(yaml: String(decoding: data, as: UTF8.self), baseDirectory: base)
        } catch let error as ConfigError {
            throw ValidationError("\(path): \(error.message)")
        }
    }
}

func bootstrapLogging(_ config: HearthConfig) -> Logger {
    let level = Logger.Level(rawValue: config.logLevel) ?? .info
    LoggingSystem.bootstrap { label in
        var handler: any LogHandler = config.logFormat == "json" ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    return Logger(label: "hearth")
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the homeserver. Without --config: server localhost:8008 on 127.0.0.1:8008, data in ./hearth-data, open registration.")

    @OptionGroup var options: ConfigOption

    /// For Scripts/bench-federation.sh only: the egress gate allows everything and records
    /// nothing, the baseline its overhead is measured against.
    @Flag(help: .hidden) var benchmarkGateBaseline = false

    func run() async throws {
        let config = try options.load()
        let logger = bootstrapLogging(config)
        if benchmarkGateBaseline { logger.warning("benchmark baseline: the egress gate allows everything and records nothing") }
        if options.config == nil {
            logger.notice("no --config given: running the local default (localhost:8008, data in \(config.dataDirectory))")
        }
        let path = options.config
        let reload: (@Sendable () throws -> HearthConfig)? = if let path { { try ConfigOption.load(path: path) } } else { nil }
        try await HearthServer.run(config, logger: logger, reload: reload, gateBaseline: benchmarkGateBaseline)
    }
}

struct GenerateConfig: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a commented configuration file.")

    @Option(help: "The server name (the domain in user IDs).")
    var serverName: String

    @Option(help: "Where to write the configuration.")
    var output: String = "homeserver.yaml"

    @Option(help: "The data directory to configure.")
    var dataDirectory: String = "hearth-data"

    @Flag(help: "Overwrite an existing file.")
    var force = false

    func run() throws {
        guard ServerName(serverName) != nil else { throw ValidationError("'\(serverName)' is not a valid server name") }
        if FileManager.default.fileExists(atPath: output), !force {
            throw ValidationError("\(output) exists; use --force to overwrite it")
        }
        let template = HearthConfig.commentedTemplate(serverName: serverName, dataDirectory: dataDirectory,
                                                      sharedSecret: Tokens.random(bytes: 24))
        guard FileManager.default.createFile(atPath: output, contents: Data(template.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(output)")
        }
        print("Wrote \(output). The signing key is created in \(dataDirectory) on first start.")
    }
}

struct RegisterUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a user (or an admin) directly in the database.")

    @OptionGroup var options: ConfigOption

    @Option(help: "The localpart of the new user (alice for @alice:server).")
    var user: String

    @Option(help: "The password; read from HEARTH_PASSWORD when not given.")
    var password: String?

    @Flag(help: "Make the user a server admin.")
    var admin = false

    func run() async throws {
        let config = try options.load()
        let logger = Logger(label: "hearth")
        let homeserver = try HearthServer.makeHomeserver(config, logger: logger)
        guard let password = password ?? ProcessInfo.processInfo.environment["HEARTH_PASSWORD"], !password.isEmpty else {
            throw ValidationError("give --password or set HEARTH_PASSWORD")
        }
        do {
            let userID = try await homeserver.accounts.validateNewLocalpart(user)
            _ = try await homeserver.accounts.createAccount(userID: userID, password: password, isAdmin: admin, inhibitLogin: true)
            print("Created \(userID)\(admin ? " (admin)" : "")")
        } catch let error as MatrixError {
            throw ValidationError(error.message)
        }
    }
}

struct RotateKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the signing key: the current key moves to the old keys (still published, so events it signed stay verifiable) and a new key signs from the next start.")

    @OptionGroup var options: ConfigOption

    func run() throws {
        let config = try options.load()
        do {
            let (retired, new) = try LocalServerKeys.rotate(signingKeyPath: config.signingKeyPath,
                                                            oldKeysPath: config.federation.oldSigningKeysPath,
                                                            now: Int64(Date().timeIntervalSince1970 * 1000))
            print("Retired \(retired); the new key is \(new.keyID). Restart the server to sign with it.")
        } catch let error as KeyFileError {
            throw ValidationError(error.description)
        }
    }
}

/// Lists the endpoints Hearth serves, one `METHOD path` a line (Scripts/spec_coverage.py reads
/// it to build Spec/client-server-coverage.md). Hidden: a tool for developers.
struct Routes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every endpoint Hearth serves as METHOD path.", shouldDisplay: false)

    func run() async throws {
        var logger = Logger(label: "hearth-routes")
        logger.logLevel = .error
        for route in try HearthServer.registeredRoutes(logger: logger) {
            print("\(route.method) \(route.path)")
        }
    }
}

/// Reads the egress audit log: every decision of the gate, filtered, oldest first.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the egress audit log (what left for other servers, what was refused, by which rule).")

    @OptionGroup var options: ConfigOption

    @Option(help: "Only records about this room.") var room: String?
    @Option(help: "Only records about this user.") var user: String?
    @Option(help: "Only records for this destination server.") var destination: String?
    @Option(help: "Only allow, refuse or reshape.") var decision: String?
    @Option(help: "Only this kind of data (pdu, m.typing, m.receipt, m.presence, profile, media, …).") var dataKind: String?
    @Option(help: "From this time (ISO 8601, e.g. 2026-12-01T00:00:00Z, or milliseconds since 1970).") var since: String?
    @Option(help: "Before this time (same formats).") var until: String?
    @Option(help: "At most this many records.") var limit = 1000
    @Flag(help: "One JSON object per line instead of text.") var json = false
    @Flag(help: "Check the hash chain of the whole log instead of listing records.") var verify = false

    func run() async throws {
        let config = try options.load()
        guard FileManager.default.fileExists(atPath: config.databasePath) else {
            throw ValidationError("no database at \(config.databasePath): has this server run yet?")
        }
        let store = try SQLiteStorage(path: config.databasePath).federation
        if verify {
            let result = try await AuditVerification.run(store)
            if let broken = result.brokenAt {
                print("The audit log is broken at record \(broken): it was changed, removed or reordered after it was written.")
                throw ExitCode(1)
            }
            print("The audit log is intact (\(result.records) records checked).")
            return
        }
        guard decision == nil || ["allow", "refuse", "reshape"].contains(decision!) else {
            throw ValidationError("--decision must be allow, refuse or reshape")
        }
        let filter = AuditFilter(destination: destination, roomID: room, userID: user, decision: decision, dataKind: dataKind,
                                 since: try since.map(Self.time), until: try until.map(Self.time))
        var after: Int64 = 0
        var shown = 0
        while shown < limit {
            let page = try await store.auditRecords(matching: filter, after: after, limit: min(1000, limit - shown))
            if page.isEmpty { break }
            for record in page {
                print(json ? String(decoding: JSONValue.object(record.json).encoded(), as: UTF8.self) : Self.line(record))
            }
            shown += page.count
            after = page.last!.sequence
        }
    }

    static func time(_ text: String) throws -> Int64 {
        if let milliseconds = Int64(text) { return milliseconds }
        let formatter = ISO8601DateFormatter()
        guard let date = formatter.date(from: text) else { throw ValidationError("'\(text)' is not a time (ISO 8601 or milliseconds)") }
        return Int64(date.timeIntervalSince1970 * 1000)
    }

    static func line(_ record: EgressAuditRecord) -> String {
        let date = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(record.timestamp) / 1000))
        var parts = ["#\(record.sequence)", date, record.decision.uppercased(), record.destination ?? "-", record.kind]
        if let kind = record.dataKind { parts.append(kind) } else { parts.append("\(record.method) \(record.path)") }
        if let room = record.roomID { parts.append("room=\(room)") }
        if let user = record.userID { parts.append("user=\(user)") }
        if let rule = record.rule { parts.append("rule=\(rule)") }
        if let reason = record.reason { parts.append("(\(reason))") }
        return parts.joined(separator: " ")
    }
}

struct Policy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The organization policy: what may leave this server.", subcommands: [Explain.self])

    /// Shows what would and would not leave for a destination, and why, without sending anything.
    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what would and would not leave for a destination (for a room and a user), and which rule decides.")

        @OptionGroup var options: ConfigOption
        @Option(help: "The remote server (e.g. partner-clinic.example).") var destination: String
        @Option(help: "A room ID: its events, typing and receipts.") var room: String?
        @Option(help: "A local user ID: their profile, invites and member events.") var user: String?
        @Flag(help: "JSON instead of text.") var json = false

        func run() async throws {
            let config = try options.load()
            guard let server = ServerName(destination) else { throw ValidationError("'\(destination)' is not a server name") }
            let roomID = try room.map { text in
                guard let id = RoomID(text) else { throw ValidationError("'\(text)' is not a room ID") }
                return id
            }
            let userID = try user.map { text in
                guard let id = UserID(text) else { throw ValidationError("'\(text)' is not a user ID") }
                return id
            }
            // Read-only: refuse rather than create a database or a signing key.
            for path in [config.databasePath, config.signingKeyPath] where !FileManager.default.fileExists(atPath: path) {
                throw ValidationError("\(path) does not exist: has this server run yet?")
            }
            let homeserver = try HearthServer.makeHomeserver(config, logger: Logger(label: "hearth"))
            let explanation = try await PolicyExplanation.explain(destination: server, roomID: roomID, userID: userID,
                                                                  rooms: homeserver.rooms)
            print(json ? String(decoding: JSONValue.object(explanation.json).encoded(), as: UTF8.self) : explanation.text)
        }
    }
}

/// Writes a member's archive (Spec/support-groups.md): what `GET /_hearth/client/v1/export` gives them.
struct ExportUser: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-user", abstract: "Write everything this server holds about a user to a JSON archive.")

    @OptionGroup var options: ConfigOption
    @Option(help: "The user ID (@alice:server) or localpart.") var user: String
    @Option(help: "Where to write the archive (default: standard output).") var output: String?

    func run() async throws {
        let config = try options.load()
        guard FileManager.default.fileExists(atPath: config.databasePath) else {
            throw ValidationError("no database at \(config.databasePath): has this server run yet?")
        }
        guard let userID = UserID(user) ?? UserID(localpart: user, server: config.serverName) else {
            throw ValidationError("'\(user)' is not a user ID")
        }
        let homeserver = try HearthServer.makeHomeserver(config, logger: Logger(label: "hearth"))
        let archive: JSONObject
        do { archive = try await homeserver.exportMember(userID) } catch let error as MatrixError { throw ValidationError(error.message) }
        let bytes = JSONValue.object(archive).encoded()
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot write \(output)")
            }
            print("Wrote the archive of \(userID) to \(output) (\(bytes.count) bytes).")
        } else {
            FileHandle.standardOutput.write(Data(bytes))
        }
    }
}
