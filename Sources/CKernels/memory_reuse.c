#include "memory_reuse.h"
#include <stdlib.h>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>

void convkit_keep_freed_memory(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the largest glibc accepts on 64-bit
    // Blocks over that threshold would still be mapped and unmapped one by one; with no
    // mmap at all they come from the heap too, so a 100 MB activation is reused as well.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

long convkit_mapped_block_count(void) {
    return (long)mallinfo2().hblks;
}
#else
void convkit_keep_freed_memory(void) {}
long convkit_mapped_block_count(void) { return 0; }
#endif
