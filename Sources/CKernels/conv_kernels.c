// Register-blocked direct convolution (Georganas et al., SC'18; the layout MLAS and XNNPACK
// use for NHWC): a tile of up to 6 output pixels × 16 output channels stays in 12 AVX2
// registers while the taps and input channels stream past; each input value is broadcast and
// multiplied into two vectors of weights. The weight gradient is the same tile with the roles
// swapped: 6 (tap, input channel) rows × 16 output channels, summed over pixels.
//
// The AVX2 + FMA versions carry a target attribute, so the package needs no compiler flags;
// the CPU is checked once at run time and the portable loops run elsewhere.

#include "conv_kernels.h"
#include <immintrin.h>
#include <math.h>
#include <stddef.h>

enum { TILE_ROWS = 6, TILE_VECTORS = 2, LANES = 8 };

int convkit_conv_kernels_vectorized(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}

// MARK: portable loops (any CPU)

static void forward_portable(const convkit_conv_rows *p, const float *weights, const float *bias, float *output, int relu) {
    for (int64_t row = 0; row < p->rows; row++) {
        for (int64_t x = 0; x < p->pixels; x++) {
            const float *in = p->input + row * p->inputRowStride + x * p->inputPixelStride;
            float *out = output + row * p->outputRowStride + x * p->outputPixelStride;
            for (int64_t j = 0; j < p->outputChannels; j++) out[j] = bias ? bias[j] : 0;
            for (int64_t t = 0; t < p->taps; t++) {
                for (int64_t c = 0; c < p->channels; c++) {
                    float value = in[p->tapOffsets[t] + c];
                    const float *w = weights + (t * p->channels + c) * p->weightRowStride;
                    for (int64_t j = 0; j < p->outputChannels; j++) out[j] += value * w[j];
                }
            }
            // `<= 0` rather than `> 0`: a NaN stays NaN, as max(0, NaN) is in PyTorch and Keras.
            if (relu) for (int64_t j = 0; j < p->outputChannels; j++) out[j] = out[j] <= 0 ? 0 : out[j];
        }
    }
}

static void weight_gradient_portable(const convkit_conv_rows *p, const float *outputGradient, float *weightGradient) {
    for (int64_t row = 0; row < p->rows; row++) {
        for (int64_t x = 0; x < p->pixels; x++) {
            const float *in = p->input + row * p->inputRowStride + x * p->inputPixelStride;
            const float *g = outputGradient + row * p->outputRowStride + x * p->outputPixelStride;
            for (int64_t t = 0; t < p->taps; t++) {
                for (int64_t c = 0; c < p->channels; c++) {
                    float value = in[p->tapOffsets[t] + c];
                    float *dw = weightGradient + (t * p->channels + c) * p->weightRowStride;
                    for (int64_t j = 0; j < p->outputChannels; j++) dw[j] += value * g[j];
                }
            }
        }
    }
}

// MARK: AVX2 + FMA tiles

#define AVX2 __attribute__((target("avx2,fma")))
#define TILE static inline __attribute__((always_inline)) AVX2

// Loads vector `v` of a tile `vectors` wide; the last one is masked when `masked`.
TILE __m256 load_lanes(const float *at, int v, int vectors, int masked, __m256i mask) {
    return (masked && v == vectors - 1) ? _mm256_maskload_ps(at + v * LANES, mask) : _mm256_loadu_ps(at + v * LANES);
}

TILE void store_lanes(float *at, int v, int vectors, int masked, __m256i mask, __m256 value) {
    if (masked && v == vectors - 1) _mm256_maskstore_ps(at + v * LANES, mask, value);
    else _mm256_storeu_ps(at + v * LANES, value);
}

