// BatchNormalization's, ReLU's, max pooling's and addition's loops, and the optimizers' steps, for each instruction set
// (channel_template.h, included below once per path, on generic_vectors.h's vectors). They are
// memory-bound: the wider path's gain is fewer instructions per byte, which still shows at the
// sizes that stay in L2.

#include "channel_kernels.h"
#include "conv_kernels.h"
#include "generic_vectors.h"

// g where x > 0, else 0 (and 0 where x is NaN).
#define PASS8(x, g) ((v8)((vi8)(g) & ((x) > (v8){0})))
#define PASS16(x, g) ((v16)((vi16)(g) & ((x) > (v16){0})))
#define PASS1(x, g) ((x) > 0 ? (g) : 0.0f)
// a where the lane mask m (a comparison's result, I its integer vector type) is set, else b.
#define SELECT(I, m, a, b) ((__typeof__(a))(((I)(a) & (m)) | ((I)(b) & ~(m))))

// Rows per float block of the sums: short enough that float rounding stays near 1e-7 of the sum.
enum { SUM_BLOCK = 16 };

#define ISA(name) name##_generic
#define TARGET
#define VEC v8
#define LOAD LOAD8
#define STORE STORE8
#define RELU RELU8
#define PASS_POSITIVE PASS8
#define STEP 8
#define DOUBLES d8
#define IVEC vi8
#include "channel_template.h"

#define ISA(name) name##_avx2
#define TARGET __attribute__((target("avx2,fma")))
#define VEC v8
#define LOAD LOAD8
#define STORE STORE8
#define RELU RELU8
#define PASS_POSITIVE PASS8
#define STEP 8
#define DOUBLES d8
#define IVEC vi8
#include "channel_template.h"

#define ISA(name) name##_avx512
#define TARGET __attribute__((target("avx512f,avx512dq,avx2,fma")))
#define VEC v16
#define LOAD LOAD16
#define STORE STORE16
#define RELU RELU16
#define PASS_POSITIVE PASS16
#define STEP 16
#define DOUBLES d16
#define IVEC vi16
#include "channel_template.h"

// The AVX-512 path's loops (16 floats a step) over AVX2 registers, for the tests on CPUs without AVX-512.
#define ISA(name) name##_avx512_emulated
#define TARGET __attribute__((target("avx2,fma")))
#define VEC v16
#define LOAD LOAD16
#define STORE STORE16
#define RELU RELU16
#define PASS_POSITIVE PASS16
#define STEP 16
#define DOUBLES d16
#define IVEC vi16
#include "channel_template.h"

#define DISPATCH(name, ...)                                                                        \
    switch (convkit_usable_isa(isa)) {                                                                           \
    case CONVKIT_ISA_AVX512: name##_avx512(__VA_ARGS__); break;                                    \
    case CONVKIT_ISA_AVX512_EMULATED: name##_avx512_emulated(__VA_ARGS__); break;                  \
    case CONVKIT_ISA_AVX2: name##_avx2(__VA_ARGS__); break;                                        \
    default: name##_generic(__VA_ARGS__);                                                          \
    }

void convkit_channel_sums(const float *a, const float *b, const float *bShift, const float *bScale, const float *gate,
                          const float *gateGain, const float *gateBias, int64_t rows, int64_t channels, double *sum,
                          double *products, int isa) {
    DISPATCH(sums, a, b, bShift, bScale, gate, gateGain, gateBias, rows, channels, sum, products)
}

void convkit_channel_normalize(const float *x, float *y, const float *shift, const float *scale, const float *gain,
                               const float *bias, const float *residual, int64_t rows, int64_t channels, int relu, int isa) {
    DISPATCH(normalize, x, y, shift, scale, gain, bias, residual, rows, channels, relu)
}

void convkit_channel_normalization_gradient(const float *dy, float *dx, const float *x, const float *shift,
                                            const float *inverseStd, const float *gate, const float *gateGain,
                                            const float *gateBias, const float *scale, const float *meanDy,
                                            const float *meanDyNormalized, int64_t rows, int64_t channels, int isa) {
    DISPATCH(normalization_gradient, dy, dx, x, shift, inverseStd, gate, gateGain, gateBias, scale, meanDy, meanDyNormalized,
             rows, channels)
}

void convkit_relu(const float *x, float *y, int64_t count, int isa) { DISPATCH(relu, x, y, count) }

int convkit_all_finite(const float *x, int64_t count, int isa) {
    switch (convkit_usable_isa(isa)) {
    case CONVKIT_ISA_AVX512: return all_finite_avx512(x, count);
    case CONVKIT_ISA_AVX512_EMULATED: return all_finite_avx512_emulated(x, count);
    case CONVKIT_ISA_AVX2: return all_finite_avx2(x, count);
    default: return all_finite_generic(x, count);
    }
}

void convkit_relu_gradient(const float *x, const float *dy, float *dx, int64_t count, int isa) {
    DISPATCH(relu_gradient, x, dy, dx, count)
}

void convkit_add(const float *a, const float *b, float *sum, int64_t count, int isa) { DISPATCH(add, a, b, sum, count) }

void convkit_max_pool(const float *x, float *y, int64_t images, int64_t inputPixels, int64_t outputPixels, int64_t channels,
                      const int64_t *taps, int64_t tapCount, int isa) {
    DISPATCH(max_pool, x, y, images, inputPixels, outputPixels, channels, taps, tapCount)
}

void convkit_max_pool_gradient(const float *dy, const float *x, const float *y, float *dx, float *routed, int64_t images,
                               int64_t inputPixels, int64_t outputPixels, int64_t channels, const int64_t *taps,
                               int64_t tapCount, int isa) {
    DISPATCH(max_pool_gradient, dy, x, y, dx, routed, images, inputPixels, outputPixels, channels, taps, tapCount)
}

void convkit_sgd_step(float *w, const float *g, float *v, int64_t count, float lr, float keep, float decay, float momentum,
                      int nesterov, int isa) {
    DISPATCH(sgd, w, g, v, count, lr, keep, decay, momentum, nesterov)
}

void convkit_adam_step(float *w, const float *g, float *m, float *v, int64_t count, float stepSize, float keep, float decay,
                       float beta1, float beta2, float epsilon, int isa) {
    DISPATCH(adam, w, g, m, v, count, stepSize, keep, decay, beta1, beta2, epsilon)
}

void convkit_tap_products(const float *x, int64_t xImage, const float *w, int64_t wImage, float *out, int64_t outImage,
                          const int64_t *taps, int64_t tapCount, int64_t images, int64_t channels, int64_t stride, int isa) {
    DISPATCH(tap_products, x, xImage, w, wImage, out, outImage, taps, tapCount, images, channels, stride)
}

void convkit_tap_scaled_sums(const float *x, int64_t xImage, const float *scale, float *out, int64_t outImage, const int64_t *taps,
                             int64_t tapCount, int64_t images, int64_t channels, int isa) {
    DISPATCH(tap_scaled_sums, x, xImage, scale, out, outImage, taps, tapCount, images, channels)
}
