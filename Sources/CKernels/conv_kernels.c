// Register-blocked direct convolution (Georganas et al., SC'18; the layout MLAS and XNNPACK
// use for NHWC): a tile of output pixels × output channels stays in vector registers while
// the taps and input channels stream past; each input value is broadcast and multiplied into
// the vectors of weights. The weight gradient is the same tile with the roles swapped:
// (tap, input channel) rows × output channels, summed over pixels. Winograd's convolutions
// run their products on the same tiles.
//
// Each kernel exists once per instruction set (conv_tiles_template.h and
// winograd_template.h, included below once per path): AVX-512 (16 floats a vector, 8 × 2
// vector tiles in its 32 registers), AVX2 + FMA (8 floats, 6 × 2 tiles in 16 registers),
// and the portable loops. The AVX-512 code also compiles over pairs of AVX2 registers, so
// that its logic runs in the tests on CPUs without AVX-512. Each path carries a target
// attribute, so the package needs no compiler flags; the caller chooses the path (Swift's
// `InstructionSet`) and an unsupported one falls back to the portable loops.

#include "conv_kernels.h"
#include "generic_vectors.h"
#include <immintrin.h>
#include <math.h>
#include <stddef.h>

int convkit_isa_supported(int isa) {
    static int avx2 = -1, avx512 = -1;
    if (avx2 < 0) {
        __builtin_cpu_init();
        avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        avx512 = avx2 && __builtin_cpu_supports("avx512f");
    }
    switch (isa) {
    case CONVKIT_ISA_GENERIC: return 1;
    case CONVKIT_ISA_AVX2: case CONVKIT_ISA_AVX512_EMULATED: return avx2;
    case CONVKIT_ISA_AVX512: return avx512;
    default: return 0;
    }
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


// MARK: the vector paths

// Instantiates a tile for each (rows, vectors, masked) it is called with; DISPATCH_ROWSn is
// a row switch up to n rows (a path's TILE_ROWS, or its ONE_VECTOR_ROWS).
#define ROW_CASE(n, call, vectors, masked) case n: call(n, vectors, masked); break;
#define ROW_CASES_1_TO_5(call, vectors, masked)                                                              \
    ROW_CASE(1, call, vectors, masked) ROW_CASE(2, call, vectors, masked) ROW_CASE(3, call, vectors, masked) \
    ROW_CASE(4, call, vectors, masked) ROW_CASE(5, call, vectors, masked)
#define ROW_CASES_6_TO_11(call, vectors, masked)                                                               \
    ROW_CASE(6, call, vectors, masked) ROW_CASE(7, call, vectors, masked) ROW_CASE(8, call, vectors, masked)   \
    ROW_CASE(9, call, vectors, masked) ROW_CASE(10, call, vectors, masked) ROW_CASE(11, call, vectors, masked)
#define ROW_CASES_12_TO_15(call, vectors, masked)                                                               \
    ROW_CASE(12, call, vectors, masked) ROW_CASE(13, call, vectors, masked) ROW_CASE(14, call, vectors, masked) \
    ROW_CASE(15, call, vectors, masked)
#define DISPATCH_ROWS6(call, rows, vectors, masked) \
    switch (rows) { ROW_CASES_1_TO_5(call, vectors, masked) default: call(6, vectors, masked); break; }
#define DISPATCH_ROWS8(call, rows, vectors, masked) \
    switch (rows) { ROW_CASES_1_TO_5(call, vectors, masked) ROW_CASE(6, call, vectors, masked) \
                    ROW_CASE(7, call, vectors, masked) default: call(8, vectors, masked); break; }
#define DISPATCH_ROWS12(call, rows, vectors, masked) \
    switch (rows) { ROW_CASES_1_TO_5(call, vectors, masked) ROW_CASES_6_TO_11(call, vectors, masked) \
                    default: call(12, vectors, masked); break; }
#define DISPATCH_ROWS16(call, rows, vectors, masked)                                                  \
    switch (rows) { ROW_CASES_1_TO_5(call, vectors, masked) ROW_CASES_6_TO_11(call, vectors, masked) \
                    ROW_CASES_12_TO_15(call, vectors, masked) default: call(16, vectors, masked); break; }

// One-vector tiles (16 or fewer output channels) take ONE_VECTOR_ROWS rows, so that they keep
// as many accumulators as the two-vector tiles: 8 × 1 left the AVX-512 FMAs waiting on their
// own results (one core, `make bench-kernels`, 16 → 16 Winograd: 101–141 → 151–172 GFLOP/s).
#define DISPATCH(call, rows, vectors, masked)                                       \
    if (vectors == 2) { if (masked) { DISPATCH_ROWS(call, rows, 2, 1) } else { DISPATCH_ROWS(call, rows, 2, 0) } } \
    else { if (masked) { DISPATCH_ONE_VECTOR_ROWS(call, rows, 1, 1) } else { DISPATCH_ONE_VECTOR_ROWS(call, rows, 1, 0) } }

// A few output rows at a time, so that their input and output gradient stay in L1 while
// every (tap, channel block, column block) tile passes over them; the tiles' sums go back to
// `weightGradient` (in L2) between blocks. Whole images at once ran out of L2 bandwidth.
enum { GRADIENT_ROW_BLOCK = 4 };

#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define AVX2_INLINE static inline __attribute__((always_inline)) AVX2_TARGET

// The AVX2 lane mask of the first `last` lanes (all lanes for 8 or more, none for 0 or less).
AVX2_INLINE __m256i lanes_below(int last) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(last), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// AVX2 + FMA: 8 floats a vector, 6 × 2 tiles (12 accumulators of 16 registers).
#define ISA(name) name##_avx2
#define TARGET AVX2_TARGET
#define VEC __m256
#define MASK __m256i
#define LANES 8
#define TILE_ROWS 6
#define TILE_VECTORS 2
#define ONE_VECTOR_ROWS 12
#define DISPATCH_ROWS DISPATCH_ROWS6
#define DISPATCH_ONE_VECTOR_ROWS DISPATCH_ROWS12
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_LOAD_MASKED(p, m) _mm256_maskload_ps(p, m)
#define V_STORE(p, v) _mm256_storeu_ps(p, v)
#define V_STORE_MASKED(p, m, v) _mm256_maskstore_ps(p, m, v)
#define V_BROADCAST(p) _mm256_broadcast_ss(p)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_ZERO() _mm256_setzero_ps()
// MAXPS returns its second operand when either is NaN: zero first keeps NaN.
#define V_RELU(v) _mm256_max_ps(_mm256_setzero_ps(), v)
#define V_MASK(last) lanes_below(last)
#include "conv_tiles_template.h"

// AVX-512: 16 floats a vector, 8 × 2 tiles (16 accumulators of 32 registers). 12 × 2 tiles
// (24 accumulators) ran at half the FMA peak on a Zen 4, 8 × 2 at the peak (notebook, 2026-12-05).
#define ISA(name) name##_avx512
#define TARGET __attribute__((target("avx512f,avx2,fma")))
#define VEC __m512
#define MASK __mmask16
#define LANES 16
#define TILE_ROWS 8
#define TILE_VECTORS 2
#define ONE_VECTOR_ROWS 16
#define DISPATCH_ROWS DISPATCH_ROWS8
#define DISPATCH_ONE_VECTOR_ROWS DISPATCH_ROWS16
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_LOAD_MASKED(p, m) _mm512_maskz_loadu_ps(m, p)
#define V_STORE(p, v) _mm512_storeu_ps(p, v)
#define V_STORE_MASKED(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define V_BROADCAST(p) _mm512_set1_ps(*(p))
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_ZERO() _mm512_setzero_ps()
#define V_RELU(v) _mm512_max_ps(_mm512_setzero_ps(), v)
#define V_MASK(last) ((__mmask16)((1u << (last)) - 1))
#include "conv_tiles_template.h"

// The AVX-512 path's code (same tiles, lanes and masks) with each 512-bit vector held as two
// AVX2 registers and a mask as its lane count: what the tests run where no AVX-512 exists.
typedef struct { __m256 low, high; } pair256;
AVX2_INLINE pair256 pair_load(const float *p) { return (pair256){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
AVX2_INLINE pair256 pair_load_masked(const float *p, int last) {
    return (pair256){_mm256_maskload_ps(p, lanes_below(last)), _mm256_maskload_ps(p + 8, lanes_below(last - 8))};
}
AVX2_INLINE void pair_store(float *p, pair256 v) { _mm256_storeu_ps(p, v.low); _mm256_storeu_ps(p + 8, v.high); }
AVX2_INLINE void pair_store_masked(float *p, int last, pair256 v) {
    _mm256_maskstore_ps(p, lanes_below(last), v.low);
    _mm256_maskstore_ps(p + 8, lanes_below(last - 8), v.high);
}
AVX2_INLINE pair256 pair_broadcast(const float *p) { __m256 x = _mm256_broadcast_ss(p); return (pair256){x, x}; }
AVX2_INLINE pair256 pair_fma(pair256 a, pair256 b, pair256 c) {
    return (pair256){_mm256_fmadd_ps(a.low, b.low, c.low), _mm256_fmadd_ps(a.high, b.high, c.high)};
}
AVX2_INLINE pair256 pair_zero(void) { return (pair256){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
AVX2_INLINE pair256 pair_relu(pair256 v) {
    return (pair256){_mm256_max_ps(_mm256_setzero_ps(), v.low), _mm256_max_ps(_mm256_setzero_ps(), v.high)};
}

#define ISA(name) name##_avx512_emulated
#define TARGET AVX2_TARGET
#define VEC pair256
#define MASK int
#define LANES 16
#define TILE_ROWS 8
#define TILE_VECTORS 2
#define ONE_VECTOR_ROWS 16
#define DISPATCH_ROWS DISPATCH_ROWS8
#define DISPATCH_ONE_VECTOR_ROWS DISPATCH_ROWS16
#define V_LOAD(p) pair_load(p)
#define V_LOAD_MASKED(p, m) pair_load_masked(p, m)
#define V_STORE(p, v) pair_store(p, v)
#define V_STORE_MASKED(p, m, v) pair_store_masked(p, m, v)
#define V_BROADCAST(p) pair_broadcast(p)
#define V_FMA(a, b, c) pair_fma(a, b, c)
#define V_ZERO() pair_zero()
#define V_RELU(v) pair_relu(v)
#define V_MASK(last) (last)
#include "conv_tiles_template.h"

void convkit_conv_rows_forward(const convkit_conv_rows *p, const float *weights, const float *bias, float *output,
                               int relu, int isa) {
    switch (convkit_usable_isa(isa)) {
    case CONVKIT_ISA_AVX512: forward_avx512(p, weights, bias, output, relu); break;
    case CONVKIT_ISA_AVX512_EMULATED: forward_avx512_emulated(p, weights, bias, output, relu); break;
    case CONVKIT_ISA_AVX2: forward_avx2(p, weights, bias, output, relu); break;
    default: forward_portable(p, weights, bias, output, relu);
    }
}

void convkit_conv_rows_weight_gradient(const convkit_conv_rows *p, const float *outputGradient, float *weightGradient,
                                       int isa) {
    switch (convkit_usable_isa(isa)) {
    case CONVKIT_ISA_AVX512: weight_gradient_avx512(p, outputGradient, weightGradient); break;
    case CONVKIT_ISA_AVX512_EMULATED: weight_gradient_avx512_emulated(p, outputGradient, weightGradient); break;
    case CONVKIT_ISA_AVX2: weight_gradient_avx2(p, outputGradient, weightGradient); break;
    default: weight_gradient_portable(p, outputGradient, weightGradient);
    }
}

// MARK: Winograd

// MARK: F(4×4, 3×3) for the forward pass (and the input gradient)
//
// Lavin & Gray's matrices for the points 0, ±1, ±2, ∞: a 6×6 input tile d gives a 4×4 output
// tile Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A, 36 multiplies per channel pair where direct convolution
// takes 144 (4× fewer). In float32 the error stays near 1e-6 of the output's scale.

enum { WINOGRAD4_TILE_ROWS = 6 };

static int64_t tiles4(int64_t size) { return (size + 3) / 4; }

// The kernel transforms take a block of (channel, output channel) pairs at a time, with the
// pair innermost, so that every loop runs over contiguous values and vectorises; per value
// the arithmetic is G·g·Gᵀ in the usual order.
enum { TRANSFORM_BLOCK = 64 };

// F(4×4, 3×3)'s kernel transform.
static const float G[6][3] = {
    {1.0f / 4, 0, 0}, {-1.0f / 6, -1.0f / 6, -1.0f / 6}, {-1.0f / 6, 1.0f / 6, -1.0f / 6},
    {1.0f / 24, 1.0f / 12, 1.0f / 6}, {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0, 0, 1},
};

void convkit_winograd_transform_kernel(const float *kernel, int64_t channels, int64_t outputChannels, float *transformed) {
    const int64_t plane = channels * outputChannels;
    for (int64_t e0 = 0; e0 < plane; e0 += TRANSFORM_BLOCK) {
        const int64_t n = plane - e0 < TRANSFORM_BLOCK ? plane - e0 : TRANSFORM_BLOCK;
        const float *g = kernel + e0;  // g[(row·3 + column)·plane + e]
        float t[6][3][TRANSFORM_BLOCK];
        for (int i = 0; i < 6; i++)  // t = G·g
            for (int j = 0; j < 3; j++)
                for (int64_t e = 0; e < n; e++)
                    t[i][j][e] = G[i][0] * g[j * plane + e] + G[i][1] * g[(3 + j) * plane + e] + G[i][2] * g[(6 + j) * plane + e];
        for (int i = 0; i < 6; i++)  // U = t·Gᵀ
            for (int j = 0; j < 6; j++) {
                float *u = transformed + (i * 6 + j) * plane + e0;
                for (int64_t e = 0; e < n; e++) u[e] = t[i][0][e] * G[j][0] + t[i][1][e] * G[j][1] + t[i][2][e] * G[j][2];
            }
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


// The transforms of one tile, W_STEP channels at a time (T the vector type): the bodies of
// winograd_template.h's transform functions, whose variables they use.
#define INPUT_TRANSFORM6(T, LOAD, STORE, STEP)                                                             \
            for (; c + STEP <= C; c += STEP) {                                                             \
                T t[6][6];  /* Bᵀ·d, column by column */                                                  \
                for (int j = 0; j < 6; j++) {                                                              \
                    T column[6], r[6];                                                                     \
                    for (int i = 0; i < 6; i++) column[i] = LOAD(in[i][j] + c);                            \
                    INPUT6(column, r)                                                                      \
                    for (int i = 0; i < 6; i++) t[i][j] = r[i];                                            \
                }                                                                                          \
                for (int i = 0; i < 6; i++) {  /* (Bᵀ·d)·B, row by row */                                 \
                    T r[6];                                                                                \
                    INPUT6(t[i], r)                                                                        \
                    for (int j = 0; j < 6; j++) STORE(out + (i * 6 + j) * point + c, r[j]);                \
                }                                                                                          \
            }

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

// A applied to four values (a column, then a row, of a 4×4 gradient tile): A = (Aᵀ)ᵀ of OUTPUT6.
#define GRADIENT6(g, u)                                                                                 \
    u[0] = g[0];                                                                                       \
    u[1] = g[0] + g[1] + g[2] + g[3];                                                                  \
    u[2] = g[0] - g[1] + g[2] - g[3];                                                                  \
    u[3] = g[0] + 2.0f * g[1] + 4.0f * g[2] + 8.0f * g[3];                                             \
    u[4] = g[0] - 2.0f * g[1] + 4.0f * g[2] - 8.0f * g[3];                                             \
    u[5] = g[3];

#define GRADIENT_TRANSFORM6(T, LOAD, STORE, STEP)                                                          \
            for (; k + STEP <= K; k += STEP) {                                                             \
                T t[6][4];  /* A·dy, column by column */                                                  \
                for (int j = 0; j < 4; j++) {                                                              \
                    T column[4], r[6];                                                                     \
                    for (int i = 0; i < 4; i++) column[i] = LOAD(in[i][j] + k);                            \
                    GRADIENT6(column, r)                                                                   \
                    for (int i = 0; i < 6; i++) t[i][j] = r[i];                                            \
                }                                                                                          \
                for (int i = 0; i < 6; i++) {  /* (A·dy)·Aᵀ, row by row */                                \
                    T r[6];                                                                                \
                    GRADIENT6(t[i], r)                                                                     \
                    for (int j = 0; j < 6; j++) STORE(out + (i * 6 + j) * point + k, r[j]);                \
                }                                                                                          \
            }

// Tiles a block of several whole images may hold: with 32 rows of tiles, the GEMMs' shares of
// loads and stores are near a large image's.
enum { WINOGRAD_BLOCK_TILES = 32 };

int64_t convkit_winograd_images_per_block(int64_t rows, int64_t columns) {
    int64_t down = tiles4(rows), tiles = down * tiles4(columns);
    if (down > WINOGRAD4_TILE_ROWS || tiles >= WINOGRAD_BLOCK_TILES) return 1;
    return WINOGRAD_BLOCK_TILES / tiles;
}

// The tiles of one block: tile rows firstTileRow..<firstTileRow + tileRows of `images`
// consecutive images from `firstImage`, tile t = (image·tileRows + row)·across + column.
typedef struct {
    int64_t firstImage, images, firstTileRow, tileRows, across;
} winograd_block;

static inline int64_t winograd_block_tiles(const winograd_block *b) { return b->images * b->tileRows * b->across; }

// The most tiles a block of images this size holds.
static int64_t winograd_most_tiles(int64_t rows, int64_t columns) {
    int64_t down = tiles4(rows), across = tiles4(columns), perImage = down < WINOGRAD4_TILE_ROWS ? down : WINOGRAD4_TILE_ROWS;
    return convkit_winograd_images_per_block(rows, columns) * perImage * across;
}

int64_t convkit_winograd_scratch_count(int64_t rows, int64_t columns, int64_t channels, int64_t outputChannels) {
    // The forward pass and the weight gradient both hold a block's 6×6 tiles on both sides;
    // then `discard` (outputChannels) and `zeros` (the larger channel count).
    int64_t widest = channels > outputChannels ? channels : outputChannels;
    return 36 * winograd_most_tiles(rows, columns) * (channels + outputChannels) + outputChannels + widest;
}

// The blocks of `p`'s images in order: several whole images at a time when they are small,
// else up to WINOGRAD4_TILE_ROWS tile rows of one image. `images` is 0 past the last.
static winograd_block winograd_block_at(const convkit_winograd_image *p, int64_t firstImage, int64_t firstTileRow) {
    const int64_t down = tiles4(p->outputRows), per = convkit_winograd_images_per_block(p->outputRows, p->outputColumns);
    if (firstTileRow >= down) { firstImage += per; firstTileRow = 0; }
    int64_t images = p->images - firstImage < per ? p->images - firstImage : per;
    int64_t tileRows = down - firstTileRow < WINOGRAD4_TILE_ROWS ? down - firstTileRow : WINOGRAD4_TILE_ROWS;
    return (winograd_block){.firstImage = firstImage, .images = images > 0 ? images : 0, .firstTileRow = firstTileRow,
                            .tileRows = tileRows, .across = tiles4(p->outputColumns)};
}

#define FOR_EACH_WINOGRAD_BLOCK(p, b)                                                    \
    for (winograd_block b = winograd_block_at(p, 0, 0); b.images > 0;                    \
         b = winograd_block_at(p, b.firstImage, b.firstTileRow + b.tileRows))

// MARK: Winograd F(3×3, 4×4) for the weight gradient
//
// dW[a][b] = Σ over output pixels of input[y + a][x + b]·dy[y][x] is, tile by tile, a 3×3
// "convolution" of a 6×6 input tile with a 4×4 gradient tile. It is the forward pass
// y = Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A transposed in g: dW = Gᵀ·[(A·dy·Aᵀ) ⊙ (Bᵀ·d·B)]·G, with
// F(4×4, 3×3)'s own matrices (36 products per 16 gradient pixels, against 144 direct). The
// transform back is linear, so the products are summed over all tiles first (36 GEMMs
// reducing over tiles, on the weight-gradient tile) and transformed back once.


// The per-path Winograd blocks (the template undefines the macros it takes).
#define ISA(name) name##_generic
#define TARGET
#define W_VEC v8
#define W_LOAD LOAD8
#define W_STORE STORE8
#define W_RELU RELU8
#define W_STEP 8
#define GEMM_FORWARD forward_portable
#define GEMM_GRADIENT weight_gradient_portable
#include "winograd_template.h"

#define ISA(name) name##_avx2
#define TARGET AVX2_TARGET
#define W_VEC v8
#define W_LOAD LOAD8
#define W_STORE STORE8
#define W_RELU RELU8
#define W_STEP 8
#define GEMM_FORWARD forward_avx2
#define GEMM_GRADIENT weight_gradient_avx2
#include "winograd_template.h"

#define ISA(name) name##_avx512
#define TARGET __attribute__((target("avx512f,avx2,fma")))
#define W_VEC v16
#define W_LOAD LOAD16
#define W_STORE STORE16
#define W_RELU RELU16
#define W_STEP 16
#define GEMM_FORWARD forward_avx512
#define GEMM_GRADIENT weight_gradient_avx512
#include "winograd_template.h"

#define ISA(name) name##_avx512_emulated
#define TARGET AVX2_TARGET
#define W_VEC v16
#define W_LOAD LOAD16
#define W_STORE STORE16
#define W_RELU RELU16
#define W_STEP 16
#define GEMM_FORWARD forward_avx512_emulated
#define GEMM_GRADIENT weight_gradient_avx512_emulated
#include "winograd_template.h"

void convkit_winograd_forward(const convkit_winograd_image *p, const float *transformedKernel, const float *bias,
                              float *output, int relu, float *scratch, int isa) {
    const int64_t C = p->channels, K = p->outputChannels, most = winograd_most_tiles(p->outputRows, p->outputColumns);
    float *v = scratch, *m = v + 36 * most * C, *discard = m + 36 * most * K, *zeros = discard + K;
    for (int64_t k = 0; k < (C > K ? C : K); k++) zeros[k] = 0;
    isa = convkit_usable_isa(isa);
    FOR_EACH_WINOGRAD_BLOCK(p, block) {
        switch (isa) {
        case CONVKIT_ISA_AVX512:
            winograd4_block_avx512(p, &block, transformedKernel, bias, zeros, output, relu, v, m, discard); break;
        case CONVKIT_ISA_AVX512_EMULATED:
            winograd4_block_avx512_emulated(p, &block, transformedKernel, bias, zeros, output, relu, v, m, discard); break;
        case CONVKIT_ISA_AVX2:
            winograd4_block_avx2(p, &block, transformedKernel, bias, zeros, output, relu, v, m, discard); break;
        default:
            winograd4_block_generic(p, &block, transformedKernel, bias, zeros, output, relu, v, m, discard);
        }
    }
}

void convkit_winograd_weight_gradient(const convkit_winograd_image *p, const float *outputGradient,
                                      float *transformedGradient, float *scratch, int isa) {
    const int64_t C = p->channels, K = p->outputChannels, most = winograd_most_tiles(p->outputRows, p->outputColumns);
    float *v = scratch, *u = v + 36 * most * C, *zeros = u + 36 * most * K;
    for (int64_t k = 0; k < (C > K ? C : K); k++) zeros[k] = 0;
    isa = convkit_usable_isa(isa);
    FOR_EACH_WINOGRAD_BLOCK(p, block) {
        switch (isa) {
        case CONVKIT_ISA_AVX512:
            winograd_gradient_block_avx512(p, &block, outputGradient, transformedGradient, zeros, v, u); break;
        case CONVKIT_ISA_AVX512_EMULATED:
            winograd_gradient_block_avx512_emulated(p, &block, outputGradient, transformedGradient, zeros, v, u); break;
        case CONVKIT_ISA_AVX2:
            winograd_gradient_block_avx2(p, &block, outputGradient, transformedGradient, zeros, v, u); break;
        default:
            winograd_gradient_block_generic(p, &block, outputGradient, transformedGradient, zeros, v, u);
        }
    }
}

void convkit_winograd_gradient_to_kernel(const float *transformedGradient, int64_t channels, int64_t outputChannels,
                                         float *kernelGradient) {
    const int64_t plane = channels * outputChannels;
    for (int64_t e0 = 0; e0 < plane; e0 += TRANSFORM_BLOCK) {
        const int64_t n = plane - e0 < TRANSFORM_BLOCK ? plane - e0 : TRANSFORM_BLOCK;
        const float *m = transformedGradient + e0;  // m[(row·6 + column)·plane + e]
        float t[3][6][TRANSFORM_BLOCK];
        for (int a = 0; a < 3; a++)  // t = Gᵀ·m
            for (int j = 0; j < 6; j++)
                for (int64_t e = 0; e < n; e++) {
                    float sum = 0;
                    for (int i = 0; i < 6; i++) sum += G[i][a] * m[(i * 6 + j) * plane + e];
                    t[a][j][e] = sum;
                }
        for (int a = 0; a < 3; a++)  // dW += t·G
            for (int b = 0; b < 3; b++) {
                float *d = kernelGradient + (a * 3 + b) * plane + e0;
                for (int64_t e = 0; e < n; e++) {
                    float sum = 0;
                    for (int j = 0; j < 6; j++) sum += t[a][j][e] * G[j][b];
                    d[e] += sum;
                }
            }
    }
}
