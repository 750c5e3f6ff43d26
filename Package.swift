// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ConvKit",
    products: [
        .library(name: "ConvKit", targets: ["ConvKit"]),
        .executable(name: "convkit", targets: ["convkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CCairo", pkgConfig: "cairo",
            providers: [.apt(["libcairo2-dev"])]),
        .target(
            name: "ConvKit",
            dependencies: ["COpenBLAS", "CZlib", "CCairo", .product(name: "Yams", package: "Yams")]),
        .executableTarget(
            name: "convkit",
            dependencies: ["ConvKit", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(
            name: "ConvKitTests", dependencies: ["ConvKit"],
            resources: [.copy("Fixtures")]),
    ]
)