// `rows` output pixels starting at `in`/`out`, `vectors` × 8 output channels starting at
// `w`/`bias`. `rows`, `vectors` and `masked` are constants at every call site, so the
// accumulators unroll into registers.
TILE void forward_tile(const convkit_conv_rows *p, const float *in, const float *w, const float *bias, float *out,
                       int relu, int rows, int vectors, int masked, __m256i mask) {
    __m256 acc[TILE_ROWS][TILE_VECTORS];
    for (int v = 0; v < vectors; v++) {
        __m256 start = bias ? load_lanes(bias, v, vectors, masked, mask) : _mm256_setzero_ps();
        for (int r = 0; r < rows; r++) acc[r][v] = start;
    }
    const int64_t channels = p->channels, wstride = p->weightRowStride, pstride = p->inputPixelStride;
    for (int64_t t = 0; t < p->taps; t++) {
        const float *a = in + p->tapOffsets[t];
        const float *wt = w + t * channels * wstride;
        for (int64_t c = 0; c < channels; c++) {
            __m256 wv[TILE_VECTORS];
            for (int v = 0; v < vectors; v++) wv[v] = load_lanes(wt + c * wstride, v, vectors, masked, mask);
            for (int r = 0; r < rows; r++) {
                __m256 x = _mm256_broadcast_ss(a + r * pstride + c);
                for (int v = 0; v < vectors; v++) acc[r][v] = _mm256_fmadd_ps(x, wv[v], acc[r][v]);
            }
        }
    }
    if (relu)
        for (int r = 0; r < rows; r++)
            // MAXPS returns its second operand when either is NaN: zero first keeps NaN.
            for (int v = 0; v < vectors; v++) acc[r][v] = _mm256_max_ps(_mm256_setzero_ps(), acc[r][v]);
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) store_lanes(out + r * p->outputPixelStride, v, vectors, masked, mask, acc[r][v]);
}

// Rows `q0..<q0 + rows` of the weight gradient (row q = tap q / channels, channel
// q % channels: with few channels a tile spans taps), `vectors` × 8 output channels from
// `j0`, summed over output rows `firstRow..<endRow`.
TILE void gradient_tile(const convkit_conv_rows *p, const float *outputGradient, float *weightGradient,
                        int64_t firstRow, int64_t endRow, int64_t q0, int64_t j0,
                        int rows, int vectors, int masked, __m256i mask) {
    __m256 acc[TILE_ROWS][TILE_VECTORS];
    int64_t offset[TILE_ROWS];
    float *dw = weightGradient + q0 * p->weightRowStride + j0;
    for (int r = 0; r < rows; r++) {
        int64_t q = q0 + r;
        offset[r] = p->tapOffsets[q / p->channels] + q % p->channels;
        for (int v = 0; v < vectors; v++) acc[r][v] = load_lanes(dw + r * p->weightRowStride, v, vectors, masked, mask);
    }
    for (int64_t row = firstRow; row < endRow; row++) {
        const float *a = p->input + row * p->inputRowStride;
        const float *g = outputGradient + row * p->outputRowStride + j0;
        for (int64_t x = 0; x < p->pixels; x++, a += p->inputPixelStride, g += p->outputPixelStride) {
            __m256 gv[TILE_VECTORS];
            for (int v = 0; v < vectors; v++) gv[v] = load_lanes(g, v, vectors, masked, mask);
            for (int r = 0; r < rows; r++) {
                __m256 value = _mm256_broadcast_ss(a + offset[r]);
                for (int v = 0; v < vectors; v++) acc[r][v] = _mm256_fmadd_ps(value, gv[v], acc[r][v]);
            }
        }
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) store_lanes(dw + r * p->weightRowStride, v, vectors, masked, mask, acc[r][v]);
}

// Instantiates a tile for each (rows, vectors, masked) it is called with.
#define DISPATCH_TILE(call, rows, vectors, masked)                                  \
    switch (rows) {                                                                 \
    case 1: call(1, vectors, masked); break;                                        \
    case 2: call(2, vectors, masked); break;                                        \
    case 3: call(3, vectors, masked); break;                                        \
    case 4: call(4, vectors, masked); break;                                        \
    case 5: call(5, vectors, masked); break;                                        \
    default: call(6, vectors, masked); break;                                       \
    }
#define DISPATCH(call, rows, vectors, masked)                                       \
    if (vectors == 2) { if (masked) { DISPATCH_TILE(call, rows, 2, 1) } else { DISPATCH_TILE(call, rows, 2, 0) } } \
    else { if (masked) { DISPATCH_TILE(call, rows, 1, 1) } else { DISPATCH_TILE(call, rows, 1, 0) } }

