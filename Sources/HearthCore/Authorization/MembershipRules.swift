/// The rules under "If type is `m.room.member`" (rule 5 in v1–v5 and v12, rule 4 in v6–v11).
/// Spec: https://spec.matrix.org/v1.19/rooms/v12/#authorization-rules
///
/// Every path ends in allow (return) or reject (throw): no later rule applies to a membership
/// event.
enum MembershipRules {
    static func check(_ context: AuthContext) throws(AuthError) {
        let event = context.event
        let numbers = context.numbers

        // "If there is no `state_key` property, or no `membership` property in `content`, reject."
        guard let target = event.stateKey, let membershipValue = event.content["membership"] else {
            throw numbers.reject(numbers.membership(.shape), "membership event without state_key or membership")
        }

        // v8+: "If `content` has a `join_authorised_via_users_server` key: If the event is not
        // validly signed by the homeserver of the user ID denoted by the key, reject." The
        // signature is the caller's to verify (`EventAuthorization.joinAuthorisingServer`); a
        // value that names no homeserver can never be validly signed.
        if context.auth.allowsRestrictedJoins, let via = event.content["join_authorised_via_users_server"],
           via.stringValue.flatMap(UserID.init) == nil {
            throw numbers.reject(numbers.membership(.joinAuthorisedVia, 1),
                                 "join_authorised_via_users_server is not a user ID")
        }

        switch membershipValue.stringValue {
        case "join": try checkJoin(context, target: target)
        case "invite": try checkInvite(context, target: target)
        case "leave": try checkLeave(context, target: target)
        case "ban": try checkBan(context, target: target)
        case "knock" where context.auth.allowsKnocking: try checkKnock(context, target: target)
        default:
            // "Otherwise, the membership is unknown. Reject."
            throw numbers.reject(numbers.membership(.unknown), "unknown membership \(membershipValue)")
        }
    }

    private static func isSender(_ event: PDU, _ target: String) -> Bool {
        event.sender.rawValue.hasSameUTF8(as: target)
    }

    // MARK: join

    private static func checkJoin(_ context: AuthContext, target: String) throws(AuthError) {
        let event = context.event
        let numbers = context.numbers
        let create = context.create

        // "If the only previous event is an `m.room.create` and the `state_key` is the creator
        // [v11+: the sender of the `m.room.create`], allow."
        let firstJoiner: String? = context.auth.createEventHasCreator
            ? create.content["creator"]?.stringValue
            : create.sender.rawValue
        if event.prevEvents.count == 1, event.prevEvents[0] == create.eventID,
           let firstJoiner, firstJoiner.hasSameUTF8(as: target) {
            return
        }

        // "If the `sender` does not match `state_key`, reject."
        guard isSender(event, target) else {
            throw numbers.reject(numbers.join(.senderIsTarget), "\(event.sender) cannot join on behalf of \(target)")
        }

        let current = context.membership(of: target)
        // "If the `sender` is banned, reject."
        if current == "ban" {
            throw numbers.reject(numbers.join(.banned), "\(target) is banned")
        }

        let joinRule = context.joinRule
        // "If the `join_rule` is `invite` [v7+: or `knock`] then allow if membership state is
        // `invite` or `join`."
        if joinRule == "invite" || (context.auth.allowsKnocking && joinRule == "knock") {
            if current == "invite" || current == "join" { return }
            throw numbers.reject(numbers.join(.otherwise), "join rule is \(joinRule ?? "") and \(target) is not invited")
        }

        // v8+: "If the `join_rule` is `restricted` [v10+: or `knock_restricted`]".
        if context.auth.allowsRestrictedJoins,
           joinRule == "restricted" || (context.auth.allowsKnockRestrictedJoins && joinRule == "knock_restricted") {
            // "If membership state is `join` or `invite`, allow."
            if current == "invite" || current == "join" { return }
            // "If the `join_authorised_via_users_server` key in `content` is not a user with
            // sufficient permission to invite other users or is not a joined member of the
            // room, reject."
            guard let authoriser = event.content["join_authorised_via_users_server"]?.stringValue.flatMap(UserID.init)
            else {
                throw numbers.reject(numbers.join(.restricted, 2),
                                     "restricted join without join_authorised_via_users_server")
            }
            guard context.membership(of: authoriser.rawValue) == "join" else {
                throw numbers.reject(numbers.join(.restricted, 2), "authorising user \(authoriser) is not joined")
            }
            let level = context.powerLevels.userLevel(authoriser)
            guard level >= .finite(context.powerLevels.invite) else {
                throw numbers.reject(numbers.join(.restricted, 2),
                                     "authorising user \(authoriser) has level \(level), below the invite level")
            }
            // "Otherwise, allow."
            return
        }

        // "If the `join_rule` is `public`, allow."
        if joinRule == "public" { return }

        // "Otherwise, reject."
        throw numbers.reject(numbers.join(.otherwise), "join rule \(joinRule ?? "(not a string)") does not admit \(target)")
    }

    // MARK: invite

