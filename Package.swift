// swift-tools-version: 6.2
import PackageDescription

// Strict module boundaries: imports are internal unless a file says otherwise, so
// GRDB stays inside the SQLite store and Hummingbird stays out of the protocol core.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "hearth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hearth", targets: ["HearthCommand"]),
        .library(name: "HearthCore", targets: ["HearthCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // The Matrix protocol, pure: no I/O, no HTTP, no database.
        .target(
            name: "HearthCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "HearthCommand",
            dependencies: ["HearthCore"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HearthCoreTests",
            dependencies: [
                "HearthCore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Vectors")]
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
