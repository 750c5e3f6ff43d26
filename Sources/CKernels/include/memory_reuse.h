#ifndef CONVKIT_MEMORY_REUSE_H
#define CONVKIT_MEMORY_REUSE_H

/// Keeps freed blocks of up to 32 MB on the heap instead of unmapping them (glibc's mallopt;
/// nothing elsewhere). See MemoryReuse.swift.
void convkit_keep_freed_memory(void);

#endif
