// The FMA peak probe behind `convkit bench`'s "% of peak": twelve independent accumulator
// chains per round, enough to cover the FMA latency (4–5 cycles) on two pipes, on
// registers only, so that the loop measures the arithmetic units and nothing else.

#include "conv_kernels.h"
#include <immintrin.h>

enum { CHAINS = 12 };

__attribute__((target("avx512f,avx2,fma"))) static float loop_avx512(int64_t iterations) {
    __m512 acc[CHAINS], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (int64_t n = 0; n < iterations; n++)
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    float sum = 0;
    for (int i = 0; i < CHAINS; i++) sum += _mm512_reduce_add_ps(acc[i]);
    return sum;
}

__attribute__((target("avx2,fma"))) static float loop_avx2(int64_t iterations) {
    __m256 acc[CHAINS], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps((float)i);
    for (int64_t n = 0; n < iterations; n++)
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    float lanes[8], sum = 0;
    for (int i = 0; i < CHAINS; i++) {
        _mm256_storeu_ps(lanes, acc[i]);
        for (int j = 0; j < 8; j++) sum += lanes[j];
    }
    return sum;
}

// The generic path has no FMA: SSE2's separate multiply and add, 4 floats a vector.
typedef float v4 __attribute__((vector_size(16)));

static float loop_generic(int64_t iterations) {
    v4 acc[CHAINS], a = {0.999999f, 0.999999f, 0.999999f, 0.999999f}, b = {1e-7f, 1e-7f, 1e-7f, 1e-7f};
    for (int i = 0; i < CHAINS; i++) acc[i] = (v4){(float)i, (float)i, (float)i, (float)i};
    for (int64_t n = 0; n < iterations; n++)
        for (int i = 0; i < CHAINS; i++) acc[i] = acc[i] * a + b;
    float sum = 0;
    for (int i = 0; i < CHAINS; i++) sum += acc[i][0] + acc[i][1] + acc[i][2] + acc[i][3];
    return sum;
}

float convkit_fma_loop(int isa, int64_t iterations) {
    if (isa == CONVKIT_ISA_AVX512 && convkit_isa_supported(isa)) return loop_avx512(iterations);
    if (isa != CONVKIT_ISA_GENERIC && convkit_isa_supported(CONVKIT_ISA_AVX2)) return loop_avx2(iterations);
    return loop_generic(iterations);
}
