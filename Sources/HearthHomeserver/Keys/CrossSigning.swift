public import HearthCore
public import HearthStorage

/// Cross-signing keys, signatures between keys, and the device-list changes clients track.
/// Spec: https://spec.matrix.org/v1.19/client-server-api/#cross-signing
extension EndToEndKeys {
    static let invalidSignature = ErrorCode(rawValue: "M_INVALID_SIGNATURE")

    /// The single ed25519 public key of a cross-signing key, checked for owner and usage.
    static func publicKey(of key: JSONObject, user: UserID, usage: String) throws(MatrixError) -> String {
        guard key["user_id"]?.stringValue == user.rawValue else { throw .invalidParam("\(usage) key belongs to another user") }
        guard key["usage"]?.arrayValue?.contains(.string(usage)) == true else { throw .invalidParam("\(usage) key lacks its usage") }
        guard let keys = key["keys"]?.objectValue, keys.count == 1, let member = keys.members.first,
              member.key.hasPrefix("ed25519:"), member.value.stringValue == String(member.key.dropFirst(8))
        else { throw .invalidParam("\(usage) key must hold one ed25519 key named after itself") }
        return String(member.key.dropFirst(8))
    }

    static func verify(_ object: JSONObject, signedBy user: UserID, publicKey: String) -> Bool {
        guard let key = VerifyKey(base64: publicKey) else { return false }
        do {
            try JSONSigning.verify(object, by: user.rawValue, keyID: "ed25519:" + publicKey, key: key)
            return true
        } catch {
            return false
        }
    }

    /// Whether `POST /keys/device_signing/upload` needs the user's password: when it would
    /// replace an existing master key (a first upload needs none).
    public func crossSigningUploadNeedsAuth(_ body: JSONObject, for user: UserID) async throws -> Bool {
        guard let existing = try await store.crossSigningKeys(of: [user])[user]?["master"] else { return false }
        guard let master = body["master_key"]?.objectValue else { return false }
        return master != existing
    }

    /// `POST /keys/device_signing/upload`: self- and user-signing keys must be signed by the
    /// master key (the one uploaded with them, or the stored one).
    public func uploadCrossSigningKeys(_ body: JSONObject, for user: UserID) async throws {
        let stored = try await store.crossSigningKeys(of: [user])[user] ?? [:]
        var upload: [(String, JSONObject)] = []
        var masterKey: String? = try stored["master"].map { try Self.publicKey(of: $0, user: user, usage: "master") }
        if let value = body["master_key"] {
            guard let master = value.objectValue else { throw MatrixError.badJSON("master_key must be an object") }
            masterKey = try Self.publicKey(of: master, user: user, usage: "master")
            upload.append(("master", master))
        }
        for (field, usage) in [("self_signing_key", "self_signing"), ("user_signing_key", "user_signing")] {
            guard let value = body[field] else { continue }
            guard let key = value.objectValue else { throw MatrixError.badJSON("\(field) must be an object") }
            _ = try Self.publicKey(of: key, user: user, usage: usage)
            guard let masterKey else { throw MatrixError.missingParam("A master key is needed to sign the \(usage) key") }
            guard Self.verify(key, signedBy: user, publicKey: masterKey) else {
                throw MatrixError(Self.invalidSignature, status: 400, "The \(usage) key is not signed by the master key")
            }
            upload.append((usage, key))
        }
        for (type, key) in upload { try await store.setCrossSigningKey(user, type: type, key: key) }
        if !upload.isEmpty { try await announceDeviceChange(of: user) }
    }

