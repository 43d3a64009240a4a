import Crypto
import HearthCore

/// Random secrets and their digests. Only digests are stored.
public enum Tokens {
    public static func random(bytes count: Int = 32) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Base64.encode(bytes, alphabet: .urlSafe)
    }

    public static func accessToken() -> String { "hth_" + random() }
    public static func refreshToken() -> String { "htr_" + random() }
    public static func deviceID() -> String { letters(10).uppercased() }

    /// Random ASCII letters, for identifiers that should look plain (device and room IDs).
    public static func letters(_ count: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in alphabet.randomElement(using: &generator)! })
    }

    public static func digest(_ token: String) -> [UInt8] { Array(SHA256.hash(data: Array(token.utf8))) }
}
