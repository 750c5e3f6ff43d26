// Winograd's per-block work for one kernel path, included once per path by conv_kernels.c
// after defining ISA(name), TARGET, the transforms' vector type W_VEC with W_LOAD, W_STORE,
// W_RELU and its width W_STEP, and GEMM_FORWARD / GEMM_GRADIENT: the path's direct-kernel
// functions, which run the transformed domain's products (one tap: a GEMM). The file
// undefines them all at its end.
//
// Per block of tiles (a few rows of output tiles, a multiple of the forward tile's rows for
// 28- and 14-wide images): transform every input tile into the Winograd domain, multiply each
// of its points by the transformed kernel (or, for the weight gradient, by the transformed
// output gradient), and for the forward pass transform each result back. The transforms take W_STEP channels at a time through the compiler's generic vectors,
// then one at a time for the rest.

#define WINOGRAD_INLINE static inline __attribute__((always_inline)) TARGET

// V[ξ][t][c] = (Bᵀ·d·B)[ξ] for the 6×6 tiles of one block, read from the unpadded image:
// a pixel outside it reads `zeros` (C floats), so the channel loop has no branch.
WINOGRAD_INLINE void ISA(winograd4_input_transform)(const convkit_winograd_image *p, const float *zeros, int64_t firstTileRow,
                                                    int64_t tileRows, int64_t across, float *v, int64_t tiles) {
    const int64_t C = p->channels, rows = p->inputRows, columns = p->inputColumns, point = tiles * C;
    for (int64_t ty = 0; ty < tileRows; ty++) {
        for (int64_t tx = 0; tx < across; tx++) {
            int64_t y0 = 4 * (firstTileRow + ty) - p->padTop, x0 = 4 * tx - p->padLeft;
            const float *in[6][6];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++)
                    in[i][j] = y0 + i >= 0 && y0 + i < rows && x0 + j >= 0 && x0 + j < columns
                        ? p->input + ((y0 + i) * columns + x0 + j) * C : zeros;
            float *out = v + (ty * across + tx) * C;
            int64_t c = 0;
            INPUT_TRANSFORM6(W_VEC, W_LOAD, W_STORE, W_STEP)
            INPUT_TRANSFORM6(float, LOAD1, STORE1, 1)
        }
    }
}

// Y = Aᵀ·m·A for each tile, plus bias and ReLU. Outputs past the edge of the image go to
// `discard` (K floats), so the channel loop has no branch.
WINOGRAD_INLINE void ISA(winograd4_output_transform)(const convkit_winograd_image *p, const float *m, int64_t tiles,
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
            OUTPUT_TRANSFORM6(W_VEC, W_LOAD, W_STORE, W_STEP, W_RELU)
            OUTPUT_TRANSFORM6(float, LOAD1, STORE1, 1, RELU1)
        }
    }
}

// One block of tile rows: transform in, 36 GEMMs, transform out.
static TARGET void ISA(winograd4_block)(const convkit_winograd_image *p, const float *transformedKernel, const float *bias,
                                        const float *zeros, float *output, int relu, float *v, float *m, float *discard,
                                        int64_t firstTileRow, int64_t tileRows, int64_t across) {
    const int64_t C = p->channels, K = p->outputChannels, tiles = tileRows * across;
    int64_t tap = 0;
    ISA(winograd4_input_transform)(p, zeros, firstTileRow, tileRows, across, v, tiles);
    for (int point = 0; point < 36; point++) {
        // m_ξ [tiles × K] = V_ξ [tiles × C] · U_ξ [C × K]: the forward tile with one tap.
        convkit_conv_rows gemm = {
            .input = v + point * tiles * C, .rows = 1, .pixels = tiles,
            .inputRowStride = 0, .inputPixelStride = C, .tapOffsets = &tap, .taps = 1, .channels = C,
            .weightRowStride = K, .outputRowStride = 0, .outputPixelStride = K, .outputChannels = K,
        };
        GEMM_FORWARD(&gemm, transformedKernel + point * C * K, NULL, m + point * tiles * K, 0);
    }
    ISA(winograd4_output_transform)(p, m, tiles, firstTileRow, tileRows, across, bias, zeros, relu, output, discard);
}

// U[ξ][t][k] = (A·dy·Aᵀ)[ξ] for the 4×4 gradient tiles of one block (zeros past the edges).
WINOGRAD_INLINE void ISA(winograd4_gradient_transform)(const convkit_winograd_image *p, const float *dy, const float *zeros,
                                                       int64_t firstTileRow, int64_t tileRows, int64_t across, float *u, int64_t tiles) {
    const int64_t K = p->outputChannels, point = tiles * K;
    for (int64_t ty = 0; ty < tileRows; ty++) {
        for (int64_t tx = 0; tx < across; tx++) {
            int64_t y0 = 4 * (firstTileRow + ty), x0 = 4 * tx;
            const float *in[4][4];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    in[i][j] = y0 + i < p->outputRows && x0 + j < p->outputColumns
                        ? dy + (y0 + i) * p->outputRowStride + (x0 + j) * p->outputPixelStride : zeros;
            float *out = u + (ty * across + tx) * K;
            int64_t k = 0;
            GRADIENT_TRANSFORM6(W_VEC, W_LOAD, W_STORE, W_STEP)
            GRADIENT_TRANSFORM6(float, LOAD1, STORE1, 1)
        }
    }
}

// One block of tile rows of the weight gradient: both transforms in, then 36 GEMMs summing
// over the block's tiles into the transformed gradient `m`.
static TARGET void ISA(winograd_gradient_block)(const convkit_winograd_image *p, const float *dy, float *m, const float *zeros,
                                                float *v, float *u, int64_t firstTileRow, int64_t tileRows, int64_t across) {
    const int64_t C = p->channels, K = p->outputChannels, tiles = tileRows * across;
    int64_t tap = 0;
    ISA(winograd4_input_transform)(p, zeros, firstTileRow, tileRows, across, v, tiles);
    ISA(winograd4_gradient_transform)(p, dy, zeros, firstTileRow, tileRows, across, u, tiles);
    for (int point = 0; point < 36; point++) {
        // m_ξ [C × K] += V_ξᵀ [C × tiles] · U_ξ [tiles × K]: the weight-gradient tile, one tap.
        convkit_conv_rows gemm = {
            .input = v + point * tiles * C, .rows = 1, .pixels = tiles,
            .inputRowStride = 0, .inputPixelStride = C, .tapOffsets = &tap, .taps = 1, .channels = C,
            .weightRowStride = K, .outputRowStride = 0, .outputPixelStride = K, .outputChannels = K,
        };
        GEMM_GRADIENT(&gemm, u + point * tiles * K, m + point * C * K);
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
