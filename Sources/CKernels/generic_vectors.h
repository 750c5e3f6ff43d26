// The compiler's generic vectors that the kernel files share (conv_kernels.c's Winograd
// transforms, channel_kernels.c's loops): lowered to the enclosing function's instruction set
// (SSE pairs and quadruples in the portable path). Unaligned access: aligned(4).
#ifndef CONVKIT_GENERIC_VECTORS_H
#define CONVKIT_GENERIC_VECTORS_H

#include "conv_kernels.h"
#include <stdint.h>

typedef float v8 __attribute__((vector_size(32), aligned(4)));
typedef int32_t vi8 __attribute__((vector_size(32), aligned(4)));
typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int32_t vi16 __attribute__((vector_size(64), aligned(4)));
typedef double d8 __attribute__((vector_size(64), aligned(8)));
typedef double d16 __attribute__((vector_size(128), aligned(8)));
#define LOAD8(p) (*(const v8 *)(p))
#define STORE8(p, v) (*(v8 *)(p) = (v))
#define LOAD16(p) (*(const v16 *)(p))
#define STORE16(p, v) (*(v16 *)(p) = (v))
#define LOAD1(p) (*(p))
#define STORE1(p, v) (*(p) = (v))
// ReLU that keeps NaN (fmax and __builtin_elementwise_max would return 0): zero the lanes
// that are <= 0, which a NaN is not.
#define RELU8(v) ((v8)((vi8)(v) & ~((v) <= (v8){0})))
#define RELU16(v) ((v16)((vi16)(v) & ~((v) <= (v16){0})))
#define RELU1(v) ((v) <= 0 ? 0.0f : (v))

// The path a kernel runs: `isa` when this CPU runs it, the portable loops otherwise.
static inline int convkit_usable_isa(int isa) { return convkit_isa_supported(isa) ? isa : CONVKIT_ISA_GENERIC; }

#endif
