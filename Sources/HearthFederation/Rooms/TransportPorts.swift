public import HearthCore
public import HearthHomeserver
import HearthStorage

/// The room layer's ports (`FederationPorts`), implemented with this transport: keys from the
/// key ring, requests through the federation client (and so through the egress gate), and
/// the persistent outbound queues of the federation sender.
extension Federation {
    public var roomPorts: FederationPorts {
        FederationPorts(keys: KeyRingKeys(keyRing: keyRing), remotes: ClientRemotes(client: client),
                        outbox: SenderOutbox(sender: sender))
    }
}

struct KeyRingKeys: ServerKeyProvider {
    let keyRing: KeyRing
    func verifyKey(server: ServerName, keyID: String, validAt: Milliseconds?) async -> VerifyKey? {
        try? await keyRing.verifyKey(for: server, keyID: keyID, validAt: validAt)
    }
}

struct ClientRemotes: RemoteHomeservers {
    let client: FederationClient
    func send(_ request: FederationRequest, to destination: ServerName) async throws -> JSONValue {
        let response: FederationResponse
        do {
            response = try await client.request(request.method, request.path, query: request.query,
                                                json: request.body.map(JSONValue.object), destination: destination)
        } catch {
            if case .remote(let status, let remoteError) = error {
                throw remoteError ?? MatrixError(.unknown, status: status, "\(destination) answered \(status)")
            }
            throw error
        }
        do { return try JSONValue.parse(response.body) } catch {
            throw MatrixError(.unknown, status: 502, "\(destination) answered with a body that is not JSON")
        }
    }
}

struct SenderOutbox: FederationOutbox {
    let sender: FederationSender
    func enqueue(pdu: PDU, to destinations: Set<ServerName>) async {
        try? await sender.send(pdu: pdu, to: destinations)
    }
    func enqueue(edu: JSONObject, to destinations: Set<ServerName>) async {
        guard let type = edu["edu_type"]?.stringValue, let content = edu["content"]?.objectValue else { return }
        try? await sender.send(edu: EDU(type: type, content: content), to: destinations)
    }
}
