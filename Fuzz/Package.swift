// swift-tools-version:6.0
// libFuzzer harnesses for ConvKit's readers. Build and run with `make fuzz` (see the README):
// the whole package, ConvKit included, is compiled with -sanitize=fuzzer,address.
import PackageDescription

let package = Package(
    name: "ConvKitFuzz",
    dependencies: [.package(name: "ConvKit", path: "..")],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(name: "FuzzReaders", dependencies: ["FuzzDriver", .product(name: "ConvKit", package: "ConvKit")]),
    ]
)
