// swift-tools-version:6.0
// A program that uses ConvKit as a library, as another package would: `make test` builds and
// runs it (the code of the getting-started article in Sources/ConvKit/ConvKit.docc).
import PackageDescription

let package = Package(
    name: "TrainSmallCNN",
    dependencies: [.package(name: "ConvKit", path: "../..")],
    targets: [
        .executableTarget(name: "TrainSmallCNN", dependencies: [.product(name: "ConvKit", package: "ConvKit")]),
    ]
)
