// Winograd's per-block work for one kernel path, included once per path by conv_kernels.c
// after defining ISA(name), TARGET, the transforms' vector type W_VEC with W_LOAD, W_STORE,
// W_RELU and its width W_STEP, and GEMM_FORWARD / GEMM_GRADIENT: the path's direct-kernel
// functions, which run the transformed domain's products (one tap: a GEMM). The file
// undefines them all at its end.
//
// Per block of tiles (a few rows of output tiles of one image, or several whole small
// images): transform every input tile into the Winograd domain, multiply each of its points
// by the transformed kernel (or, for the weight gradient, by the transformed output
// gradient), and for the forward pass transform each result back. The transforms take W_STEP
// channels at a time through the compiler's generic vectors, then one at a time for the rest.
//
// The transformed tiles lie tile by tile, [tile][point ξ][channel]: one tile's transform
// writes (or reads) its 36 points as one contiguous run, and each point's GEMM steps over the
// tiles 36 points apart. Laid out point by point instead, a tile's 36 stores went to 36
// places a block apart, each a cache line not yet in L1, and the stores, not the arithmetic,
// set the transforms' speed (docs/performance-notebook.md has the measurements).

#define WINOGRAD_INLINE static inline __attribute__((always_inline)) TARGET

// V[t][ξ][c] = (Bᵀ·d·B)[ξ] for the 6×6 tiles of one block, read from the unpadded images:
// a pixel outside an image reads `zeros` (C floats), so the channel loop has no branch.
WINOGRAD_INLINE void ISA(winograd4_input_transform)(const convkit_winograd_image *p, const winograd_block *b,
                                                    const float *zeros, float *v) {
    const int64_t C = p->channels, rows = p->inputRows, columns = p->inputColumns, point = C;  // between a tile's points
    for (int64_t image = 0; image < b->images; image++) {
        const float *first = p->input + (b->firstImage + image) * rows * columns * C;
        for (int64_t ty = 0; ty < b->tileRows; ty++) {
            for (int64_t tx = 0; tx < b->across; tx++) {
                int64_t y0 = 4 * (b->firstTileRow + ty) - p->padTop, x0 = 4 * tx - p->padLeft;
                const float *in[6][6];
                for (int i = 0; i < 6; i++)
                    for (int j = 0; j < 6; j++)
                        in[i][j] = y0 + i >= 0 && y0 + i < rows && x0 + j >= 0 && x0 + j < columns
                            ? first + ((y0 + i) * columns + x0 + j) * C : zeros;
                float *out = v + ((image * b->tileRows + ty) * b->across + tx) * 36 * C;
                int64_t c = 0;
                INPUT_TRANSFORM6(W_VEC, W_LOAD, W_STORE, W_STEP)
                INPUT_TRANSFORM6(float, LOAD1, STORE1, 1)
            }
        }
    }
}

// Y = Aᵀ·m·A for each tile, plus bias and ReLU. Outputs past the edge of an image go to
// `discard` (K floats), so the channel loop has no branch.
WINOGRAD_INLINE void ISA(winograd4_output_transform)(const convkit_winograd_image *p, const winograd_block *block, const float *m,
                                                     const float *bias, const float *zeros, int relu, float *output,
                                                     float *discard) {
    const int64_t K = p->outputChannels, point = K;  // between a tile's points
    const float *b = bias ? bias : zeros;  // OUTPUT_TRANSFORM6 reads `b`
    for (int64_t image = 0; image < block->images; image++) {
        float *first = output + (block->firstImage + image) * p->outputRows * p->outputRowStride;
        for (int64_t ty = 0; ty < block->tileRows; ty++) {
            for (int64_t tx = 0; tx < block->across; tx++) {
                const float *in = m + ((image * block->tileRows + ty) * block->across + tx) * 36 * K;
                int64_t y0 = 4 * (block->firstTileRow + ty), x0 = 4 * tx;
                float *out[4][4];
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++)
                        out[i][j] = y0 + i < p->outputRows && x0 + j < p->outputColumns
                            ? first + (y0 + i) * p->outputRowStride + (x0 + j) * p->outputPixelStride : discard;
                int64_t k = 0;
                OUTPUT_TRANSFORM6(W_VEC, W_LOAD, W_STORE, W_STEP, W_RELU)
                OUTPUT_TRANSFORM6(float, LOAD1, STORE1, 1, RELU1)
            }
        }
    }
}

