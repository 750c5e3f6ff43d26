import CKernels

/// Keeps freed tensor memory in the process for the next step instead of returning it to the
/// kernel. glibc hands blocks over 128 KB (a batch of activations is 3–26 MB) to mmap and
/// unmaps them on free, so every step faulted its pages in again and the kernel zeroed them:
/// a third of inference time went to page faults on a 2-core VM.
enum MemoryReuse {
    private static let configured: Void = convkit_keep_freed_memory()

    /// Call before allocating a batch's tensors (cheap after the first time).
    static func enable() { _ = configured }
}
