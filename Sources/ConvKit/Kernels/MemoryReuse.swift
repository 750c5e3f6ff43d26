import CKernels

/// Keeps freed tensor memory in the process for the next step instead of returning it to the
/// kernel. glibc hands large blocks to mmap and unmaps them on free, so every step faulted
/// their pages in again and the kernel zeroed them: a third of inference time went to page
/// faults on a 2-core VM (activations of 3–26 MB, under glibc's largest mmap threshold), and
/// about a third of an unfolded LC-block's training time (128-channel activations of 134 MB,
/// over it, until mmap was turned off altogether). One limit remains: glibc gives each other
/// thread a heap of at most 64 MB, so a larger block allocated off the main thread is still
/// mapped.
enum MemoryReuse {
    private static let configured: Void = convkit_keep_freed_memory()

    /// Call before allocating a batch's tensors (cheap after the first time).
    static func enable() { _ = configured }

    /// Blocks malloc holds as separate mappings, which a freed tensor would give back.
    static var mappedBlockCount: Int { convkit_mapped_block_count() }
}
