// swift-tools-version: 6.2
import PackageDescription

// Strict module boundaries: GRDB stays inside the SQLite store, Hummingbird stays out of the
// protocol core and the homeserver logic.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "hearth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hearth", targets: ["HearthCommand"]),
        .executable(name: "hearth-load", targets: ["HearthLoad"]),
        .library(name: "HearthCore", targets: ["HearthCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        // The Matrix protocol, pure: no I/O, no HTTP, no database.
        .target(
            name: "HearthCore",
            dependencies: ["CEd25519", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // Ed25519 verification with per-key tables (C: 128-bit arithmetic; see its header).
        .target(name: "CEd25519"),
        // Large signed rooms built in code, shared by tests and benchmarks.
        .target(name: "HearthFixtures", dependencies: ["HearthCore"], swiftSettings: strict),
        // Store protocols and records. No SQL here; backends implement these.
        .target(name: "HearthStorage", dependencies: ["HearthCore"], swiftSettings: strict),
        .target(
            name: "HearthStorageSQLite",
            dependencies: ["HearthStorage", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        // libgd, for media thumbnails.
        // libgd's headers (libgd-dev); the library itself is loaded at the first thumbnail.
        .target(name: "CGD", linkerSettings: [.linkedLibrary("dl")]),
        // Homeserver behaviour without HTTP: accounts, rooms, the event pipeline, sync.
        .target(
            name: "HearthHomeserver",
            dependencies: [
                "HearthCore", "HearthStorage", "CGD",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // HTTP glue: the endpoint description, routing, JSON bodies, Matrix error responses.
        .target(
            name: "HearthHTTP",
            dependencies: [
                "HearthCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // /_matrix/client: one file per spec section.
        .target(
            name: "HearthClientAPI",
            dependencies: [
                "HearthHTTP", "HearthHomeserver", "HearthStorage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The federation transport: keys, X-Matrix, server discovery, TLS, the egress gate and
        // outbound transactions. The only HTTP client that talks to other servers lives here,
        // behind `EgressGate`.
        .target(
            name: "HearthFederation",
            dependencies: [
                "HearthCore", "HearthHTTP", "HearthStorage", "HearthHomeserver",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Composition root: configuration, wiring, listeners, lifecycle.
        .target(
            name: "HearthServer",
            dependencies: [
                "HearthClientAPI", "HearthFederation", "HearthStorageSQLite", "HearthHTTP", "HearthHomeserver", "HearthStorage", "HearthCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "HearthCommand",
            dependencies: ["HearthServer", "HearthFederation", "HearthStorageSQLite",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        // Load generator for any homeserver (Scripts/compare-synapse.sh): client API only, on
        // SwiftNIO's HTTP/1.1 codec, no Hearth internals beyond the JSON type.
        .executableTarget(
            name: "HearthLoad",
            dependencies: [
                "HearthCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HearthCoreTests",
            dependencies: [
                "HearthCore", "HearthFixtures", "CEd25519",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Vectors")]
        ),
        .testTarget(
            name: "HearthFederationTests",
            dependencies: [
                .product(name: "PropertyBased", package: "swift-property-based"),
                "HearthFederation", "HearthServer", "HearthHomeserver", "HearthCore", "HearthStorage", "HearthStorageSQLite",
                "HearthHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "HearthServerTests",
            dependencies: [
                "HearthServer", "HearthHomeserver", "HearthCore", "HearthStorage", "HearthStorageSQLite", "CGD",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ]
)

// libFuzzer targets, only with HEARTH_FUZZ=1 (Scripts/fuzz.sh sets it and builds with
// -sanitize=fuzzer,address into .build-fuzz). The default package graph is unchanged.
if Context.environment["HEARTH_FUZZ"] == "1" {
    package.targets.append(.target(name: "FuzzSupport", path: "Fuzz/Targets/FuzzSupport"))
    for name in ["FuzzJSONParser", "FuzzPDU", "FuzzTextParsers"] {
        package.targets.append(
            .executableTarget(name: name, dependencies: ["HearthCore", "FuzzSupport"], path: "Fuzz/Targets/\(name)",
                              swiftSettings: strict)
        )
    }
}

// Benchmarks (package-benchmark) only when asked for, so ordinary builds and CI stay lean:
//   HEARTH_BENCHMARKS=1 swift package benchmark   (or Scripts/bench.sh)
if Context.environment["HEARTH_BENCHMARKS"] == "1" {
    package.dependencies.append(.package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(.executableTarget(
        name: "HearthCoreBenchmarks",
        dependencies: ["HearthCore", "HearthFixtures", .product(name: "Benchmark", package: "benchmark")],
        path: "Benchmarks/HearthCoreBenchmarks",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}
