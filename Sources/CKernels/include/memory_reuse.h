#ifndef CONVKIT_MEMORY_REUSE_H
#define CONVKIT_MEMORY_REUSE_H

/// Keeps freed blocks on the heap instead of unmapping them: any size from the main thread, up
/// to 64 MB from others (glibc's mallopt; nothing elsewhere). See MemoryReuse.swift.
void convkit_keep_freed_memory(void);

/// How many blocks malloc holds as separate mappings now (glibc's mallinfo2; 0 elsewhere).
long convkit_mapped_block_count(void);

#endif
