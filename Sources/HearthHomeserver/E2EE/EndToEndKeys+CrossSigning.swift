public import HearthCore
public import HearthStorage

extension EndToEndKeys {
    /// The single Ed25519 key of a cross-signing key object, as (key ID, key).
    static func ed25519Key(of object: JSONObject) -> (String, VerifyKey)? {
        guard let keys = object["keys"]?.objectValue, keys.count == 1, let member = keys.members.first,
              member.key.hasPrefix("ed25519:"), let text = member.value.stringValue, let key = VerifyKey(base64: text)
        else { return nil }
        return (member.key, key)
    }

    public func hasMasterKey(_ user: UserID) async throws -> Bool {
        try await store.crossSigningKeys(user)["master"] != nil
    }

    /// `POST /keys/device_signing/upload` (after the caller's user-interactive auth).
    public func uploadCrossSigningKeys(_ requester: Requester, body: JSONObject) async throws {
        let existing = try await store.crossSigningKeys(requester.userID)
        var master = existing["master"]
        var uploads: [(String, JSONObject)] = []
        for (field, usage) in [("master_key", "master"), ("self_signing_key", "self_signing"), ("user_signing_key", "user_signing")] {
            guard let key = body[field]?.objectValue else { continue }
            guard key["user_id"]?.stringValue == requester.userID.rawValue,
                  key["usage"]?.arrayValue?.contains(.string(usage)) == true, Self.ed25519Key(of: key) != nil
            else { throw MatrixError.invalidParam("Invalid \(field)") }
            if usage == "master" { master = key }
            uploads.append((usage, key))
        }
        // Sub-keys must be signed by the master key they belong to.
        for (usage, key) in uploads where usage != "master" {
            guard let master, let (masterID, masterKey) = Self.ed25519Key(of: master),
                  (try? JSONSigning.verify(key, by: requester.userID.rawValue, keyID: masterID, key: masterKey)) != nil
            else { throw MatrixError.invalidParam("The \(usage) key is not signed by the master key") }
        }
        for (usage, key) in uploads { try await store.setCrossSigningKey(requester.userID, type: usage, key: key) }
        if !uploads.isEmpty { await notifyDeviceListChange(requester.userID) }
    }

    /// `POST /keys/signatures/upload`: adds verified signatures to stored device and
    /// cross-signing keys. Returns the failures map.
    public func uploadSignatures(_ requester: Requester, body: JSONObject) async throws -> JSONObject {
        var failures = JSONObject()
        let mine = try await store.crossSigningKeys(requester.userID)
        for userMember in body {
            guard let target = UserID(userMember.key), let objects = userMember.value.objectValue else { continue }
            var userFailures = JSONObject()
            for keyMember in objects {
                guard let signed = keyMember.value.objectValue else { continue }
                do {
                    try await addSignature(requester, target: target, keyID: keyMember.key, signed: signed, mine: mine)
                } catch let error as MatrixError {
                    userFailures[keyMember.key] = ["errcode": .string(error.code.rawValue), "error": .string(error.message)]
                }
            }
            if !userFailures.isEmpty { failures[userMember.key] = .object(userFailures) }
        }
        return failures
    }