    private static func checkInvite(_ context: AuthContext, target: String) throws(AuthError) {
        let event = context.event
        let numbers = context.numbers

        // "If `content` has a `third_party_invite` property": those rules decide.
        if let thirdPartyInvite = event.content["third_party_invite"] {
            try ThirdPartyInviteRules.check(context, target: target, thirdPartyInvite: thirdPartyInvite)
            return
        }
        // "If the `sender`'s current membership state is not `join`, reject."
        guard context.membership(of: event.sender.rawValue) == "join" else {
            throw numbers.reject(numbers.membership(.invite, 2), "inviter \(event.sender) is not joined")
        }
        // "If *target user*'s current membership state is `join` or `ban`, reject."
        let current = context.membership(of: target)
        if current == "join" || current == "ban" {
            throw numbers.reject(numbers.membership(.invite, 3), "\(target) is already \(current ?? "")")
        }
        // "If the `sender`'s power level is greater than or equal to the *invite level*, allow."
        let senderLevel = context.powerLevels.userLevel(event.sender)
        if senderLevel >= .finite(context.powerLevels.invite) { return }
        // "Otherwise, reject."
        throw numbers.reject(numbers.membership(.invite, 5),
                             "inviter level \(senderLevel) is below the invite level \(context.powerLevels.invite)")
    }

    // MARK: leave

    private static func checkLeave(_ context: AuthContext, target: String) throws(AuthError) {
        let event = context.event
        let numbers = context.numbers
        let current = context.membership(of: target)

        // "If the `sender` matches `state_key`, allow if and only if that user's current
        // membership state is `invite`, `join` [v7+: or `knock`]."
        if isSender(event, target) {
            if current == "invite" || current == "join" || (context.auth.allowsKnocking && current == "knock") {
                return
            }
            throw numbers.reject(numbers.membership(.leave, 1),
                                 "\(target) cannot leave from membership \(current ?? "none")")
        }
        // "If the `sender`'s current membership state is not `join`, reject."
        guard context.membership(of: event.sender.rawValue) == "join" else {
            throw numbers.reject(numbers.membership(.leave, 2), "\(event.sender) is not joined")
        }
        let levels = context.powerLevels
        let senderLevel = levels.userLevel(event.sender)
        // "If the *target user*'s current membership state is `ban`, and the `sender`'s power
        // level is less than the *ban level*, reject."
        if current == "ban", senderLevel < .finite(levels.ban) {
            throw numbers.reject(numbers.membership(.leave, 3), "unbanning needs the ban level \(levels.ban)")
        }
        // "If the `sender`'s power level is greater than or equal to the *kick level*, and the
        // *target user*'s power level is less than the `sender`'s power level, allow."
        let targetLevel = levels.userLevel(stateKey: target)
        if senderLevel >= .finite(levels.kick), targetLevel < senderLevel { return }
        // "Otherwise, reject."
        throw numbers.reject(numbers.membership(.leave, 5),
                             "sender level \(senderLevel) cannot kick \(target) (level \(targetLevel), kick level \(levels.kick))")
    }

    // MARK: ban

    private static func checkBan(_ context: AuthContext, target: String) throws(AuthError) {
        let event = context.event
        let numbers = context.numbers
        // "If the `sender`'s current membership state is not `join`, reject."
        guard context.membership(of: event.sender.rawValue) == "join" else {
            throw numbers.reject(numbers.membership(.ban, 1), "\(event.sender) is not joined")
        }
        // "If the `sender`'s power level is greater than or equal to the *ban level*, and the
        // *target user*'s power level is less than the `sender`'s power level, allow."
        let levels = context.powerLevels
        let senderLevel = levels.userLevel(event.sender)
        let targetLevel = levels.userLevel(stateKey: target)
        if senderLevel >= .finite(levels.ban), targetLevel < senderLevel { return }
        // "Otherwise, reject."
        throw numbers.reject(numbers.membership(.ban, 3),
                             "sender level \(senderLevel) cannot ban \(target) (level \(targetLevel), ban level \(levels.ban))")
    }

    // MARK: knock (v7+)

    private static func checkKnock(_ context: AuthContext, target: String) throws(AuthError) {
        let event = context.event
        let numbers = context.numbers
        // "If the `join_rule` is anything other than `knock` [v10+: or `knock_restricted`], reject."
        let joinRule = context.joinRule
        guard joinRule == "knock" || (context.auth.allowsKnockRestrictedJoins && joinRule == "knock_restricted") else {
            throw numbers.reject(numbers.membership(.knock, 1), "join rule \(joinRule ?? "(not a string)") does not allow knocking")
        }
        // "If `sender` does not match `state_key`, reject."
        guard isSender(event, target) else {
            throw numbers.reject(numbers.membership(.knock, 2), "\(event.sender) cannot knock on behalf of \(target)")
        }
        // "If the `sender`'s current membership is not `ban`, `invite`, or `join`, allow."
        let current = context.membership(of: target)
        if current != "ban", current != "invite", current != "join" { return }
        // "Otherwise, reject."
        throw numbers.reject(numbers.membership(.knock, 4), "\(target) cannot knock while \(current ?? "")")
    }
}
