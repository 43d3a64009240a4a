import Crypto
import Foundation
import SwiftASN1
import X509

/// A certificate authority made for one test run, and server certificates it issues, written
/// as PEM files in a temporary directory (the way an operator's private CA would be used).
struct TestCA {
    let directory: String
    let caFile: String
    private let key: P256.Signing.PrivateKey
    private let name: DistinguishedName

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-ca-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        key = P256.Signing.PrivateKey()
        name = try DistinguishedName { CommonName("Hearth Test CA") }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: now - 3600,
            notValidAfter: now + 86_400, issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
        caFile = directory + "/ca.pem"
        try certificate.serializeAsPEM().pemString.write(toFile: caFile, atomically: true, encoding: .utf8)
    }

    /// Issues a certificate for DNS names and IP addresses; returns (certificate, key) paths.
    func issue(_ label: String, dnsNames: [String] = ["localhost"], ipAddresses: [[UInt8]] = [[127, 0, 0, 1]],
               validFor seconds: TimeInterval = 86_400) throws -> (certificate: String, key: String) {
        let leafKey = P256.Signing.PrivateKey()
        let now = Date()
        let names = dnsNames.map { GeneralName.dnsName($0) } + ipAddresses.map { GeneralName.ipAddress(ASN1OctetString(contentBytes: $0[...])) }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey), notValidBefore: now - 3600,
            notValidAfter: now + seconds, issuer: name, subject: try DistinguishedName { CommonName(label) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                SubjectAlternativeNames(names)
                try ExtendedKeyUsage([.serverAuth])
            },
            issuerPrivateKey: .init(key))
        let certificatePath = directory + "/\(label).crt"
        let keyPath = directory + "/\(label).key"
        try certificate.serializeAsPEM().pemString.write(toFile: certificatePath, atomically: true, encoding: .utf8)
        try leafKey.pemRepresentation.write(toFile: keyPath, atomically: true, encoding: .utf8)
        return (certificatePath, keyPath)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