    private func addSignature(_ requester: Requester, target: UserID, keyID: String, signed: JSONObject,
                              mine: [String: JSONObject]) async throws {
        guard target.server == settings.serverName else {
            throw MatrixError(.unrecognized, status: 400, "Signatures of remote keys are not supported")
        }
        let signer = requester.userID.rawValue
        guard let newSignatures = signed["signatures"]?[signer]?.objectValue, !newSignatures.isEmpty else {
            throw MatrixError.invalidParam("No signature by \(signer)")
        }
        // Which stored object is being signed, and with which of the signer's keys it must verify.
        var stored: JSONObject
        var isDevice = false
        let theirs = try await store.crossSigningKeys(target)
        if let master = theirs["master"], let (masterID, _) = Self.ed25519Key(of: master), masterID == "ed25519:\(keyID)" {
            stored = master
        } else if let device = try await store.deviceKeys(target)[keyID] {
            stored = device
            isDevice = true
        } else {
            throw MatrixError.notFound("Unknown key \(keyID)")
        }
        // The signed content must be the stored object (signatures and unsigned aside).
        var comparable = signed
        comparable["signatures"] = nil
        comparable["unsigned"] = nil
        var storedComparable = stored
        storedComparable["signatures"] = nil
        storedComparable["unsigned"] = nil
        guard comparable == storedComparable else { throw MatrixError.invalidParam("Signed object does not match the stored key") }
        var verified = false
        var signingKeys: [(String, VerifyKey)] = []
        if target == requester.userID {
            if isDevice, let selfSigning = mine["self_signing"], let key = Self.ed25519Key(of: selfSigning) { signingKeys.append(key) }
            if !isDevice {
                // A device signs its own user's master key.
                for (_, device) in try await store.deviceKeys(requester.userID) {
                    if let keys = device["keys"]?.objectValue {
                        for member in keys where member.key.hasPrefix("ed25519:") {
                            if let key = member.value.stringValue.flatMap(VerifyKey.init(base64:)) { signingKeys.append((member.key, key)) }
                        }
                    }
                }
            }
        } else if let userSigning = mine["user_signing"], let key = Self.ed25519Key(of: userSigning), !isDevice {
            signingKeys.append(key)
        }
        var merged = stored["signatures"]?.objectValue ?? [:]
        var signerMap = merged[signer]?.objectValue ?? [:]
        for (signatureKeyID, key) in signingKeys where newSignatures[signatureKeyID] != nil {
            if (try? JSONSigning.verify(signed, by: signer, keyID: signatureKeyID, key: key)) != nil {
                signerMap[signatureKeyID] = newSignatures[signatureKeyID]
                verified = true
            }
        }
        guard verified else { throw MatrixError.invalidParam("Invalid signature") }
        merged[signer] = .object(signerMap)
        stored["signatures"] = .object(merged)
        if isDevice {
            try await store.setDeviceKeys(target, keyID, keys: stored)
        } else {
            try await store.setCrossSigningKey(target, type: "master", key: stored)
        }
        await notifyDeviceListChange(target)
    }

    // MARK: To-device messages

    /// `PUT /sendToDevice/{eventType}/{txnId}`: idempotent by transaction ID; `*` means every
    /// device of the user.
    public func sendToDevice(_ requester: Requester, type: String, transactionID: String, messages: JSONObject) async throws {
        var local: [(userID: UserID, deviceID: String, content: JSONObject)] = []
        var remoteMessages: [ServerName: [UserID: [String: JSONObject]]] = [:]
        for userMember in messages {
            guard let user = UserID(userMember.key), let devices = userMember.value.objectValue else {
                throw MatrixError.badJSON("messages must map user IDs to device maps")
            }
            for deviceMember in devices {
                guard let content = deviceMember.value.objectValue else { throw MatrixError.badJSON("message content must be an object") }
                if user.server != settings.serverName {
                    remoteMessages[user.server, default: [:]][user, default: [:]][deviceMember.key] = content
                } else if deviceMember.key == "*" {
                    for device in try await accounts.devices(of: user) { local.append((user, device.deviceID, content)) }
                } else {
                    local.append((user, deviceMember.key, content))
                }
            }
        }
        guard try await store.queueToDevice(sender: requester.userID, senderDevice: requester.deviceID, transactionID: transactionID,
                                            type: type, messages: local)
        else { return }  // a retried transaction: already queued once
        notifier.notify(rooms: [], users: Array(Set(local.map(\.userID.rawValue))))
        for (server, byUser) in remoteMessages {
            try await remote?.sendToDevice(type: type, sender: requester.userID, messages: byUser, to: server)
        }
    }

    /// Delivers to-device messages that arrived from another server.
    public func receiveToDevice(sender: UserID, type: String, messages: [UserID: [String: JSONObject]], messageID: String) async throws {
        var local: [(userID: UserID, deviceID: String, content: JSONObject)] = []
        for (user, devices) in messages where user.server == settings.serverName {
            for (deviceID, content) in devices {
                if deviceID == "*" {
                    for device in try await accounts.devices(of: user) { local.append((user, device.deviceID, content)) }
                } else {
                    local.append((user, deviceID, content))
                }
            }
        }
        guard try await store.queueToDevice(sender: sender, senderDevice: "federation", transactionID: messageID, type: type,
                                            messages: local)
        else { return }
        notifier.notify(rooms: [], users: Array(Set(local.map(\.userID.rawValue))))
    }
}
