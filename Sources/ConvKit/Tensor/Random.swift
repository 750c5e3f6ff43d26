import Foundation

/// The one source of randomness in ConvKit: a seeded xoshiro256** generator.
///
/// The sequence depends only on the seed (state is expanded with SplitMix64), so a seed
/// gives the same numbers on every run and machine. Initializers, shuffling and dropout
/// all draw from a `SeededGenerator` that the caller passes or that derives from a seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var stateWords: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var mix = seed
        func splitMix() -> UInt64 {
            mix &+= 0x9E37_79B9_7F4A_7C15
            var z = mix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        stateWords = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The generator's position, for checkpoints: `init(state:)` continues the same stream.
    public var state: [UInt64] { [stateWords.0, stateWords.1, stateWords.2, stateWords.3] }

    public init(state: [UInt64]) throws {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else {
            throw ConvKitError("a generator state is four 64-bit words, not all zero; got \(state)")
        }
        stateWords = (state[0], state[1], state[2], state[3])
    }

    public mutating func next() -> UInt64 {
        let result = rotate(stateWords.1 &* 5, 7) &* 9
        let t = stateWords.1 << 17
        stateWords.2 ^= stateWords.0
        stateWords.3 ^= stateWords.1
        stateWords.1 ^= stateWords.2
        stateWords.0 ^= stateWords.3
        stateWords.2 ^= t
        stateWords.3 = rotate(stateWords.3, 45)
        return result
    }

    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in [low, high).
    public mutating func nextUniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * nextUnit()
    }

    /// Standard normal by the Box–Muller transform (one draw per call, no cached pair,
    /// so the stream position depends only on how many numbers were drawn).
    public mutating func nextNormal() -> Double {
        let u1 = max(nextUnit(), 0x1.0p-60)
        let u2 = nextUnit()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// An independent generator for a sub-task (a layer, an epoch), derived from this one.
    public mutating func split() -> SeededGenerator {
        SeededGenerator(seed: next())
    }

    /// A seeded Fisher–Yates permutation of 0..<count.
    public mutating func permutation(_ count: Int) -> [Int] {
        var indices = Array(0..<count)
        if count < 2 { return indices }
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            indices.swapAt(i, j)
        }
        return indices
    }
}
