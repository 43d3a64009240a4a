import Foundation
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// The TLS certificate and key of the listeners, re-read when their files change: each
/// handshake checks the files' modification times (at most once a second) and, after a
/// renewal (certbot, an internal CA), new connections get the new certificate without a
/// restart. A file that does not parse keeps the previous pair in use.
final class TLSCertificates: Sendable {
    private struct Loaded {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        var stamp: [Date]
        var checked: Date
    }

    let certificatePath: String
    let keyPath: String
    private let logger: Logger
    private let current: Mutex<Loaded>

    init(certificatePath: String, keyPath: String, logger: Logger) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.logger = logger
        let (chain, key) = try Self.load(certificatePath, keyPath)
        current = Mutex(Loaded(chain: chain, key: key, stamp: Self.stamp(certificatePath, keyPath), checked: Date()))
    }

    private static func load(_ certificatePath: String, _ keyPath: String) throws -> ([NIOSSLCertificate], NIOSSLPrivateKey) {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        guard !chain.isEmpty else { throw ConfigError("no certificate in \(certificatePath)") }
        return (chain, try NIOSSLPrivateKey(file: keyPath, format: .pem))
    }

    private static func stamp(_ paths: String...) -> [Date] {
        paths.map { (try? FileManager.default.attributesOfItem(atPath: $0)[.modificationDate] as? Date) ?? .distantPast }
    }

    /// Re-reads the files if they changed since the last load.
    func reloadIfChanged(force: Bool = false) {
        let now = Date()
        let due = current.withLock { loaded -> Bool in
            guard force || now.timeIntervalSince(loaded.checked) >= 1 else { return false }
            loaded.checked = now
            return true
        }
        guard due else { return }
        let stamp = Self.stamp(certificatePath, keyPath)
        guard force || stamp != current.withLock({ $0.stamp }) else { return }
        do {
            let (chain, key) = try Self.load(certificatePath, keyPath)
            current.withLock { $0 = Loaded(chain: chain, key: key, stamp: stamp, checked: now) }
            logger.notice("reloaded the TLS certificate", metadata: ["path": "\(certificatePath)"])
        } catch {
            logger.error("cannot reload the TLS certificate; keeping the previous one", metadata: ["error": "\(error)"])
        }
    }

    /// A server configuration whose certificate is chosen per handshake from the current pair.
    func serverConfiguration() -> TLSConfiguration {
        let loaded = current.withLock { $0 }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: loaded.chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(loaded.key))
        configuration.sslContextCallback = { [self] _, promise in
            reloadIfChanged()
            let pair = current.withLock { $0 }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = pair.chain.map { .certificate($0) }
            override.privateKey = .privateKey(pair.key)
            promise.succeed(override)
        }
        return configuration
    }
}
