import CEd25519
import Crypto
@testable import HearthCore
import Testing

/// The per-key tables must answer exactly as BoringSSL: every valid signature confirmed, and
/// nothing BoringSSL rejects confirmed.
@Suite struct Ed25519TablesTests {
    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    static func digest(_ signature: [UInt8], _ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var hash = SHA512()
        hash.update(data: signature[0..<32])
        hash.update(data: key)
        hash.update(data: message)
        return Array(hash.finalize())
    }

    /// The table's own answer (1 or 0), without BoringSSL behind it.
    static func tableAnswer(_ key: [UInt8], _ signature: [UInt8], _ message: [UInt8]) throws -> Int32 {
        let table = try #require(hearth_ed25519_table_new(key))
        defer { hearth_ed25519_table_free(table) }
        return hearth_ed25519_verify(table, signature, digest(signature, key, message))
    }

    /// RFC 8032, section 7.1, tests 1 and 2.
    @Test func rfc8032Vectors() throws {
        let vectors = [
            ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
             "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
            ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
             "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        ]
        for (key, message, signature) in vectors {
            #expect(try Self.tableAnswer(Self.hex(key), Self.hex(signature), Self.hex(message)) == 1)
            var tampered = Self.hex(signature)
            tampered[5] ^= 0x10
            #expect(try Self.tableAnswer(Self.hex(key), tampered, Self.hex(message)) == 0)
        }
    }

    /// Random keys and messages: the table and BoringSSL agree on valid signatures and on
    /// signatures, messages and keys with one bit flipped.
    @Test func agreesWithBoringSSL() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<24 {
            let privateKey = Curve25519.Signing.PrivateKey()
            let key = Array(privateKey.publicKey.rawRepresentation)
            let table = try #require(hearth_ed25519_table_new(key))
            defer { hearth_ed25519_table_free(table) }
            for _ in 0..<12 {
                let message = (0..<Int.random(in: 0..<900, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let signature = Array(try privateKey.signature(for: message))
                #expect(hearth_ed25519_verify(table, signature, Self.digest(signature, key, message)) == 1)

                var badSignature = signature
                badSignature[Int.random(in: 0..<64, using: &generator)] ^= 1 << UInt8.random(in: 0..<8, using: &generator)
                let boring = privateKey.publicKey.isValidSignature(badSignature, for: message)
                let answer = hearth_ed25519_verify(table, badSignature, Self.digest(badSignature, key, message))
                #expect(answer == 0 && !boring)

                if !message.isEmpty {
                    var badMessage = message
                    badMessage[Int.random(in: 0..<message.count, using: &generator)] ^= 0x01
                    #expect(hearth_ed25519_verify(table, signature, Self.digest(signature, key, badMessage)) == 0)
                }
            }
        }
    }

    /// s must be below the group order: s + L names the same point but is not accepted
    /// (BoringSSL refuses it too).
    @Test func refusesUnreducedS() throws {
        let privateKey = Curve25519.Signing.PrivateKey()
        let key = Array(privateKey.publicKey.rawRepresentation)
        let message = Array("non-canonical".utf8)
        var signature = Array(try privateKey.signature(for: message))
        let order = Self.hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
        var carry = 0
        for index in 0..<32 {
            let sum = Int(signature[32 + index]) + Int(order[index]) + carry
            signature[32 + index] = UInt8(sum & 0xff)
            carry = sum >> 8
        }
        #expect(!privateKey.publicKey.isValidSignature(signature, for: message))
        #expect(try Self.tableAnswer(key, signature, message) == 0)
    }

    /// Only canonical encodings of curve points get a table.
    @Test func refusesNonCanonicalKeys() {
        // y = p (as 2^255 - 19), which is 0 written the long way.
        var encodedP = [UInt8](repeating: 0xff, count: 32)
        encodedP[0] = 0xed
        encodedP[31] = 0x7f
        #expect(hearth_ed25519_table_new(encodedP) == nil)
        // y = 2 is not on the curve.
        var notOnCurve = [UInt8](repeating: 0, count: 32)
        notOnCurve[0] = 2
        #expect(hearth_ed25519_table_new(notOnCurve) == nil)
    }

    /// Reduction modulo L, against values computed independently (Python integers).
    @Test func reducesModuloTheOrder() {
        let cases: [(String, String)] = [
            (String(repeating: "ff", count: 64), "000f9c44e31106a447938568a71b0ed065bef517d273ecce3d9a307c1b419903"),
            ("38b4e652e44da7f2370d9e260e27136550a4a3a6d07f5c0c332f8b1224083fd22b902f8911e81818f8c99d5d5d9831957504d90e945de2e8f54ee781cc75f636",
             "69e635e2b59edaf289828e009b47ac5dd30f507e94a31614a8be389e1655b504"),
            ("d85099095aa300165a67036f9b540d6b8f0be21124179c3dd9f73817ce6e118d264aad6cb6dd210faf94acd3cf92c190237cb11f5d108cf25930263938b370a1",
             "841ac4e571c9aab54df078817d95682262aed88f044783d0d94ebef20ceea708"),
            ("b5769fa0f1483f95a90d9df2f130d60fcf04bd93f50ae69514da8c659ce2b10cccdaebf990d19838b0d7ec0b3e97818ecb96c4dbadbe172296d5234a42b24c6b",
             "fbfa1ec8eb3a28a0e6867e40d52d53090b65e07e85158eb020b4e9cfd6832400"),
            // L itself, and L - 1.
            ("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010" + String(repeating: "00", count: 32),
             String(repeating: "00", count: 32)),
            ("ecd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010" + String(repeating: "00", count: 32),
             "ecd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010"),
        ]
        for (input, expected) in cases {
            var output = [UInt8](repeating: 0, count: 32)
            #expect(hearth_ed25519_reduce(&output, Self.hex(input)) == 0)
            #expect(output == Self.hex(expected))
        }
    }

    /// Through `VerifyKey`: a key gets its table after `usesBeforeTable` verifications, and
    /// then still refuses a bad signature.
    @Test func verifyKeyBuildsATableAndStillRefuses() throws {
        let privateKey = Curve25519.Signing.PrivateKey()
        let key = try #require(VerifyKey(bytes: Array(privateKey.publicKey.rawRepresentation)))
        for round in 0..<(Ed25519Tables.usesBeforeTable + 4) {
            let message = Array("event \(round)".utf8)
            let signature = Array(try privateKey.signature(for: message))
            #expect(key.isValidSignature(signature, for: message))
            var forged = signature
            forged[40] ^= 0x04
            #expect(!key.isValidSignature(forged, for: message))
        }
        #expect(Ed25519Tables.shared.hasTable(for: key.bytes))
    }

    /// A batch answers as the tables do one by one: valid signatures confirmed, tampered ones
    /// and keys without a table not.
    @Test func batchAnswersAsSingleVerifications() throws {
        let withTable = Curve25519.Signing.PrivateKey(), withoutTable = Curve25519.Signing.PrivateKey()
        let keyWithTable = try #require(VerifyKey(bytes: Array(withTable.publicKey.rawRepresentation)))
        let keyWithout = try #require(VerifyKey(bytes: Array(withoutTable.publicKey.rawRepresentation)))
        for round in 0..<Ed25519Tables.usesBeforeTable {
            let message = Array("warm-up \(round)".utf8)
            #expect(keyWithTable.isValidSignature(Array(try withTable.signature(for: message)), for: message))
        }
        #expect(Ed25519Tables.shared.hasTable(for: keyWithTable.bytes))
        var jobs: [(key: VerifyKey, signature: [UInt8], message: [UInt8])] = []
        var expected: [Bool] = []
        for index in 0..<40 {
            let message = Array("event \(index)".utf8)
            if index % 5 == 4 {
                jobs.append((keyWithout, Array(try withoutTable.signature(for: message)), message))
                expected.append(false)
                continue
            }
            var signature = Array(try withTable.signature(for: message))
            if index % 3 == 1 { signature[index % 64] ^= 0x20 }
            jobs.append((keyWithTable, signature, message))
            expected.append(index % 3 != 1)
        }
        #expect(VerifyKey.tableConfirmations(jobs) == expected)
        #expect(VerifyKey.tableConfirmations([]) == [])
    }
}
