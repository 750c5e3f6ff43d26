/// Eight floats at a time for the memory-bound loops (BatchNorm, ReLU): the optimizer leaves
/// their scalar versions unvectorized when it cannot prove the pointers apart. Unaligned
/// loads and stores; without AVX2 flags each is two SSE operations, plenty for these loops.
typealias Vector8 = SIMD8<Float>

extension UnsafePointer where Pointee == Float {
    @inline(__always) func vector8(at offset: Int) -> Vector8 {
        UnsafeRawPointer(self + offset).loadUnaligned(as: Vector8.self)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always) func vector8(at offset: Int) -> Vector8 {
        UnsafeRawPointer(self + offset).loadUnaligned(as: Vector8.self)
    }

    @inline(__always) func store(_ value: Vector8, at offset: Int) {
        UnsafeMutableRawPointer(self + offset).storeBytes(of: value, as: Vector8.self)
    }
}
