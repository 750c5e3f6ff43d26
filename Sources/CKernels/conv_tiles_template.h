// The register-blocked direct convolution tiles, written once for every vector instruction
// set. conv_kernels.c includes this file once per path, after defining:
//   ISA(name)          the function name with the path's suffix (forward_avx2, …)
//   TARGET             the function attribute that enables the instruction set
//   VEC, MASK          the vector type and the type of a lane mask
//   LANES              floats per vector
//   TILE_ROWS          output pixels (forward) or weight rows (gradient) per tile: 6 or 8
//   TILE_VECTORS       vectors of output channels per tile
//   ONE_VECTOR_ROWS    rows of a tile one vector wide: TILE_ROWS × TILE_VECTORS
//   DISPATCH_ROWS, DISPATCH_ONE_VECTOR_ROWS  their row switches
//   V_LOAD(p), V_LOAD_MASKED(p, m), V_STORE(p, v), V_STORE_MASKED(p, m, v),
//   V_BROADCAST(p), V_FMA(a, b, c) = a·b + c, V_ZERO(), V_RELU(v) (keeps NaN),
//   V_MASK(last)       the mask of the first `last` lanes
// Each tile keeps up to TILE_ROWS × TILE_VECTORS accumulators in registers while the taps and
// input channels stream past: an input value is broadcast and multiplied into the vectors
// of weights (forward), or a (tap, channel) input value into the output gradient (weight
// gradient). The file undefines these macros at its end, so each path defines all of them.

#define TILE static inline __attribute__((always_inline)) TARGET

// Loads vector `v` of a tile `vectors` wide; the last one is masked when `masked`.
TILE VEC ISA(load_lanes)(const float *at, int v, int vectors, int masked, MASK mask) {
    return (masked && v == vectors - 1) ? V_LOAD_MASKED(at + v * LANES, mask) : V_LOAD(at + v * LANES);
}

TILE void ISA(store_lanes)(float *at, int v, int vectors, int masked, MASK mask, VEC value) {
    if (masked && v == vectors - 1) V_STORE_MASKED(at + v * LANES, mask, value);
    else V_STORE(at + v * LANES, value);
}

// `rows` output pixels starting at `in`/`out`, `vectors` × LANES output channels starting at
// `w`/`bias`. `rows`, `vectors` and `masked` are constants at every call site, so the
// accumulators unroll into registers.
TILE void ISA(forward_tile)(const convkit_conv_rows *p, const float *in, const float *w, const float *bias, float *out,
                            int relu, int rows, int vectors, int masked, MASK mask) {
    VEC acc[TILE_ROWS * TILE_VECTORS];  // acc[r·vectors + v]
    for (int v = 0; v < vectors; v++) {
        VEC start = bias ? ISA(load_lanes)(bias, v, vectors, masked, mask) : V_ZERO();
        for (int r = 0; r < rows; r++) acc[r * vectors + v] = start;
    }
    const int64_t channels = p->channels, wstride = p->weightRowStride, pstride = p->inputPixelStride;
    for (int64_t t = 0; t < p->taps; t++) {
        const float *a = in + p->tapOffsets[t];
        const float *wt = w + t * channels * wstride;
        for (int64_t c = 0; c < channels; c++) {
            VEC wv[TILE_VECTORS];
            for (int v = 0; v < vectors; v++) wv[v] = ISA(load_lanes)(wt + c * wstride, v, vectors, masked, mask);
            for (int r = 0; r < rows; r++) {
                VEC x = V_BROADCAST(a + r * pstride + c);
                for (int v = 0; v < vectors; v++) acc[r * vectors + v] = V_FMA(x, wv[v], acc[r * vectors + v]);
            }
        }
    }
    if (relu)
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < vectors; v++) acc[r * vectors + v] = V_RELU(acc[r * vectors + v]);
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++)
            ISA(store_lanes)(out + r * p->outputPixelStride, v, vectors, masked, mask, acc[r * vectors + v]);
}

