import Foundation
import HearthCore
import Testing

/// Running Hearth against reference implementations: Python's signedjson, canonicaljson,
/// unpaddedbase64 and pynacl, and a real Synapse.
///
/// These tests run only with `HEARTH_INTEROP=1`. Then a missing Python environment is a
/// failure, not a skip: create it with `Scripts/setup-test-env.sh --synapse`.
enum Interop {
    static let enabled = ProcessInfo.processInfo.environment["HEARTH_INTEROP"] == "1"

    /// The repository root, found from this file's path (Tests/HearthCoreTests/Interop/).
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var python: URL { root.appendingPathComponent(".venv/bin/python3") }
    static var scripts: URL { root.appendingPathComponent("Tests/Interop") }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The venv's interpreter, or a loud failure explaining how to create it.
    static func requirePython() throws -> URL {
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw Failure(description: """
                HEARTH_INTEROP=1 but the Python test environment is missing (\(python.path)). \
                Run Scripts/setup-test-env.sh --synapse first.
                """)
        }
        return python
    }

    /// Runs `.venv/bin/python3 <script> <arguments>`; returns stdout, throws with stderr on failure.
    static func run(script: String, arguments: [String], timeout: TimeInterval = 600) throws -> Data {
        let process = Process()
        process.executableURL = try requirePython()
        process.arguments = [scripts.appendingPathComponent(script).path] + arguments
        process.currentDirectoryURL = root
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-interop-\(UUID().uuidString).out")
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-interop-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                throw Failure(description: "\(script) did not finish within \(Int(timeout)) s")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let stdout = try Data(contentsOf: out)
        guard process.terminationStatus == 0 else {
            let stderr = String(decoding: try Data(contentsOf: err), as: UTF8.self)
            throw Failure(description: "\(script) exited with \(process.terminationStatus):\n\(stderr.suffix(4000))")
        }
        return stdout
    }

    /// Sends tasks to Tests/Interop/reference.py and returns one result per task.
    static func reference(_ tasks: [JSONValue]) throws -> [JSONValue] {
        let request: JSONValue = ["tasks": .array(tasks)]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-ref-\(UUID().uuidString).json")
        try Data(request.encoded()).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let output = try run(script: "reference.py", arguments: [file.path])
        let response = try JSONValue.parse(Array(output))
        guard let results = response["results"]?.arrayValue, results.count == tasks.count else {
            throw Failure(description: "unexpected reference.py output: \(String(decoding: output.prefix(500), as: UTF8.self))")
        }
        return results
    }
}
