public import HearthCore
public import HearthStorage
public import Logging

/// An ephemeral data unit: `{"edu_type": …, "content": …}`.
/// Spec: https://spec.matrix.org/v1.19/server-server-api/#edus
public struct EDU: Sendable, Hashable {
    public var type: String
    public var content: JSONObject

    public init(type: String, content: JSONObject) {
        self.type = type
        self.content = content
    }

    public var json: JSONObject { ["edu_type": .string(type), "content": .object(content)] }
}

/// Delivers PDUs and EDUs to other servers in transactions (`PUT /send/{txnId}`), one queue
/// per destination (`DestinationQueue`), persisted in an `OutboundQueueStore` before `send`
/// returns: a restart resumes where it stopped, resending an unacknowledged transaction with
/// the same ID and content (the receiver deduplicates by ID), so nothing is lost or doubled.
public actor FederationSender {
    public static let maxPDUsPerTransaction = 50
    public static let maxEDUsPerTransaction = 100

    private let client: FederationClient
    private let store: any OutboundQueueStore
    private let backoff: DestinationQueue.Backoff
    private let now: @Sendable () -> Milliseconds
    private let logger: Logger
    private var queues: [ServerName: DestinationQueue] = [:]
    private var timers: [ServerName: Task<Void, Never>] = [:]
    private var inFlight: [ServerName: Task<Void, Never>] = [:]
    private var stopped = false

    public init(client: FederationClient, store: any OutboundQueueStore, backoff: DestinationQueue.Backoff = .init(),
                logger: Logger, now: @escaping @Sendable () -> Milliseconds) {
        self.client = client
        self.store = store
        self.backoff = backoff
        self.logger = logger
        self.now = now
    }

    /// Resumes every destination with queued items, honouring persisted backoff.
    public func start() async throws {
        for destination in try await store.destinationsWithPendingItems() where queues[destination] == nil {
            let retry = try await store.retryState(for: destination)
            let (queue, actions) = DestinationQueue.restore(pending: true, failures: retry?.failures ?? 0,
                                                            retryAt: retry?.retryAt ?? 0, now: now(), backoff: backoff)
            queues[destination] = queue
            perform(actions, for: destination)
        }
    }

    /// Queues `pdu` for each destination (this server excluded).
    public func send(pdu: PDU, to destinations: some Sequence<ServerName>) async throws {
        try await enqueue(.pdu, pdu.federationJSON, to: destinations)
    }

    /// Queues `edu` for each destination (this server excluded).
    public func send(edu: EDU, to destinations: some Sequence<ServerName>) async throws {
        try await enqueue(.edu, edu.json, to: destinations)
    }

    private func enqueue(_ kind: OutboundItem.Kind, _ json: JSONObject, to destinations: some Sequence<ServerName>) async throws {
        var targets: [ServerName] = []
        for destination in destinations where destination != client.origin && !targets.contains(destination) {
            targets.append(destination)
        }
        if targets.isEmpty { return }
        try await store.enqueue(targets.map { ($0, kind, json) })
        for destination in targets { handle(.enqueued, for: destination) }
    }

    /// The destination proved it is up (it sent an authenticated request): stop waiting.
    public func destinationCameOnline(_ destination: ServerName) {
        guard queues[destination] != nil else { return }
        handle(.destinationCameOnline, for: destination)
    }

    /// The queue state of a destination (for diagnostics and tests).
    public func state(of destination: ServerName) -> DestinationQueue.State? { queues[destination]?.state }

    /// Stops sending: cancels timers and waits for transactions in flight.
    public func stop() async {
        stopped = true
        for timer in timers.values { timer.cancel() }
        timers.removeAll()
        for task in inFlight.values { await task.value }
    }

    private func handle(_ event: DestinationQueue.Event, for destination: ServerName) {
        guard !stopped else { return }
        var queue = queues[destination] ?? DestinationQueue(backoff: backoff)
        let actions = queue.handle(event, now: now())
        queues[destination] = queue
        perform(actions, for: destination)
    }

    private func perform(_ actions: [DestinationQueue.Action], for destination: ServerName) {
        for action in actions {
            switch action {
            case .sendTransaction:
                inFlight[destination] = Task { await self.transmit(to: destination) }
            case .wakeAt(let time):
                timers[destination]?.cancel()
                let delay = max(0, time - now())
                timers[destination] = Task {
                    try? await Task.sleep(for: .milliseconds(delay))
                    guard !Task.isCancelled else { return }
                    await self.timerFired(destination)
                }
            case .saveRetryState(let failures, let retryAt):
                let store = self.store
                Task { try? await store.setRetryState(DestinationRetryState(failures: failures, retryAt: retryAt), for: destination) }
            }
        }
    }

    private func timerFired(_ destination: ServerName) {
        timers[destination] = nil
        handle(.timerFired, for: destination)
    }

    /// Sends the open transaction (or builds the next) and reports the outcome to the queue.
    private func transmit(to destination: ServerName) async {
        let event: DestinationQueue.Event
        do {
            let timestamp = now()
            guard let transaction = try await store.openNextTransaction(
                for: destination, transactionID: { "\(timestamp)-\($0)" }, originServerTS: timestamp,
                maxPDUs: Self.maxPDUsPerTransaction, maxEDUs: Self.maxEDUsPerTransaction)
            else {
                finish(destination, .transactionSucceeded(morePending: false))
                return
            }
            let pdus = transaction.items.filter { $0.kind == .pdu }.map(\.json)
            let edus = transaction.items.filter { $0.kind == .edu }.map(\.json)
            let outcome: Result<JSONObject, FederationError>
            do {
                outcome = .success(try await client.sendTransaction(transaction.transactionID, pdus: pdus, edus: edus,
                                                                     originServerTS: transaction.originServerTS, to: destination))
            } catch {
                outcome = .failure(error)
            }
            if case .failure(.refused(let reason)) = outcome {
                // The egress policy let nothing of it leave (the decision is in the audit log);
                // retrying would only be refused again.
                logger.info("transaction withheld by policy", metadata: ["destination": "\(destination)", "reason": "\(reason)"])
                try await store.completeTransaction(transaction.transactionID, for: destination)
                finish(destination, .transactionSucceeded(morePending: try await store.hasQueuedItems(for: destination)))
                return
            }
            let answer = try outcome.get()
            for member in answer["pdus"]?.objectValue ?? [:] {
                let (eventID, result) = (member.key, member.value)
                if let error = result["error"]?.stringValue {
                    logger.info("destination rejected a PDU", metadata: ["destination": "\(destination)", "event_id": "\(eventID)",
                                                                          "error": "\(error)"])
                }
            }
            try await store.completeTransaction(transaction.transactionID, for: destination)
            event = .transactionSucceeded(morePending: try await store.hasQueuedItems(for: destination))
        } catch {
            logger.info("transaction failed", metadata: ["destination": "\(destination)", "error": "\(error)"])
            event = .transactionFailed
        }
        finish(destination, event)
    }

    private func finish(_ destination: ServerName, _ event: DestinationQueue.Event) {
        inFlight[destination] = nil
        handle(event, for: destination)
    }
}
