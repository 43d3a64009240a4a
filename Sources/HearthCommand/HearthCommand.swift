import ArgumentParser
import Foundation
import HearthCore
import HearthFederation
import HearthHomeserver
import HearthServer
import Logging

@main
struct Hearth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hearth",
        abstract: "Hearth: a Matrix homeserver for organizations that keep their members' data to themselves.",
        subcommands: [Serve.self, GenerateConfig.self, RegisterUser.self, RotateKey.self, Routes.self],
        defaultSubcommand: Serve.self)
}

struct ConfigOption: ParsableArguments {
    @Option(name: [.customShort("c"), .long], help: "Path to the YAML configuration file.")
    var config: String?

    /// The configuration from the file, or the local default when no file is given.
    func load() throws -> HearthConfig {
        guard let path = config else { return .localDefault() }
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

    func run() async throws {
        let config = try options.load()
        let logger = bootstrapLogging(config)
        if options.config == nil {
            logger.notice("no --config given: running the local default (localhost:8008, data in \(config.dataDirectory))")
        }
        try await HearthServer.run(config, logger: logger)
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
