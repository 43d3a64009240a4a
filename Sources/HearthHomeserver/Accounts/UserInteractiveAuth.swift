import HearthCore
import HearthStorage
import Synchronization

/// User-interactive authentication: the 401 dance of flows, stages and sessions.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#user-interactive-authentication-api
///
/// Sessions live in memory for a few minutes; a restart only makes clients start over.
public final class UserInteractiveAuth: Sendable {
    struct Session {
        var completed: [String]
        var createdAt: Milliseconds
        /// The request the session was started for; a session cannot be reused for another.
        var purpose: String
    }

    private let sessions = Mutex<[String: Session]>([:])
    private let clock: any WallClock
    private static let lifetime: Milliseconds = 10 * 60 * 1000

    init(clock: any WallClock) { self.clock = clock }

    /// Checks one stage's credentials; returns true if they are valid.
    public typealias StageValidator = @Sendable (_ stage: String, _ auth: JSONObject) async throws -> Bool

    /// Runs the auth dict of a request through the flows. Returns when some flow is complete;
    /// otherwise throws the 401 that tells the client what to do next.
    public func require(_ auth: JSONObject?, flows: [[String]], purpose: String, params: JSONObject = [:],
                 validate: StageValidator) async throws {
        let now = clock.now()
        var sessionID = auth?["session"]?.stringValue
        var completed: [String] = []
        if let id = sessionID {
            guard let session = sessions.withLock({ $0[id] }), session.purpose == purpose,
                  now - session.createdAt < Self.lifetime
            else { throw challenge(flows: flows, session: newSession(purpose: purpose, now: now), completed: [], params: params) }
            completed = session.completed
        } else {
            sessionID = newSession(purpose: purpose, now: now)
        }
        let id = sessionID!
        var stageError: MatrixError? = nil
        if let auth, let type = auth["type"]?.stringValue {
            guard flows.contains(where: { $0.contains(type) }) else {
                throw MatrixError(.unrecognized, status: 400, "Unknown authentication type \(type)")
            }
            if try await validate(type, auth) {
                if !completed.contains(type) { completed.append(type) }
                sessions.withLock { $0[id]?.completed = completed }
            } else {
                stageError = .forbidden("Invalid credentials for \(type)")
            }
        }
        if flows.contains(where: { flow in flow.allSatisfy(completed.contains) }) {
            sessions.withLock { _ = $0.removeValue(forKey: id) }
            return
        }
        var error = challenge(flows: flows, session: id, completed: completed, params: params)
        if let stageError {
            error.bodyOverride?["errcode"] = .string(stageError.code.rawValue)
            error.bodyOverride?["error"] = .string(stageError.message)
        }
        throw error
    }

    private func newSession(purpose: String, now: Milliseconds) -> String {
        let id = Tokens.random(bytes: 18)
        sessions.withLock { sessions in
            sessions = sessions.filter { now - $0.value.createdAt < Self.lifetime }
            sessions[id] = Session(completed: [], createdAt: now, purpose: purpose)
        }
        return id
    }

    private func challenge(flows: [[String]], session: String, completed: [String], params: JSONObject) -> MatrixError {
        var error = MatrixError(.forbidden, status: 401, "User-interactive authentication required")
        error.bodyOverride = [
            "flows": .array(flows.map { ["stages": JSONValue($0)] }),
            "params": .object(params),
            "session": .string(session),
            "completed": JSONValue(completed),
        ]
        return error
    }
}
