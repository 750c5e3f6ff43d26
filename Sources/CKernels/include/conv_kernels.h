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

/// Winograd convolution (Lavin & Gray 2016) of one image for a 3×3, stride-1, undilated,
/// ungrouped convolution: F(4×4, 3×3) forward (4× fewer multiplies than direct), F(3×3, 2×2)
/// for the weight gradient (2.25× fewer). `input` is the zero-padded image, with at least
/// 4·⌈rows/4⌉ + 2 rows and 4·⌈columns/4⌉ + 2 columns; output pixel (y, x) reads input rows
/// y…y+2, columns x…x+2.
typedef struct {
    const float *input;
    int64_t inputRowStride, inputPixelStride;
    int64_t channels, outputChannels;
    int64_t outputRows, outputColumns;
    int64_t outputRowStride, outputPixelStride;
} convkit_winograd_image;

/// The kernel [3][3][channels][outputChannels] (HWIO) in F(4×4, 3×3)'s transformed domain,
/// [36][channels][outputChannels]: the weights `convkit_winograd_forward` takes.
void convkit_winograd_transform_kernel(const float *kernel, int64_t channels, int64_t outputChannels, float *transformed);

/// Floats of scratch `convkit_winograd_forward` and `convkit_winograd_weight_gradient` need
/// for an image `columns` outputs wide.
int64_t convkit_winograd_scratch_count(int64_t columns, int64_t channels, int64_t outputChannels);

/// output = bias + conv(input), then max(output, 0) when `relu` is set; `scratch` holds
/// `convkit_winograd_scratch_count` floats (one per thread).
void convkit_winograd_forward(const convkit_winograd_image *p, const float *transformedKernel, const float *bias,
                              float *output, int relu, float *scratch, int portable);

/// The weight gradient of the same convolution by Winograd F(3×3, 2×2): each 4×4 input tile
/// (transformed as in the forward pass) and 2×2 output-gradient tile add their elementwise
/// products to `transformedGradient` [16][channels][outputChannels]. `output*` fields of `p`
/// describe the output gradient `outputGradient`. Sum every image, then call
/// `convkit_winograd_gradient_to_kernel` once.
void convkit_winograd_weight_gradient(const convkit_winograd_image *p, const float *outputGradient,
                                      float *transformedGradient, float *scratch, int portable);

/// kernelGradient [3][3][channels][outputChannels] += the transformed gradient taken back.
void convkit_winograd_gradient_to_kernel(const float *transformedGradient, int64_t channels, int64_t outputChannels,
                                         float *kernelGradient);
