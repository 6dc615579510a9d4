// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "featuremaps",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "featuremaps", targets: ["featuremaps"]),
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "ImageIO", targets: ["ImageIO"]),
        .library(name: "FeatureMaps", targets: ["FeatureMaps"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "TrainedMaps", targets: ["TrainedMaps"]),
    ],
    // MPI: data-parallel `train-cifar` under mpirun (Docs/DISTRIBUTED.md). Off by default, so the
    // default build needs no MPI library: `swift build -c release --traits MPI --scratch-path .build-mpi`.
    traits: [
        .trait(name: "MPI", description: "Data-parallel training on MPI (needs an MPI library such as Debian's libopenmpi-dev)."),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `swift package generate-documentation` (Scripts/build_docs.sh); a plugin, linked into nothing.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // System libraries: the C APIs exactly as the distribution ships them.
        .systemLibrary(name: "CLibPNG", path: "Sources/CLibPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg62-turbo-dev"]), .brew(["jpeg-turbo"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // Debian's mpi.pc is the alternatives link to the default MPI (OpenMPI or MPICH). Only
        // depended on with the MPI trait, so the default build never looks for mpi.h.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "mpi",
                       providers: [.apt(["libopenmpi-dev"]), .brew(["open-mpi"])]),

        // Tensors, GEMM, ops forward/backward, layers. Standard library + Foundation only.
        // The AVX-512 GEMM micro-kernel, selected at run time (Docs/BENCHMARKS.md has the measurement).
        // No unsafe flags anywhere (SwiftPM refuses them in a package depended on by version): the
        // targets build for the platform's baseline (x86-64 SSE2, arm64 NEON) at SwiftPM's -O / -O2,
        // and each CPU-specific C kernel carries its own target attribute, reached only through
        // the run-time check in CPUFeatures.
        .target(name: "KernelsC"),
        .target(name: "Kernels", dependencies: ["KernelsC"]),
        // libjpeg's error_exit must not return: this C shim keeps setjmp/longjmp inside C.
        .target(name: "CJPEGShim", dependencies: ["CJPEG"]),
        // libpng's full write API (row filter, zlib strategy) with setjmp kept in C, for PNGCompression.fastest.
        .target(name: "CPNGShim", dependencies: ["CLibPNG"]),
        // PNG and JPEG decoding/encoding. Knows nothing of networks.
        .target(name: "ImageIO", dependencies: ["CLibPNG", "CJPEG", "CJPEGShim", "CPNGShim"]),
        // The feature-map explorer: conv/ReLU/pool stacks on photos, grids, .npy dumps.
        .target(name: "FeatureMaps", dependencies: ["Kernels", "ImageIO"]),
        // CIFAR-10 data, models, optimisers, the training loop, checkpoints, reports.
        .target(name: "Training", dependencies: ["Kernels", "ImageIO", "CZlib"]),
        // The MPI side of data-parallel training: Training's Communicator over MPI (a fixed-order
        // ring all-reduce) and the process's MPI lifetime. Empty without the MPI trait.
        .target(name: "Distributed", dependencies: [
            "Training", .target(name: "CMPI", condition: .when(traits: ["MPI"])),
        ]),
        // The speed benchmark behind `featuremaps bench`: GEMM and the model zoo's nets.
        .target(name: "Benchmarking", dependencies: ["Kernels", "Training"]),
        // A trained CIFAR-10 model as an explorer network: the bridge between the two libraries.
        .target(name: "TrainedMaps", dependencies: ["FeatureMaps", "Training", "Kernels", "ImageIO"]),
        // The command line: one file per subcommand, option groups shared by them, and the one
        // place library errors become messages naming flags. A library so tests can parse and
        // run commands in-process.
        .target(
            name: "FeatureMapsCLI",
            dependencies: [
                "FeatureMaps", "Training", "TrainedMaps", "Benchmarking", "Kernels", "ImageIO", "Distributed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The executable: main.swift only.
        .executableTarget(name: "featuremaps", dependencies: ["FeatureMapsCLI"]),

        // Test-only: counts heap allocations (malloc interposition) for the no-allocation test.
        .target(name: "AllocationCounter", path: "Tests/AllocationCounter"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "AllocationCounter"]),
        .testTarget(name: "ImageIOTests", dependencies: ["ImageIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "FeatureMapsTests", dependencies: ["FeatureMaps", "Kernels", "ImageIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Kernels", "ImageIO"],
                    // Read from the source tree by path (#filePath), not bundled.
                    exclude: ["Fixtures", "torch_check.py"]),
        .testTarget(name: "BenchmarkingTests", dependencies: ["Benchmarking", "Kernels"]),
        .testTarget(name: "TrainedMapsTests", dependencies: ["TrainedMaps", "FeatureMaps", "Training", "Kernels", "ImageIO"]),
        // Parses and runs every subcommand; depends on the executable so `swift test` builds it
        // for the tests that run it as a subprocess.
        .testTarget(name: "FeatureMapsCLITests", dependencies: [
            "FeatureMapsCLI", "featuremaps", "ImageIO", "Training", "Kernels",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
