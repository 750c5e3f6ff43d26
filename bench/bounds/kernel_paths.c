// One core, each kernel path of CKernels on the convolutions of ConvKit's workloads: direct and
// Winograd, forward and weight gradient, in effective GFLOP/s (2·MACs of the direct
// convolution per second). What chose the AVX-512 tile (8 × 2 vectors: 12 × 2 ran at half the
// FMA peak on a Zen 4). `make bench-kernels` builds and runs it; compare with the FMA peak
// `convkit bench` prints (divided by its thread count).
#include "conv_kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// A 3×3 'same' convolution of one size×size image, C → K channels, `runs` times per kernel and
// path; Winograd takes as many images at once as it puts into one block,
// as ConvKit's layers hand it.
static void measure(int C, int K, int size, int runs) {
    int padded = size + 2;
    float *input = calloc((size_t)padded * padded * C, sizeof(float)), *kernel = malloc(9L * C * K * sizeof(float));
    int group = (int)convkit_winograd_images_per_block(size, size);
    float *output = malloc((size_t)group * size * size * K * sizeof(float)), *transformed = malloc(36L * C * K * sizeof(float));
    float *gradient = calloc(36L * C * K, sizeof(float));
    float *scratch = malloc(convkit_winograd_scratch_count(size, size, C, K) * sizeof(float));
    for (long i = 0; i < (long)padded * padded * C; i++) input[i] = (float)(i % 7) * 0.1f;
    for (long i = 0; i < 9L * C * K; i++) kernel[i] = (float)(i % 5) * 0.01f;
    int64_t taps[9];
    for (int t = 0; t < 9; t++) taps[t] = ((t / 3) * padded + t % 3) * C;
    convkit_conv_rows rows = {.input = input, .rows = size, .pixels = size, .inputRowStride = padded * C, .inputPixelStride = C,
                              .tapOffsets = taps, .taps = 9, .channels = C, .weightRowStride = K, .outputRowStride = size * K,
                              .outputPixelStride = K, .outputChannels = K};
    float *plain = malloc((size_t)group * size * size * C * sizeof(float));  // Winograd reads the unpadded images
    for (long i = 0; i < (long)group * size * size * C; i++) plain[i] = (float)(i % 7) * 0.1f;
    convkit_winograd_image image = {.input = plain, .images = group, .inputRows = size, .inputColumns = size, .padTop = 1, .padLeft = 1, .channels = C,
                                    .outputChannels = K, .outputRows = size, .outputColumns = size,
                                    .outputRowStride = size * K, .outputPixelStride = K};
    convkit_winograd_transform_kernel(kernel, C, K, transformed);
    double flops = 2.0 * size * size * 9 * C * K;
    static const char *names[] = {"generic", "avx2", "avx512", "avx512-emulated"};
    for (int isa = CONVKIT_ISA_AVX2; isa <= CONVKIT_ISA_AVX512; isa++) {
        if (!convkit_isa_supported(isa)) continue;
        double t[4], start;
        start = seconds();
        for (int i = 0; i < runs; i++) convkit_conv_rows_forward(&rows, kernel, NULL, output, 0, isa);
        t[0] = seconds() - start; start = seconds();
        for (int i = 0; i < runs; i++) convkit_conv_rows_weight_gradient(&rows, output, kernel, isa);
        t[1] = seconds() - start; start = seconds();
        for (int i = 0; i < runs; i += group) convkit_winograd_forward(&image, transformed, NULL, output, 0, scratch, isa);
        t[2] = seconds() - start; start = seconds();
        for (int i = 0; i < runs; i += group) convkit_winograd_weight_gradient(&image, output, gradient, scratch, isa);
        t[3] = seconds() - start;
        printf("%3d→%-3d %2d×%-2d %-7s direct %6.1f  direct dW %6.1f  Winograd %6.1f  Winograd dW %6.1f GFLOP/s\n", C, K, size,
               size, names[isa], flops * runs / t[0] / 1e9, flops * runs / t[1] / 1e9, flops * runs / t[2] / 1e9,
               flops * runs / t[3] / 1e9);
    }
    free(input); free(plain); free(kernel); free(output); free(transformed); free(gradient); free(scratch);
}

int main(void) {
    measure(64, 32, 28, 200);  // conv2d_64_32 and the seed-003 models' second layer
    measure(1, 64, 28, 4000);  // the seed-003 models' first layer (direct only; Winograd needs 8 channels)
    measure(16, 16, 32, 400);  // ResNet-20-16, stage 1
    measure(32, 32, 16, 400);  // stage 2
    measure(64, 64, 8, 400);   // stage 3
    return 0;
}