// The column block starting at j0: how many vectors, and the mask of the last one.
static inline void column_block(int64_t remaining, int *vectors, int *masked, int32_t lanes[LANES]) {
    int64_t width = remaining < TILE_VECTORS * LANES ? remaining : TILE_VECTORS * LANES;
    *vectors = (int)((width + LANES - 1) / LANES);
    int64_t last = width - (*vectors - 1) * LANES;
    *masked = last < LANES;
    for (int i = 0; i < LANES; i++) lanes[i] = i < last ? -1 : 0;
}

static AVX2 void forward_avx2(const convkit_conv_rows *p, const float *weights, const float *bias, float *output, int relu) {
    for (int64_t j0 = 0; j0 < p->outputChannels; j0 += TILE_VECTORS * LANES) {
        int vectors, masked; int32_t lanes[LANES];
        column_block(p->outputChannels - j0, &vectors, &masked, lanes);
        __m256i mask = _mm256_loadu_si256((const __m256i *)lanes);
        const float *b = bias ? bias + j0 : NULL;
        for (int64_t row = 0; row < p->rows; row++) {
            for (int64_t x = 0; x < p->pixels; x += TILE_ROWS) {
                int64_t left = p->pixels - x;
                int rows = left < TILE_ROWS ? (int)left : TILE_ROWS;
                const float *in = p->input + row * p->inputRowStride + x * p->inputPixelStride;
                float *out = output + row * p->outputRowStride + x * p->outputPixelStride + j0;
#define FORWARD(R, V, M) forward_tile(p, in, weights + j0, b, out, relu, R, V, M, mask)
                DISPATCH(FORWARD, rows, vectors, masked)
#undef FORWARD
            }
        }
    }
}

// A few output rows at a time, so that their input and output gradient stay in L1 while
// every (tap, channel block, column block) tile passes over them; the tiles' sums go back to
// `weightGradient` (in L2) between blocks. Whole images at once ran out of L2 bandwidth.
enum { GRADIENT_ROW_BLOCK = 4 };

static AVX2 void weight_gradient_avx2(const convkit_conv_rows *p, const float *outputGradient, float *weightGradient) {
    for (int64_t firstRow = 0; firstRow < p->rows; firstRow += GRADIENT_ROW_BLOCK) {
        int64_t endRow = firstRow + GRADIENT_ROW_BLOCK < p->rows ? firstRow + GRADIENT_ROW_BLOCK : p->rows;
        int64_t weightRows = p->taps * p->channels;
        for (int64_t q0 = 0; q0 < weightRows; q0 += TILE_ROWS) {
            int rows = weightRows - q0 < TILE_ROWS ? (int)(weightRows - q0) : TILE_ROWS;
            for (int64_t j0 = 0; j0 < p->outputChannels; j0 += TILE_VECTORS * LANES) {
                int vectors, masked; int32_t lanes[LANES];
                column_block(p->outputChannels - j0, &vectors, &masked, lanes);
                __m256i mask = _mm256_loadu_si256((const __m256i *)lanes);
#define GRADIENT(R, V, M) gradient_tile(p, outputGradient, weightGradient, firstRow, endRow, q0, j0, R, V, M, mask)
                DISPATCH(GRADIENT, rows, vectors, masked)
#undef GRADIENT
            }
        }
    }
}

void convkit_conv_rows_forward(const convkit_conv_rows *p, const float *weights, const float *bias, float *output,
                               int relu, int portable) {
    if (!portable && convkit_conv_kernels_vectorized()) forward_avx2(p, weights, bias, output, relu);
    else forward_portable(p, weights, bias, output, relu);
}

void convkit_conv_rows_weight_gradient(const convkit_conv_rows *p, const float *outputGradient, float *weightGradient,
                                       int portable) {
    if (!portable && convkit_conv_kernels_vectorized()) weight_gradient_avx2(p, outputGradient, weightGradient);
    else weight_gradient_portable(p, outputGradient, weightGradient);
}

// MARK: Winograd
//
// Per block of tiles (a few rows of output tiles, a multiple of the forward tile's 6 rows
// for 28- and 14-wide images): transform every input tile into the Winograd domain, multiply
// each of its points by the transformed kernel with the forward or weight-gradient tile above
// (one tap, so a GEMM), and for the forward pass transform each result back. The transforms
// take eight channels at a time through the compiler's generic vectors: AVX instructions in
// the AVX2 functions, SSE pairs in the portable ones (unaligned access: aligned(4)).

