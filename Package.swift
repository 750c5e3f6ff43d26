// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ConvKit",
    products: [
        .library(name: "ConvKit", targets: ["ConvKit"]),
        .library(name: "ConvKitLab", targets: ["ConvKitLab"]),
        .library(name: "ConvKitMPI", targets: ["ConvKitMPI"]),
        .library(name: "ConvKitKeras", targets: ["ConvKitKeras"]),
        .library(name: "ConvKitONNX", targets: ["ConvKitONNX"]),
        .executable(name: "convkit", targets: ["convkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        // `make docs`: the DocC catalog of the library (Sources/ConvKit/ConvKit.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZlibShim", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CCairo", pkgConfig: "cairo",
            providers: [.apt(["libcairo2-dev"])]),
        .systemLibrary(
            name: "CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        // C beside the kernels: the direct convolution (AVX2 + FMA chosen at run time, portable
        // loops elsewhere) and glibc's allocator settings.
        .target(name: "CKernels"),
        // Tensors, kernels, layers, models, training, data and model files: what a user
        // needs to build and train a network.
        .target(
            name: "ConvKit",
            dependencies: ["COpenBLAS", "CZlibShim", "CPNG", "CKernels", .product(name: "Yams", package: "Yams")]),
        // The seed experiments and studies, their analysis (FGSM, filter statistics), reports
        // and figures (Cairo), and the benchmark against the peers.
        .target(
            name: "ConvKitLab",
            dependencies: ["ConvKit", "CCairo"]),
        // Data-parallel training over Open MPI (loaded at run time).
        .target(
            name: "ConvKitMPI",
            dependencies: ["ConvKit"]),
        // Reads Keras 3 `.keras` archives (a zip of config.json and an HDF5 weights file).
        .target(
            name: "ConvKitKeras",
            dependencies: ["ConvKit", "CHDF5", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        // Writes ONNX models; onnx.pb.swift is generated once from onnx.proto (`make onnx-proto`).
        .target(
            name: "ConvKitONNX",
            dependencies: ["ConvKit", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .executableTarget(
            name: "convkit",
            dependencies: ["ConvKit", "ConvKitLab", "ConvKitMPI", "ConvKitKeras", "ConvKitONNX",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(
            name: "ConvKitTests",
            dependencies: ["ConvKit", "ConvKitLab", "ConvKitMPI", "ConvKitKeras", "ConvKitONNX", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            resources: [.copy("Fixtures")]),
    ]
)
