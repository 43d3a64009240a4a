// libFuzzer target: the small text parsers that read untrusted strings: the X-Matrix
// Authorization header, matrix: / matrix.to URIs, dot-separated property paths, server
// names and identifiers, and glob patterns. Built and run by Scripts/fuzz.sh.
// Invariants: nothing traps; what Hearth writes, it reads back the same.
import FuzzSupport
import Glibc
import HearthCore

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { data, size in fuzzTextParsers(data, size) })

func fuzzTextParsers(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let text = String(decoding: bytes, as: UTF8.self)

    if let auth = try? XMatrixAuthorization(header: text) {
        let again = try? XMatrixAuthorization(header: auth.headerValue)
        precondition(again == auth, "X-Matrix header does not round-trip: \(auth.headerValue)")
    }
    if let uri = MatrixURI(text) {
        precondition(MatrixURI(uri.matrixURIString) == uri, "matrix: URI does not round-trip: \(uri.matrixURIString)")
        precondition(MatrixURI(uri.matrixToString) == uri, "matrix.to link does not round-trip: \(uri.matrixToString)")
    }
    let path = PropertyPath(text)
    precondition(PropertyPath(path.description) == path, "property path does not round-trip: \(text)")
    if let server = ServerName(text) { _ = ServerACL(allow: ["*"]).allows(server) }
    _ = UserID(text)
    _ = RoomID(text)
    _ = EventID(text)
    _ = RoomAlias(text)
    _ = ThirdPartyID.canonicalEmail(text)
    // Split the input into a pattern and a subject at the first NUL.
    if let nul = text.firstIndex(of: "\0") {
        let pattern = GlobPattern(String(text[..<nul]))
        let subject = String(text[text.index(after: nul)...])
        _ = pattern.matches(subject)
        _ = pattern.matchesWordBounded(in: subject)
    }
    return 0
}