    /// `POST /keys/signatures/upload`: the requester's signatures of their own devices and
    /// master key, and of other users' master keys. Each is checked against the signing key it
    /// names before it is added to the stored key.
    public func uploadSignatures(_ body: JSONObject, for requester: Requester) async throws -> JSONObject {
        let signer = requester.userID
        let mine = try await store.crossSigningKeys(of: [signer])[signer] ?? [:]
        let myDevices = try await store.deviceKeys(of: [signer])[signer] ?? [:]
        func signingKeys() throws(MatrixError) -> [String: String] {
            // key ID → public key, for every key that may sign in this request.
            var keys: [String: String] = [:]
            for (type, key) in mine where type != "master" {
                let public_ = try Self.publicKey(of: key, user: signer, usage: type)
                keys["ed25519:" + public_] = public_
            }
            for (device, key) in myDevices {
                if let public_ = key["keys"]?["ed25519:" + device]?.stringValue { keys["ed25519:" + device] = public_ }
            }
            return keys
        }
        let signers = try signingKeys()
        var failures = JSONObject()
        var changed = Set<UserID>()
        for member in body {
            guard let user = UserID(member.key), let objects = member.value.objectValue else { continue }
            let storedDevices = try await store.deviceKeys(of: [user])[user] ?? [:]
            let storedMaster = try await store.crossSigningKeys(of: [user])[user]?["master"]
            var userFailures = JSONObject()
            for object in objects {
                guard let signed = object.value.objectValue else { continue }
                func fail(_ code: ErrorCode, _ message: String) {
                    userFailures[object.key] = ["errcode": .string(code.rawValue), "error": .string(message)]
                }
                // What is being signed: a device of the user, or the user's master key.
                var target: (kind: String, stored: JSONObject)? = nil
                if let device = storedDevices[object.key] {
                    target = ("device", device)
                } else if let master = storedMaster, master["keys"]?["ed25519:" + object.key] != nil {
                    target = ("master", master)
                }
                guard let target else { fail(.notFound, "Unknown key \(object.key)"); continue }
                func unsignedPart(_ o: JSONObject) -> JSONObject { o.filter { $0 != "signatures" && $0 != "unsigned" } }
                guard unsignedPart(signed) == unsignedPart(target.stored) else {
                    fail(.invalidParam, "The signed object differs from the stored key"); continue
                }
                let newSignatures = signed["signatures"]?[signer.rawValue]?.objectValue ?? [:]
                var merged = target.stored["signatures"]?[signer.rawValue]?.objectValue ?? [:]
                var accepted = false
                for signature in newSignatures {
                    guard let public_ = signers[signature.key], Self.verify(signed, signedBy: signer, publicKey: public_) else { continue }
                    merged[signature.key] = signature.value
                    accepted = true
                }
                guard accepted else { fail(Self.invalidSignature, "No valid signature by a key of \(signer)"); continue }
                var updated = target.stored
                var signatures = updated["signatures"]?.objectValue ?? [:]
                signatures[signer.rawValue] = .object(merged)
                updated["signatures"] = .object(signatures)
                if target.kind == "device" {
                    try await store.setDeviceKeys(user, device: object.key, keys: updated)
                } else {
                    try await store.setCrossSigningKey(user, type: "master", key: updated)
                }
                changed.insert(user)
            }
            if !userFailures.isEmpty { failures[user.rawValue] = .object(userFailures) }
        }
        for user in changed { try await announceDeviceChange(of: user) }
        return ["failures": .object(failures)]
    }

    /// Users sharing a joined room with `user`, and the user.
    func usersSharingRooms(with user: UserID) async throws -> Set<UserID> {
        var users: Set<UserID> = [user]
        for membership in try await rooms.memberships(of: user) where membership.membership == "join" {
            for member in try await rooms.members(of: membership.roomID) where member.membership == "join" { users.insert(member.userID) }
        }
        return users
    }

    /// `GET /keys/changes`: users sharing a room with the requester whose keys changed between
    /// two sync tokens.
    public func changes(from: SyncToken, to: SyncToken, for user: UserID) async throws -> [UserID] {
        let changed = try await store.deviceListChanges(after: from.stream, upTo: to.stream)
        return changed.intersection(try await usersSharingRooms(with: user)).sorted()
    }
}