typedef float v8 __attribute__((vector_size(32), aligned(4)));
#define LOAD8(p) (*(const v8 *)(p))
#define STORE8(p, v) (*(v8 *)(p) = (v))
#define LOAD1(p) (*(p))
#define STORE1(p, v) (*(p) = (v))
typedef int32_t vi8 __attribute__((vector_size(32), aligned(4)));
// ReLU that keeps NaN (fmax and __builtin_elementwise_max would return 0): zero the lanes
// that are <= 0, which a NaN is not.
#define MAX8(v) ((v8)((vi8)(v) & ~((v) <= (v8){0})))
#define MAX1(v) ((v) <= 0 ? 0.0f : (v))

// MARK: F(4×4, 3×3) for the forward pass (and the input gradient)
//
// Lavin & Gray's matrices for the points 0, ±1, ±2, ∞: a 6×6 input tile d gives a 4×4 output
// tile Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A, 36 multiplies per channel pair where direct convolution
// takes 144 (4× fewer). In float32 the error stays near 1e-6 of the output's scale.

enum { WINOGRAD4_TILE_ROWS = 6 };

static int64_t tiles4(int64_t size) { return (size + 3) / 4; }

void convkit_winograd_transform_kernel(const float *kernel, int64_t channels, int64_t outputChannels, float *transformed) {
    static const float G[6][3] = {
        {1.0f / 4, 0, 0}, {-1.0f / 6, -1.0f / 6, -1.0f / 6}, {-1.0f / 6, 1.0f / 6, -1.0f / 6},
        {1.0f / 24, 1.0f / 12, 1.0f / 6}, {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0, 0, 1},
    };
    int64_t plane = channels * outputChannels;
    for (int64_t e = 0; e < plane; e++) {
        float g[3][3], t[6][3];
        for (int i = 0; i < 9; i++) g[i / 3][i % 3] = kernel[i * plane + e];
        for (int i = 0; i < 6; i++)  // t = G·g
            for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * g[0][j] + G[i][1] * g[1][j] + G[i][2] * g[2][j];
        for (int i = 0; i < 6; i++)  // U = t·Gᵀ
            for (int j = 0; j < 6; j++)
                transformed[(i * 6 + j) * plane + e] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
    }
}

// Bᵀ applied to six values (a column, then a row, of a 6×6 tile).
#define INPUT6(d, r)                                                                                    \
    r[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];                                                           \
    r[1] = d[3] + d[4] - 4.0f * (d[1] + d[2]);                                                         \
    r[2] = 4.0f * (d[1] - d[2]) + d[4] - d[3];                                                         \
    r[3] = 2.0f * (d[3] - d[1]) + d[4] - d[2];                                                         \
    r[4] = 2.0f * (d[1] - d[3]) + d[4] - d[2];                                                         \
    r[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];

// Aᵀ applied to six values.
#define OUTPUT6(m, o)                                                                                   \
    o[0] = m[0] + m[1] + m[2] + m[3] + m[4];                                                           \
    o[1] = m[1] - m[2] + 2.0f * (m[3] - m[4]);                                                         \
    o[2] = m[1] + m[2] + 4.0f * (m[3] + m[4]);                                                         \
    o[3] = m[1] - m[2] + 8.0f * (m[3] - m[4]) + m[5];

// V[ξ][t][c] = (Bᵀ·d·B)[ξ] for the 6×6 tiles of one block; `first` is the top-left input of tile 0.
static inline __attribute__((always_inline))
void winograd4_input_transform(const convkit_winograd_image *p, const float *first, int64_t tileRows,
                               int64_t across, float *v, int64_t tiles) {
    const int64_t C = p->channels, ps = p->inputPixelStride, rs = p->inputRowStride, point = tiles * C;
    for (int64_t ty = 0; ty < tileRows; ty++) {
        for (int64_t tx = 0; tx < across; tx++) {
            const float *d = first + 4 * ty * rs + 4 * tx * ps;
            float *out = v + (ty * across + tx) * C;
            int64_t c = 0;
#define INPUT_TRANSFORM6(T, LOAD, STORE, STEP)                                                             \
            for (; c + STEP <= C; c += STEP) {                                                             \
                T t[6][6];  /* Bᵀ·d, column by column */                                                  \
                for (int j = 0; j < 6; j++) {                                                              \
                    T column[6], r[6];                                                                     \
                    for (int i = 0; i < 6; i++) column[i] = LOAD(d + i * rs + j * ps + c);                 \
                    INPUT6(column, r)                                                                      \
                    for (int i = 0; i < 6; i++) t[i][j] = r[i];                                            \
                }                                                                                          \
                for (int i = 0; i < 6; i++) {  /* (Bᵀ·d)·B, row by row */                                 \
                    T r[6];                                                                                \
                    INPUT6(t[i], r)                                                                        \
                    for (int j = 0; j < 6; j++) STORE(out + (i * 6 + j) * point + c, r[j]);                \
                }                                                                                          \
            }
            INPUT_TRANSFORM6(v8, LOAD8, STORE8, 8)
            INPUT_TRANSFORM6(float, LOAD1, STORE1, 1)
        }
    }
}

