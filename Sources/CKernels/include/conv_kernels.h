#ifndef CONVKIT_CONV_KERNELS_H
#define CONVKIT_CONV_KERNELS_H

#include <stdint.h>

/// The kernel paths, by instruction set. `CONVKIT_ISA_AVX512_EMULATED` runs the AVX-512
/// path's code with each 512-bit vector held in two AVX2 registers: slower than either, it
/// lets the tests check that code on CPUs without AVX-512.
enum {
    CONVKIT_ISA_GENERIC = 0,
    CONVKIT_ISA_AVX2 = 1,
    CONVKIT_ISA_AVX512 = 2,
    CONVKIT_ISA_AVX512_EMULATED = 3,
};

/// 1 when this CPU (and its operating system) runs the path `isa`. The kernels below fall back
/// to the generic loops when handed a path the CPU cannot run.
int convkit_isa_supported(int isa);

/// The machine's FMA peak on one core at a path's vector width: `iterations` rounds of
/// 12 independent fused multiply-adds on registers only (2 · 12 · lanes flops a round, with
/// lanes 16 for AVX-512, 8 for AVX2 and its emulated AVX-512, 4 for generic's SSE2 multiply
/// and add). Returns a value derived from the sums, so that nothing is optimised away.
float convkit_fma_loop(int isa, int64_t iterations);

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
/// `isa` chooses the path (`CONVKIT_ISA_…`).
void convkit_conv_rows_forward(const convkit_conv_rows *p, const float *weights, const float *bias, float *output,
                               int relu, int isa);

/// weightGradient += Σ over rows and pixels of input·outputGradient (outputGradient laid out
/// as `output` above).
void convkit_conv_rows_weight_gradient(const convkit_conv_rows *p, const float *outputGradient, float *weightGradient,
                                       int isa);

/// Winograd convolution (Lavin & Gray 2016) of one image for a 3×3, stride-1, undilated,
/// ungrouped convolution: F(4×4, 3×3) forward, and F(3×3, 4×4) for the weight gradient
/// (both 4× fewer multiplies than direct). `input` is the image as it lies in the batch,
/// `inputRows` × `inputColumns` pixels of `channels` values, unpadded: output pixel (y, x)
/// reads input rows y − padTop … y − padTop + 2 and columns x − padLeft … x − padLeft + 2,
/// zeros where those fall outside the image. `images` consecutive images are taken at once,
/// each `inputRows`·`inputColumns`·`channels` floats after the last in the input and
/// `outputRows`·`outputRowStride` in the output (or output gradient).
typedef struct {
    const float *input;
    int64_t images;
    int64_t inputRows, inputColumns;
    int64_t padTop, padLeft;
    int64_t channels, outputChannels;
    int64_t outputRows, outputColumns;
    int64_t outputRowStride, outputPixelStride;
} convkit_winograd_image;

/// The kernel [3][3][channels][outputChannels] (HWIO) in F(4×4, 3×3)'s transformed domain,
/// [36][channels][outputChannels]: the weights `convkit_winograd_forward` takes.
void convkit_winograd_transform_kernel(const float *kernel, int64_t channels, int64_t outputChannels, float *transformed);

/// Floats of scratch `convkit_winograd_forward` and `convkit_winograd_weight_gradient` need
/// for images of `rows` × `columns` outputs.
int64_t convkit_winograd_scratch_count(int64_t rows, int64_t columns, int64_t channels, int64_t outputChannels);

/// How many images of `rows` × `columns` outputs the kernels put into one block of tiles:
/// small images are taken several at a time, so that each transformed-domain GEMM has enough
/// tiles to keep its operands' loads and its accumulators' stores small against its FMAs.
/// Hand `convkit_winograd_forward` and `convkit_winograd_weight_gradient` this many images
/// at a time (or fewer, at the end of a batch) for the full effect.
int64_t convkit_winograd_images_per_block(int64_t rows, int64_t columns);

/// output = bias + conv(input), then max(output, 0) when `relu` is set; `scratch` holds
/// `convkit_winograd_scratch_count` floats (one per thread).
void convkit_winograd_forward(const convkit_winograd_image *p, const float *transformedKernel, const float *bias,
                              float *output, int relu, float *scratch, int isa);

/// The weight gradient of the same convolution by Winograd F(3×3, 4×4): each 6×6 input tile
/// (transformed as in the forward pass) and 4×4 output-gradient tile add their elementwise
/// products to `transformedGradient` [36][channels][outputChannels]. `output*` fields of `p`
/// describe the output gradient `outputGradient`. Sum every image, then call
/// `convkit_winograd_gradient_to_kernel` once.
void convkit_winograd_weight_gradient(const convkit_winograd_image *p, const float *outputGradient,
                                      float *transformedGradient, float *scratch, int isa);

/// kernelGradient [3][3][channels][outputChannels] += the transformed gradient taken back.
void convkit_winograd_gradient_to_kernel(const float *transformedGradient, int64_t channels, int64_t outputChannels,
                                         float *kernelGradient);

#endif