// Rows `q0..<q0 + rows` of the weight gradient (row q = tap q / channels, channel
// q % channels: with few channels a tile spans taps), `vectors` × LANES output channels from
// `j0`, summed over output rows `firstRow..<endRow`.
TILE void ISA(gradient_tile)(const convkit_conv_rows *p, const float *outputGradient, float *weightGradient,
                             int64_t firstRow, int64_t endRow, int64_t q0, int64_t j0,
                             int rows, int vectors, int masked, MASK mask) {
    VEC acc[TILE_ROWS * TILE_VECTORS];  // acc[r·vectors + v]
    int64_t offset[TILE_ROWS * TILE_VECTORS];
    float *dw = weightGradient + q0 * p->weightRowStride + j0;
    for (int r = 0; r < rows; r++) {
        int64_t q = q0 + r;
        offset[r] = p->tapOffsets[q / p->channels] + q % p->channels;
        for (int v = 0; v < vectors; v++)
            acc[r * vectors + v] = ISA(load_lanes)(dw + r * p->weightRowStride, v, vectors, masked, mask);
    }
    // The sum over output pixels, with row r's input at `a + OFFSET(r)`.
#define SUM_OVER_PIXELS(OFFSET)                                                                                       \
    for (int64_t row = firstRow; row < endRow; row++) {                                                             \
        const float *a = p->input + row * p->inputRowStride;                                                        \
        const float *g = outputGradient + row * p->outputRowStride + j0;                                             \
        for (int64_t x = 0; x < p->pixels; x++, a += p->inputPixelStride, g += p->outputPixelStride) {               \
            VEC gv[TILE_VECTORS];                                                                                   \
            for (int v = 0; v < vectors; v++) gv[v] = ISA(load_lanes)(g, v, vectors, masked, mask);                 \
            for (int r = 0; r < rows; r++) {                                                                        \
                VEC value = V_BROADCAST(a + OFFSET(r));                                                             \
                for (int v = 0; v < vectors; v++) acc[r * vectors + v] = V_FMA(value, gv[v], acc[r * vectors + v]); \
            }                                                                                                       \
        }                                                                                                           \
    }
    // Rows within one tap read consecutive channels: constant displacements from one register,
    // where a table of 16 offsets would not fit the general registers (each broadcast then
    // waited on an offset reloaded from the stack).
    if (offset[rows - 1] == offset[0] + rows - 1) {
        const int64_t first = offset[0];
#define CONSECUTIVE(r) (first + (r))
        SUM_OVER_PIXELS(CONSECUTIVE)
#undef CONSECUTIVE
    } else {
#define TABLE(r) offset[r]
        SUM_OVER_PIXELS(TABLE)
#undef TABLE
    }
#undef SUM_OVER_PIXELS
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++)
            ISA(store_lanes)(dw + r * p->weightRowStride, v, vectors, masked, mask, acc[r * vectors + v]);
}

// The column block starting at j0: how many vectors, and the mask of the last one.
TILE void ISA(column_block)(int64_t remaining, int *vectors, int *masked, MASK *mask) {
    int64_t width = remaining < TILE_VECTORS * LANES ? remaining : TILE_VECTORS * LANES;
    *vectors = (int)((width + LANES - 1) / LANES);
    int last = (int)(width - (*vectors - 1) * LANES);
    *masked = last < LANES;
    *mask = V_MASK(last);
}

static TARGET void ISA(forward)(const convkit_conv_rows *p, const float *weights, const float *bias, float *output, int relu) {
    for (int64_t j0 = 0; j0 < p->outputChannels; j0 += TILE_VECTORS * LANES) {
        int vectors, masked; MASK mask;
        ISA(column_block)(p->outputChannels - j0, &vectors, &masked, &mask);
        const int step = vectors == 1 ? ONE_VECTOR_ROWS : TILE_ROWS;
        const float *b = bias ? bias + j0 : NULL;
        for (int64_t row = 0; row < p->rows; row++) {
            for (int64_t x = 0; x < p->pixels; x += step) {
                int64_t left = p->pixels - x;
                int rows = left < step ? (int)left : step;
                const float *in = p->input + row * p->inputRowStride + x * p->inputPixelStride;
                float *out = output + row * p->outputRowStride + x * p->outputPixelStride + j0;
#define FORWARD(R, V, M) ISA(forward_tile)(p, in, weights + j0, b, out, relu, R, V, M, mask)
                DISPATCH(FORWARD, rows, vectors, masked)
#undef FORWARD
            }
        }
    }
}

static TARGET void ISA(weight_gradient)(const convkit_conv_rows *p, const float *outputGradient, float *weightGradient) {
    for (int64_t firstRow = 0; firstRow < p->rows; firstRow += GRADIENT_ROW_BLOCK) {
        int64_t endRow = firstRow + GRADIENT_ROW_BLOCK < p->rows ? firstRow + GRADIENT_ROW_BLOCK : p->rows;
        int64_t weightRows = p->taps * p->channels;
        for (int64_t j0 = 0; j0 < p->outputChannels; j0 += TILE_VECTORS * LANES) {
            int vectors, masked; MASK mask;
            ISA(column_block)(p->outputChannels - j0, &vectors, &masked, &mask);
            const int step = vectors == 1 ? ONE_VECTOR_ROWS : TILE_ROWS;
            for (int64_t q0 = 0; q0 < weightRows; q0 += step) {
                int rows = weightRows - q0 < step ? (int)(weightRows - q0) : step;
#define GRADIENT(R, V, M) ISA(gradient_tile)(p, outputGradient, weightGradient, firstRow, endRow, q0, j0, R, V, M, mask)
                DISPATCH(GRADIENT, rows, vectors, masked)
#undef GRADIENT
            }
        }
    }
}

#undef TILE
#undef ISA
#undef TARGET
#undef VEC
#undef MASK
#undef LANES
#undef TILE_ROWS
#undef TILE_VECTORS
#undef ONE_VECTOR_ROWS
#undef DISPATCH_ONE_VECTOR_ROWS
#undef DISPATCH_ROWS
#undef V_LOAD
#undef V_LOAD_MASKED
#undef V_STORE
#undef V_STORE_MASKED
#undef V_BROADCAST
#undef V_FMA
#undef V_ZERO
#undef V_RELU
#undef V_MASK