// Y = Aᵀ·m·A for each tile, plus bias and ReLU. Outputs past the edge of the image go to
// `discard` (K floats), so the channel loop has no branch.
static inline __attribute__((always_inline))
void winograd4_output_transform(const convkit_winograd_image *p, const float *m, int64_t tiles,
                                int64_t firstTileRow, int64_t tileRows, int64_t across,
                                const float *bias, const float *zeros, int relu, float *output, float *discard) {
    const int64_t K = p->outputChannels, point = tiles * K;
    const float *b = bias ? bias : zeros;
    for (int64_t ty = 0; ty < tileRows; ty++) {
        for (int64_t tx = 0; tx < across; tx++) {
            const float *in = m + (ty * across + tx) * K;
            int64_t y0 = 4 * (firstTileRow + ty), x0 = 4 * tx;
            float *out[4][4];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    out[i][j] = y0 + i < p->outputRows && x0 + j < p->outputColumns
                        ? output + (y0 + i) * p->outputRowStride + (x0 + j) * p->outputPixelStride : discard;
            int64_t k = 0;
#define OUTPUT_TRANSFORM6(T, LOAD, STORE, STEP, MAX)                                                       \
            for (; k + STEP <= K; k += STEP) {                                                             \
                T s[4][6];  /* Aᵀ·m, column by column */                                                  \
                for (int j = 0; j < 6; j++) {                                                              \
                    T column[6], o[4];                                                                     \
                    for (int i = 0; i < 6; i++) column[i] = LOAD(in + (i * 6 + j) * point + k);            \
                    OUTPUT6(column, o)                                                                     \
                    for (int i = 0; i < 4; i++) s[i][j] = o[i];                                            \
                }                                                                                          \
                T bk = LOAD(b + k);                                                                        \
                for (int i = 0; i < 4; i++) {  /* (Aᵀ·m)·A, row by row */                                 \
                    T o[4];                                                                                \
                    OUTPUT6(s[i], o)                                                                       \
                    for (int j = 0; j < 4; j++) {                                                          \
                        T y = o[j] + bk;                                                                   \
                        if (relu) y = MAX(y);                                                              \
                        STORE(out[i][j] + k, y);                                                           \
                    }                                                                                      \
                }                                                                                          \
            }
            OUTPUT_TRANSFORM6(v8, LOAD8, STORE8, 8, MAX8)
            OUTPUT_TRANSFORM6(float, LOAD1, STORE1, 1, MAX1)
        }
    }
}

// One block of tile rows: transform in, 36 GEMMs, transform out.
static inline __attribute__((always_inline))
void winograd4_block(const convkit_winograd_image *p, const float *transformedKernel, const float *bias, const float *zeros,
                     float *output, int relu, float *v, float *m, float *discard, int64_t firstTileRow, int64_t tileRows,
                     int64_t across, int portable) {
    const int64_t C = p->channels, K = p->outputChannels, tiles = tileRows * across;
    int64_t tap = 0;
    winograd4_input_transform(p, p->input + 4 * firstTileRow * p->inputRowStride, tileRows, across, v, tiles);
    for (int point = 0; point < 36; point++) {
        // m_ξ [tiles × K] = V_ξ [tiles × C] · U_ξ [C × K]: the forward tile with one tap.
        convkit_conv_rows gemm = {
            .input = v + point * tiles * C, .rows = 1, .pixels = tiles,
            .inputRowStride = 0, .inputPixelStride = C, .tapOffsets = &tap, .taps = 1, .channels = C,
            .weightRowStride = K, .outputRowStride = 0, .outputPixelStride = K, .outputChannels = K,
        };
        if (portable) forward_portable(&gemm, transformedKernel + point * C * K, NULL, m + point * tiles * K, 0);
        else forward_avx2(&gemm, transformedKernel + point * C * K, NULL, m + point * tiles * K, 0);
    }
    winograd4_output_transform(p, m, tiles, firstTileRow, tileRows, across, bias, zeros, relu, output, discard);
}

