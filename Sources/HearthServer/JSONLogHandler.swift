import Foundation
import HearthCore
public import Logging

/// One JSON object per log line, for log shippers.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: JSONObject = [
            "ts": .string(ISO8601DateFormatter().string(from: Date())),
            "level": .string(event.level.rawValue),
            "logger": .string(label),
            "msg": .string("\(event.message)"),
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = .string("\(value)")
        }
        var line = object.encoded()
        line.append(0x0A)
        FileHandle.standardError.write(Data(line))
    }
}
