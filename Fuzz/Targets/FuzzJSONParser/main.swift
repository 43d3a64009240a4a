// libFuzzer target: the JSON parser and writer. Built and run by Scripts/fuzz.sh.
// Invariants checked (a violation traps, which libFuzzer reports as a crash):
//   - parse either returns or throws;
//   - a parsed value re-encodes to bytes that parse back to an equal value, and encoding
//     that value gives the same bytes again (the writer is deterministic);
//   - canonical bytes, when the value has them, are a fixed point of parse + canonicalise.
import FuzzSupport
import Glibc
import HearthCore

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { data, size in fuzzJSONParser(data, size) })

func fuzzJSONParser(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let value = try? JSONValue.parse(bytes) else { return 0 }
    let encoded = value.encoded()
    guard let reparsed = try? JSONValue.parse(encoded) else {
        fatalError("encoded output does not parse: \(value.encodedString())")
    }
    precondition(reparsed.encoded() == encoded, "encoding is not stable for \(value.encodedString())")
    if let canonical = try? value.canonicalBytes() {
        guard let again = try? JSONValue.parse(canonical).canonicalBytes() else {
            fatalError("canonical output does not parse back: \(String(decoding: canonical, as: UTF8.self))")
        }
        precondition(again == canonical, "canonical JSON is not a fixed point")
        precondition(value.isStrictlyCanonical || value.containsIntegralFloat, "non-canonical value had canonical bytes")
    }
    return 0
}

extension JSONValue {
    /// Floats such as `1.0` or `1e10` have canonical bytes (the integer they denote) even
    /// though the value is not strictly canonical.
    var containsIntegralFloat: Bool {
        switch self {
        case .float: return true
        case .array(let a): return a.contains { $0.containsIntegralFloat }
        case .object(let o): return o.members.contains { $0.value.containsIntegralFloat }
        default: return false
        }
    }
}