static AVX2 void winograd4_block_avx2(const convkit_winograd_image *p, const float *u, const float *bias, const float *zeros,
                                      float *output, int relu, float *v, float *m, float *discard,
                                      int64_t firstTileRow, int64_t tileRows, int64_t across) {
    winograd4_block(p, u, bias, zeros, output, relu, v, m, discard, firstTileRow, tileRows, across, 0);
}

static void winograd4_block_portable(const convkit_winograd_image *p, const float *u, const float *bias, const float *zeros,
                                     float *output, int relu, float *v, float *m, float *discard,
                                     int64_t firstTileRow, int64_t tileRows, int64_t across) {
    winograd4_block(p, u, bias, zeros, output, relu, v, m, discard, firstTileRow, tileRows, across, 1);
}

void convkit_winograd_forward(const convkit_winograd_image *p, const float *transformedKernel, const float *bias,
                              float *output, int relu, float *scratch, int portable) {
    const int64_t C = p->channels, K = p->outputChannels, across = tiles4(p->outputColumns), down = tiles4(p->outputRows);
    float *v = scratch, *m = v + 36 * WINOGRAD4_TILE_ROWS * across * C;
    float *discard = m + 36 * WINOGRAD4_TILE_ROWS * across * K, *zeros = discard + K;
    for (int64_t k = 0; k < K; k++) zeros[k] = 0;
    int vectorized = !portable && convkit_conv_kernels_vectorized();
    for (int64_t firstTileRow = 0; firstTileRow < down; firstTileRow += WINOGRAD4_TILE_ROWS) {
        int64_t tileRows = down - firstTileRow < WINOGRAD4_TILE_ROWS ? down - firstTileRow : WINOGRAD4_TILE_ROWS;
        if (vectorized) winograd4_block_avx2(p, transformedKernel, bias, zeros, output, relu, v, m, discard, firstTileRow, tileRows, across);
        else winograd4_block_portable(p, transformedKernel, bias, zeros, output, relu, v, m, discard, firstTileRow, tileRows, across);
    }
}

enum { WINOGRAD2_TILE_ROWS = 3 };

static int64_t tiles2(int64_t size) { return (size + 1) / 2; }

int64_t convkit_winograd_scratch_count(int64_t columns, int64_t channels, int64_t outputChannels) {
    int64_t forward = 36 * WINOGRAD4_TILE_ROWS * tiles4(columns) * (channels + outputChannels);
    int64_t gradient = 16 * WINOGRAD2_TILE_ROWS * tiles2(columns) * (channels + outputChannels);
    return (forward > gradient ? forward : gradient) + 2 * outputChannels;  // + discard and zeros
}

// MARK: Winograd F(3×3, 2×2) for the weight gradient
//
// dW[a][b] = Σ over output pixels of input[y + a][x + b]·dy[y][x] is, tile by tile, a 3×3
// "convolution" of a 4×4 input tile with a 2×2 gradient tile: Gᵀ·[(A·dy·Aᵀ) ⊙ (Bᵀ·d·B)]·G,
// with F(2×2, 3×3)'s matrices in swapped roles. The transform back is linear, so the
// products are summed over all tiles first (16 GEMMs reducing over tiles, on the weight-
// gradient tile) and transformed back once.

