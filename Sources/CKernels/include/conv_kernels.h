#ifndef CONVKIT_CONV_KERNELS_H
#define CONVKIT_CONV_KERNELS_H

#include <stdint.h>

/// A direct convolution over rows of output pixels, channels last, described by offsets so
/// that one kernel serves every rank, stride, dilation and group (see ConvolutionDirect.swift).
///
/// Output pixel `x` of row `row` reads, for each tap `t` and channel `c`,
///   input[row * inputRowStride + x * inputPixelStride + tapOffsets[t] + c]
/// against weights[(t * channels + c) * weightRowStride + j] for output channel `j`, and lives at
///   output[row * outputRowStride + x * outputPixelStride + j].
/// The input is padded beforehand, so every address is inside it. Strides are in floats.
typedef struct {
    const float *input;
    int64_t rows, pixels;
    int64_t inputRowStride, inputPixelStride;
    const int64_t *tapOffsets;
    int64_t taps, channels;
    int64_t weightRowStride;
    int64_t outputRowStride, outputPixelStride, outputChannels;
} convkit_conv_rows;

/// output = bias + Σ input·weights (bias may be NULL), then max(output, 0) when `relu` is set.
/// With `portable` set, the plain loops run even where AVX2 is available (the tests compare both).
void convkit_conv_rows_forward(const convkit_conv_rows *p, const float *weights, const float *bias, float *output,
                               int relu, int portable);

/// weightGradient += Σ over rows and pixels of input·outputGradient (outputGradient laid out
/// as `output` above).
void convkit_conv_rows_weight_gradient(const convkit_conv_rows *p, const float *outputGradient, float *weightGradient,
                                       int portable);

/// 1 when the AVX2 + FMA kernels run on this CPU; 0 when only the portable loops do.
int convkit_conv_kernels_vectorized(void);

#endif