// One block of tiles: transform in, 36 GEMMs, transform out.
static TARGET void ISA(winograd4_block)(const convkit_winograd_image *p, const winograd_block *b, const float *transformedKernel,
                                        const float *bias, const float *zeros, float *output, int relu, float *v, float *m,
                                        float *discard) {
    const int64_t C = p->channels, K = p->outputChannels, tiles = winograd_block_tiles(b);
    int64_t tap = 0;
    ISA(winograd4_input_transform)(p, b, zeros, v);
    for (int point = 0; point < 36; point++) {
        // m_ξ [tiles × K] = V_ξ [tiles × C] · U_ξ [C × K]: the forward tile with one tap.
        convkit_conv_rows gemm = {
            .input = v + point * C, .rows = 1, .pixels = tiles,
            .inputRowStride = 0, .inputPixelStride = 36 * C, .tapOffsets = &tap, .taps = 1, .channels = C,
            .weightRowStride = K, .outputRowStride = 0, .outputPixelStride = 36 * K, .outputChannels = K,
        };
        GEMM_FORWARD(&gemm, transformedKernel + point * C * K, NULL, m + point * K, 0);
    }
    ISA(winograd4_output_transform)(p, b, m, bias, zeros, relu, output, discard);
}

// U[t][ξ][k] = (A·dy·Aᵀ)[ξ] for the 4×4 gradient tiles of one block (zeros past the edges).
WINOGRAD_INLINE void ISA(winograd4_gradient_transform)(const convkit_winograd_image *p, const winograd_block *b, const float *dy,
                                                       const float *zeros, float *u) {
    const int64_t K = p->outputChannels, point = K;  // between a tile's points
    for (int64_t image = 0; image < b->images; image++) {
        const float *first = dy + (b->firstImage + image) * p->outputRows * p->outputRowStride;
        for (int64_t ty = 0; ty < b->tileRows; ty++) {
            for (int64_t tx = 0; tx < b->across; tx++) {
                int64_t y0 = 4 * (b->firstTileRow + ty), x0 = 4 * tx;
                const float *in[4][4];
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++)
                        in[i][j] = y0 + i < p->outputRows && x0 + j < p->outputColumns
                            ? first + (y0 + i) * p->outputRowStride + (x0 + j) * p->outputPixelStride : zeros;
                float *out = u + ((image * b->tileRows + ty) * b->across + tx) * 36 * K;
                int64_t k = 0;
                GRADIENT_TRANSFORM6(W_VEC, W_LOAD, W_STORE, W_STEP)
                GRADIENT_TRANSFORM6(float, LOAD1, STORE1, 1)
            }
        }
    }
}

// One block of tiles of the weight gradient: both transforms in, then 36 GEMMs summing over
// the block's tiles into the transformed gradient `m`.
static TARGET void ISA(winograd_gradient_block)(const convkit_winograd_image *p, const winograd_block *b, const float *dy, float *m,
                                                const float *zeros, float *v, float *u) {
    const int64_t C = p->channels, K = p->outputChannels, tiles = winograd_block_tiles(b);
    int64_t tap = 0;
    ISA(winograd4_input_transform)(p, b, zeros, v);
    ISA(winograd4_gradient_transform)(p, b, dy, zeros, u);
    for (int point = 0; point < 36; point++) {
        // m_ξ [C × K] += V_ξᵀ [C × tiles] · U_ξ [tiles × K]: the weight-gradient tile, one tap.
        convkit_conv_rows gemm = {
            .input = v + point * C, .rows = 1, .pixels = tiles,
            .inputRowStride = 0, .inputPixelStride = 36 * C, .tapOffsets = &tap, .taps = 1, .channels = C,
            .weightRowStride = K, .outputRowStride = 0, .outputPixelStride = 36 * K, .outputChannels = K,
        };
        GEMM_GRADIENT(&gemm, u + point * K, m + point * C * K);
    }
}

#undef WINOGRAD_INLINE
#undef ISA
#undef TARGET
#undef W_VEC
#undef W_LOAD
#undef W_STORE
#undef W_RELU
#undef W_STEP
#undef GEMM_FORWARD
#undef GEMM_GRADIENT