// V[ξ][t][c] = (Bᵀ·d·B)[ξ], F(2×2, 3×3)'s 4×4 input transform, for the tiles of one block; `first` is the top-left input of tile 0.
static inline __attribute__((always_inline))
void winograd2_input_transform(const convkit_winograd_image *p, const float *first, int64_t tileRows,
                              int64_t across, float *v, int64_t tiles) {
    const int64_t C = p->channels, ps = p->inputPixelStride, point = tiles * C;  // point: ξ to ξ + 1
    for (int64_t ty = 0; ty < tileRows; ty++) {
        for (int64_t tx = 0; tx < across; tx++) {
            const float *d = first + 2 * ty * p->inputRowStride + 2 * tx * ps;
            float *out = v + (ty * across + tx) * C;
            int64_t c = 0;
#define INPUT_TRANSFORM(T, LOAD, STORE, STEP)                                                              \
            for (; c + STEP <= C; c += STEP) {                                                             \
                T b[4][4];  /* Bᵀ·d, column by column */                                                 \
                for (int j = 0; j < 4; j++) {                                                              \
                    const float *at = d + j * ps + c;                                                      \
                    T d0 = LOAD(at), d1 = LOAD(at + p->inputRowStride);                                    \
                    T d2 = LOAD(at + 2 * p->inputRowStride), d3 = LOAD(at + 3 * p->inputRowStride);        \
                    b[0][j] = d0 - d2; b[1][j] = d1 + d2; b[2][j] = d2 - d1; b[3][j] = d1 - d3;            \
                }                                                                                          \
                for (int i = 0; i < 4; i++) {  /* (Bᵀ·d)·B */                                             \
                    STORE(out + (i * 4 + 0) * point + c, b[i][0] - b[i][2]);                               \
                    STORE(out + (i * 4 + 1) * point + c, b[i][1] + b[i][2]);                               \
                    STORE(out + (i * 4 + 2) * point + c, b[i][2] - b[i][1]);                               \
                    STORE(out + (i * 4 + 3) * point + c, b[i][1] - b[i][3]);                               \
                }                                                                                          \
            }
            INPUT_TRANSFORM(v8, LOAD8, STORE8, 8)
            INPUT_TRANSFORM(float, LOAD1, STORE1, 1)
        }
    }
}

// U[ξ][t][k] = (A·dy·Aᵀ)[ξ] for the 2×2 gradient tiles of one block (zeros past the edges).
static inline __attribute__((always_inline))
void winograd_gradient_transform(const convkit_winograd_image *p, const float *dy, const float *zeros,
                                 int64_t firstTileRow, int64_t tileRows, int64_t across, float *u, int64_t tiles) {
    const int64_t K = p->outputChannels, point = tiles * K;
    for (int64_t ty = 0; ty < tileRows; ty++) {
        for (int64_t tx = 0; tx < across; tx++) {
            int64_t y0 = 2 * (firstTileRow + ty), x0 = 2 * tx;
            const float *g00 = dy + y0 * p->outputRowStride + x0 * p->outputPixelStride;
            const float *g01 = x0 + 1 < p->outputColumns ? g00 + p->outputPixelStride : zeros;
            const float *g10 = y0 + 1 < p->outputRows ? g00 + p->outputRowStride : zeros;
            const float *g11 = g01 != zeros && g10 != zeros ? g10 + p->outputPixelStride : zeros;
            float *out = u + (ty * across + tx) * K;
            int64_t k = 0;
#define GRADIENT_TRANSFORM(T, LOAD, STORE, STEP)                                                           \
            for (; k + STEP <= K; k += STEP) {                                                             \
                T a00 = LOAD(g00 + k), a01 = LOAD(g01 + k), a10 = LOAD(g10 + k), a11 = LOAD(g11 + k);      \
                T t[4][2] = {{a00, a01}, {a00 + a10, a01 + a11}, {a00 - a10, a01 - a11}, {-a10, -a11}};    \
                for (int i = 0; i < 4; i++) {  /* (A·dy)·Aᵀ */                                            \
                    STORE(out + (i * 4 + 0) * point + k, t[i][0]);                                         \
                    STORE(out + (i * 4 + 1) * point + k, t[i][0] + t[i][1]);                               \
                    STORE(out + (i * 4 + 2) * point + k, t[i][0] - t[i][1]);                               \
                    STORE(out + (i * 4 + 3) * point + k, -t[i][1]);                                        \
                }                                                                                          \
            }
            GRADIENT_TRANSFORM(v8, LOAD8, STORE8, 8)
            GRADIENT_TRANSFORM(float, LOAD1, STORE1, 1)
        }
    }
}

