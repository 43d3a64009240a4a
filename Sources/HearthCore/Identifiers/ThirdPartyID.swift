import Crypto

/// Third-party identifiers (3PIDs): e-mail addresses and phone numbers linked to accounts.
/// Spec: https://spec.matrix.org/v1.19/appendices/#3pid-types
public enum ThirdPartyID {
    /// The canonical form of an e-mail address: the domain lower-cased and the whole
    /// address case-folded as Unicode "Caseless Matching" describes (full case folding), so
    /// `Strauß@Example.com` becomes `strauss@example.com`.
    /// Spec: https://spec.matrix.org/v1.19/appendices/#e-mail
    public static func canonicalEmail(_ address: String) -> String {
        var address = address
        if let at = address.lastIndex(of: "@") {
            let domain = address[address.index(after: at)...]
            address = String(address[...at]) + String(domain.unicodeScalars.map(CaseFolding.simpleLower).map(Character.init))
        }
        return CaseFolding.fold(address)
    }

    /// The canonical form of an address of `medium`: e-mail addresses as above, phone
    /// numbers (`msisdn`) and unknown media unchanged.
    public static func canonicalAddress(_ address: String, medium: String) -> String {
        medium == "email" ? canonicalEmail(address) : address
    }
}

/// Hashed identity-server lookups.
/// Spec: https://spec.matrix.org/v1.19/identity-service-api/#hashing-identifiers
public enum IdentityLookup {
    /// The `sha256` algorithm: SHA-256 of `"<address> <medium> <pepper>"`, as URL-safe
    /// unpadded base64.
    public static func sha256Hash(address: String, medium: String, pepper: String) -> String {
        sha256Hash(of: address + " " + medium + " " + pepper)
    }

    /// The same hash of an already joined `"<address> <medium> <pepper>"` string.
    public static func sha256Hash(of input: String) -> String {
        Base64.encode(Array(SHA256.hash(data: Array(input.utf8))), alphabet: .urlSafe)
    }
}

/// Unicode full case folding (CaseFolding.txt statuses C and F), built from the standard
/// library's case mappings: folding a character is lower-casing its upper-case form, which
/// agrees with CaseFolding.txt except for the few characters listed in `exceptions`.
/// The interop tests compare every code point with Python's `str.casefold`.
/// Spec: https://spec.matrix.org/v1.19/appendices/#e-mail refers to "Caseless Matching",
/// Unicode chapter 5 (default case folding).
public enum CaseFolding {
    public static func fold(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars { out.append(contentsOf: fold(scalar)) }
        return String(out)
    }

    public static func fold(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        if scalar.isASCII {
            return [(0x41...0x5A).contains(scalar.value) ? Unicode.Scalar(scalar.value + 0x20)! : scalar]
        }
        if let special = exceptions[scalar.value] { return special.compactMap(Unicode.Scalar.init) }
        guard folds(scalar) else { return [scalar] }
        // upper then lower, repeated while the result still changes (ẞ → ß → SS → ss).
        var current = [scalar]
        for _ in 0..<3 {
            let next = current.flatMap { s -> [Unicode.Scalar] in
                guard folds(s) else { return [s] }
                let upper = s.properties.uppercaseMapping
                return Array(upper.unicodeScalars.flatMap { $0.properties.lowercaseMapping.unicodeScalars })
            }
            if next == current { break }
            current = next
        }
        return current
    }

    /// Whether case folding changes `scalar`. The standard library's Changes_When_Casefolded
    /// is false for the lower-case letters whose upper-case form is several characters (ǰ,
    /// ΐ, ῦ, …), though they do fold.
    private static func folds(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.changesWhenCaseFolded || scalar.properties.uppercaseMapping.unicodeScalars.count > 1
    }

    static func simpleLower(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        let lower = scalar.properties.lowercaseMapping.unicodeScalars
        return lower.count == 1 ? lower.first! : scalar
    }

    /// Characters whose folding is not lower(upper(c)).
    static let exceptions: [UInt32: [UInt32]] = {
        var table: [UInt32: [UInt32]] = [:]
        // Cherokee: lower-case letters fold to the upper-case ones (Unicode 8 stability).
        for v in UInt32(0x13F8)...0x13FD { table[v] = [v - 8] }
        for v in UInt32(0xAB70)...0xABBF { table[v] = [v - 0xAB70 + 0x13A0] }
        // GREEK PROSGEGRAMMENI folds to iota although it is neither upper nor lower case.
        table[0x1FBE] = [0x03B9]
        return table
    }()
}
