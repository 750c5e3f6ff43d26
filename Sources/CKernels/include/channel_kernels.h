#ifndef CONVKIT_CHANNEL_KERNELS_H
#define CONVKIT_CHANNEL_KERNELS_H

#include <stdint.h>

/// The memory-bound loops of a training step over channels-last tensors (`rows` rows of
/// `channels` values): BatchNormalization's sums and affine maps, ReLU, max pooling and addition. Each runs on one
/// range of rows; the caller splits the rows across the cores. `isa` chooses the path
/// (`CONVKIT_ISA_…` in conv_kernels.h); an unsupported one runs the generic loops.

/// Per channel j: sum[j] += Σ a, products[j] += Σ a·b, over the rows, with `a` taken as 0
/// where `gate` (NULL: none) is not > 0: a ReLU's gradient applied on the way (the gate is the
/// ReLU's output); and with `b` normalised, (b − bShift)·bScale per channel, when `bShift` is
/// not NULL. With `gateGain` (and `bShift`) not NULL, the gate is computed instead of read:
/// b̂·gateGain + gateBias, a BatchNorm's output as `convkit_channel_normalize` computes it.
/// The sums are taken in float over blocks of 16 rows, each block then added in double, so a
/// given split of the rows always gives the same result.
void convkit_channel_sums(const float *a, const float *b, const float *bShift, const float *bScale, const float *gate,
                          const float *gateGain, const float *gateBias, int64_t rows, int64_t channels, double *sum,
                          double *products, int isa);

/// y = (x − shift)·scale·gain + bias per channel, plus `residual` (NULL: none) at the same
/// index; then y = max(y, 0) (NaN kept) when `relu` is set.
void convkit_channel_normalize(const float *x, float *y, const float *shift, const float *scale, const float *gain,
                               const float *bias, const float *residual, int64_t rows, int64_t channels, int relu, int isa);

/// BatchNormalization's input gradient: dx = scale·(dy − meanDy − x̂·meanDyNormalized) with
/// x̂ = (x − shift)·inverseStd, as the forward pass computed it, and dy taken as 0 where `gate`
/// (NULL: none) is not > 0, or where x̂·gateGain + gateBias is not > 0 when `gateGain` is not
/// NULL, as in `convkit_channel_sums`.
void convkit_channel_normalization_gradient(const float *dy, float *dx, const float *x, const float *shift,
                                            const float *inverseStd, const float *gate, const float *gateGain,
                                            const float *gateBias, const float *scale, const float *meanDy,
                                            const float *meanDyNormalized, int64_t rows, int64_t channels, int isa);

/// y = max(x, 0) for `count` values; a NaN stays NaN.
void convkit_relu(const float *x, float *y, int64_t count, int isa);

/// 1 when none of the `count` values is NaN or ±infinity, else 0.
int convkit_all_finite(const float *x, int64_t count, int isa);

/// dx = dy where x > 0, else 0, for `count` values.
void convkit_relu_gradient(const float *x, const float *dy, float *dx, int64_t count, int isa);

/// sum = a + b for `count` values (`sum` may be `a` or `b`).
void convkit_add(const float *a, const float *b, float *sum, int64_t count, int isa);

/// Max pooling of `images` channels-last images: for each (output pixel, input pixel) pair in
/// `taps` (2·tapCount values, the pairs of one window consecutive), y[o] = max(y[o], x[i]) per
/// channel, a NaN winning. `y` starts at −∞.
void convkit_max_pool(const float *x, float *y, int64_t images, int64_t inputPixels, int64_t outputPixels, int64_t channels,
                      const int64_t *taps, int64_t tapCount, int isa);

/// Max pooling's input gradient: each output gradient goes to the first cell of its window
/// equal to the window's maximum `y` (a NaN maximum passes none). `dx` is overwritten (each
/// image zeroed first); `routed` is scratch of `channels` floats.
void convkit_max_pool_gradient(const float *dy, const float *x, const float *y, float *dx, float *routed, int64_t images,
                               int64_t inputPixels, int64_t outputPixels, int64_t channels, const int64_t *taps,
                               int64_t tapCount, int isa);

/// For each of `images` images and each tap (o, a, b) of `taps` (three pixel indices per tap):
/// out[o] += x[a]·w[b] per channel, for `channels` channels of rows `stride` floats long. Each
/// operand's images lie `xImage`, `wImage`, `outImage` floats apart (0: one array shared by all
/// images, as a kernel). A depthwise convolution's forward, input-gradient and kernel-gradient
/// passes.
void convkit_tap_products(const float *x, int64_t xImage, const float *w, int64_t wImage, float *out, int64_t outImage,
                          const int64_t *taps, int64_t tapCount, int64_t images, int64_t channels, int64_t stride, int isa);

/// For each image and each tap t = (o, a) of `taps`: out[o] += x[a]·scale[t] per channel (rows
/// of `channels` floats): average pooling's forward and backward passes.
void convkit_tap_scaled_sums(const float *x, int64_t xImage, const float *scale, float *out, int64_t outImage, const int64_t *taps,
                             int64_t tapCount, int64_t images, int64_t channels, int isa);

/// One SGD step on `count` weights (Keras' rule): w ← keep·w (decoupled decay), g' = g +
/// decay·w (coupled decay); without momentum w ← w − lr·g' (`v` unused, may be NULL); with it
/// v ← momentum·v − lr·g', then w ← w + momentum·v − lr·g' with `nesterov`, else w ← w + v.
void convkit_sgd_step(float *w, const float *g, float *v, int64_t count, float lr, float keep, float decay, float momentum,
                      int nesterov, int isa);

/// One Adam step on `count` weights: w ← keep·w, g' = g + decay·w, m ← m + (g' − m)(1 − β1),
/// v ← v + (g'² − v)(1 − β2), w ← w − stepSize·m / (√v + ε) (`stepSize` carries the bias
/// corrections).
void convkit_adam_step(float *w, const float *g, float *m, float *v, int64_t count, float stepSize, float keep, float decay,
                       float beta1, float beta2, float epsilon, int isa);

#endif