static inline __attribute__((always_inline))
void winograd_gradient_block(const convkit_winograd_image *p, const float *dy, float *m, const float *zeros,
                             float *v, float *u, int64_t firstTileRow, int64_t tileRows, int64_t across, int portable) {
    const int64_t C = p->channels, K = p->outputChannels, tiles = tileRows * across;
    int64_t tap = 0;
    winograd2_input_transform(p, p->input + 2 * firstTileRow * p->inputRowStride, tileRows, across, v, tiles);
    winograd_gradient_transform(p, dy, zeros, firstTileRow, tileRows, across, u, tiles);
    for (int point = 0; point < 16; point++) {
        // m_ξ [C × K] += V_ξᵀ [C × tiles] · U_ξ [tiles × K]: the weight-gradient tile, one tap.
        convkit_conv_rows gemm = {
            .input = v + point * tiles * C, .rows = 1, .pixels = tiles,
            .inputRowStride = 0, .inputPixelStride = C, .tapOffsets = &tap, .taps = 1, .channels = C,
            .weightRowStride = K, .outputRowStride = 0, .outputPixelStride = K, .outputChannels = K,
        };
        if (portable) weight_gradient_portable(&gemm, u + point * tiles * K, m + point * C * K);
        else weight_gradient_avx2(&gemm, u + point * tiles * K, m + point * C * K);
    }
}

static AVX2 void winograd_gradient_block_avx2(const convkit_winograd_image *p, const float *dy, float *m, const float *zeros,
                                              float *v, float *u, int64_t firstTileRow, int64_t tileRows, int64_t across) {
    winograd_gradient_block(p, dy, m, zeros, v, u, firstTileRow, tileRows, across, 0);
}

static void winograd_gradient_block_portable(const convkit_winograd_image *p, const float *dy, float *m, const float *zeros,
                                             float *v, float *u, int64_t firstTileRow, int64_t tileRows, int64_t across) {
    winograd_gradient_block(p, dy, m, zeros, v, u, firstTileRow, tileRows, across, 1);
}

void convkit_winograd_weight_gradient(const convkit_winograd_image *p, const float *outputGradient,
                                      float *transformedGradient, float *scratch, int portable) {
    const int64_t C = p->channels, K = p->outputChannels, across = tiles2(p->outputColumns);
    const int64_t down = (p->outputRows + 1) / 2;
    float *v = scratch, *u = v + 16 * WINOGRAD2_TILE_ROWS * across * C, *zeros = u + 16 * WINOGRAD2_TILE_ROWS * across * K;
    for (int64_t k = 0; k < K; k++) zeros[k] = 0;
    int vectorized = !portable && convkit_conv_kernels_vectorized();
    for (int64_t firstTileRow = 0; firstTileRow < down; firstTileRow += WINOGRAD2_TILE_ROWS) {
        int64_t tileRows = down - firstTileRow < WINOGRAD2_TILE_ROWS ? down - firstTileRow : WINOGRAD2_TILE_ROWS;
        if (vectorized) winograd_gradient_block_avx2(p, outputGradient, transformedGradient, zeros, v, u, firstTileRow, tileRows, across);
        else winograd_gradient_block_portable(p, outputGradient, transformedGradient, zeros, v, u, firstTileRow, tileRows, across);
    }
}

void convkit_winograd_gradient_to_kernel(const float *transformedGradient, int64_t channels, int64_t outputChannels,
                                         float *kernelGradient) {
    int64_t plane = channels * outputChannels;
    for (int64_t e = 0; e < plane; e++) {
        float m[4][4], t[3][4];
        for (int i = 0; i < 16; i++) m[i / 4][i % 4] = transformedGradient[i * plane + e];
        for (int j = 0; j < 4; j++) {  // Gᵀ·m
            t[0][j] = m[0][j] + 0.5f * (m[1][j] + m[2][j]);
            t[1][j] = 0.5f * (m[1][j] - m[2][j]);
            t[2][j] = 0.5f * (m[1][j] + m[2][j]) + m[3][j];
        }
        for (int i = 0; i < 3; i++) {  // (Gᵀ·m)·G
            kernelGradient[(i * 3 + 0) * plane + e] += t[i][0] + 0.5f * (t[i][1] + t[i][2]);
            kernelGradient[(i * 3 + 1) * plane + e] += 0.5f * (t[i][1] - t[i][2]);
            kernelGradient[(i * 3 + 2) * plane + e] += 0.5f * (t[i][1] + t[i][2]) + t[i][3];
        }
    }
}
