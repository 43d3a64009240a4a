import Foundation
import HearthStorage

/// Wall-clock time in Matrix's unit. A protocol so tests can control it.
public protocol WallClock: Sendable {
    func now() -> Milliseconds
}

public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Milliseconds { Milliseconds(Date().timeIntervalSince1970 * 1000) }
}
