// libFuzzer target: the event (PDU) decoder. Built and run by Scripts/fuzz.sh.
// Input: JSON text of an event. Each input is decoded as every room version; a decoded
// event is redacted, hashed and turned into its client and federation forms.
// Invariants: decoding returns or throws; a decoded event's ID is stable across
// redaction (redaction never changes the reference hash); the federation form decodes again
// to the same event ID.
import FuzzSupport
import Glibc
import HearthCore

var arguments = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&arguments, &argv) { data, size in fuzzPDU(data, size) })

func fuzzPDU(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let object = (try? JSONValue.parse(bytes))?.objectValue else { return 0 }
    for version in RoomVersion.all {
        guard let pdu = try? PDU(json: object, version: version) else { continue }
        _ = EventHashing.hasValidContentHash(pdu.json)
        _ = pdu.clientEvent()
        let redacted = pdu.redacted()
        precondition(redacted.eventID == pdu.eventID, "redaction changed the event ID (\(version))")
        if version.eventIDFormat != .serverScoped {
            let recomputed = try? EventHashing.eventID(of: redacted.json, version: version)
            precondition(recomputed == pdu.eventID, "the redacted event hashes to another ID (\(version))")
        }
        if let again = try? PDU(json: pdu.federationJSON, version: version) {
            precondition(again.eventID == pdu.eventID, "federation form has another event ID (\(version))")
        }
    }
    return 0
}
