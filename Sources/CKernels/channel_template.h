// The channel loops for one kernel path, included once per path by channel_kernels.c after
// defining ISA(name), TARGET, the vector type VEC with LOAD, STORE, RELU and PASS_POSITIVE, its
// width STEP, DOUBLES and IVEC, the vectors of STEP doubles and of STEP 32-bit integers.
// Each loop takes STEP channels (or values) at a time, then eight (AVX-512 on channel counts
// such as 24), then one at a time. The file undefines those macros at its end.

// `gated`, `normalizes`, `adds` and `relu` are constants at each call site, so each loop comes out once
// per combination, without a branch inside.
#define TEMPLATE_INLINE static inline __attribute__((always_inline)) TARGET

// The sums over rows start..<end, `a` taken as 0 where the gate is not > 0, and `b`
// normalised, (b − shift)·scale, when `normalizes`. `gated`: 0 none, 1 the values at `gate`,
// 2 the BatchNorm output computed from the normalised b, b̂·gateGain + gateBias, as
// `normalize` computes it (so a ReLU's output need not be read back).
TEMPLATE_INLINE void ISA(sums_block)(const float *a, const float *b, const float *shift, const float *scale, int normalizes,
                                     const float *gate, int gated, const float *gateGain, const float *gateBias,
                                     int64_t start, int64_t end, int64_t c, double *sum, double *products) {
    int64_t j = 0;
#define SUMS(T, D, L, P, W)                                                                    \
    for (; j + W <= c; j += W) {                                                               \
        T s = {0}, q = {0}, m = {0}, k = {0}, gg = {0}, gb = {0};                              \
        if (normalizes) { m = L(shift + j); k = L(scale + j); }                                \
        if (gated == 2) { gg = L(gateGain + j); gb = L(gateBias + j); }                        \
        for (int64_t r = start; r < end; r++) {                                                \
            T v = L(a + r * c + j), w = L(b + r * c + j);                                      \
            if (gated == 1) v = P(L(gate + r * c + j), v);                                     \
            if (normalizes) w = (w - m) * k;                                                   \
            if (gated == 2) v = P(w * gg + gb, v);                                             \
            s += v;                                                                            \
            q += v * w;                                                                        \
        }                                                                                      \
        *(D *)(sum + j) += TO_DOUBLES(s, D);                                                   \
        *(D *)(products + j) += TO_DOUBLES(q, D);                                              \
    }
#define TO_DOUBLES(v, D) __builtin_convertvector(v, D)
    SUMS(VEC, DOUBLES, LOAD, PASS_POSITIVE, STEP)
    SUMS(v8, d8, LOAD8, PASS8, 8)
#undef TO_DOUBLES
#define TO_DOUBLES(v, D) (double)(v)
    SUMS(float, double, LOAD1, PASS1, 1)
#undef TO_DOUBLES
#undef SUMS
}

static TARGET void ISA(sums)(const float *a, const float *b, const float *shift, const float *scale, const float *gate,
                             const float *gateGain, const float *gateBias, int64_t rows, int64_t c, double *sum,
                             double *products) {
    for (int64_t start = 0; start < rows; start += SUM_BLOCK) {
        int64_t end = start + SUM_BLOCK < rows ? start + SUM_BLOCK : rows;
        if (gateGain && shift) ISA(sums_block)(a, b, shift, scale, 1, gate, 2, gateGain, gateBias, start, end, c, sum, products);
        else if (gate && shift) ISA(sums_block)(a, b, shift, scale, 1, gate, 1, gateGain, gateBias, start, end, c, sum, products);
        else if (gate) ISA(sums_block)(a, b, shift, scale, 0, gate, 1, gateGain, gateBias, start, end, c, sum, products);
        else if (shift) ISA(sums_block)(a, b, shift, scale, 1, gate, 0, gateGain, gateBias, start, end, c, sum, products);
        else ISA(sums_block)(a, b, shift, scale, 0, gate, 0, gateGain, gateBias, start, end, c, sum, products);
    }
}

TEMPLATE_INLINE void ISA(normalize_rows)(const float *x, float *y, const float *shift, const float *scale, const float *gain,
                                         const float *bias, const float *residual, int adds, int64_t rows, int64_t c, int relu) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c, *a = adds ? residual + r * c : 0;
        float *o = y + r * c;
        int64_t j = 0;
#define NORMALIZE(T, L, S, R, W)                                                               \
        for (; j + W <= c; j += W) {                                                           \
            T out = (L(xr + j) - L(shift + j)) * L(scale + j) * L(gain + j) + L(bias + j);     \
            if (adds) out += L(a + j);                                                         \
            S(o + j, relu ? R(out) : out);                                                     \
        }
        NORMALIZE(VEC, LOAD, STORE, RELU, STEP)
        NORMALIZE(v8, LOAD8, STORE8, RELU8, 8)
        NORMALIZE(float, LOAD1, STORE1, RELU1, 1)
#undef NORMALIZE
    }
}

static TARGET void ISA(normalize)(const float *x, float *y, const float *shift, const float *scale, const float *gain,
                                  const float *bias, const float *residual, int64_t rows, int64_t c, int relu) {
    if (residual && relu) ISA(normalize_rows)(x, y, shift, scale, gain, bias, residual, 1, rows, c, 1);
    else if (residual) ISA(normalize_rows)(x, y, shift, scale, gain, bias, residual, 1, rows, c, 0);
    else if (relu) ISA(normalize_rows)(x, y, shift, scale, gain, bias, residual, 0, rows, c, 1);
    else ISA(normalize_rows)(x, y, shift, scale, gain, bias, residual, 0, rows, c, 0);
}

TEMPLATE_INLINE void ISA(gradient_rows)(const float *dy, float *dx, const float *x, const float *shift, const float *inverseStd,
                                        const float *gate, int gated, const float *gateGain, const float *gateBias,
                                        const float *scale, const float *meanDy, const float *meanDyNormalized, int64_t rows,
                                        int64_t c) {
    for (int64_t r = 0; r < rows; r++) {
        const float *d = dy + r * c, *h = x + r * c, *g = gated == 1 ? gate + r * c : 0;
        float *o = dx + r * c;
        int64_t j = 0;
#define GRADIENT(T, L, S, P, W)                                                                \
        for (; j + W <= c; j += W) {                                                           \
            T v = L(d + j), normalized = (L(h + j) - L(shift + j)) * L(inverseStd + j);        \
            if (gated == 1) v = P(L(g + j), v);                                                \
            if (gated == 2) v = P(normalized * L(gateGain + j) + L(gateBias + j), v);          \
            S(o + j, L(scale + j) * (v - L(meanDy + j) - normalized * L(meanDyNormalized + j))); \
        }
        GRADIENT(VEC, LOAD, STORE, PASS_POSITIVE, STEP)
        GRADIENT(v8, LOAD8, STORE8, PASS8, 8)
        GRADIENT(float, LOAD1, STORE1, PASS1, 1)
#undef GRADIENT
    }
}

static TARGET void ISA(normalization_gradient)(const float *dy, float *dx, const float *x, const float *shift,
                                               const float *inverseStd, const float *gate, const float *gateGain,
                                               const float *gateBias, const float *scale, const float *meanDy,
                                               const float *meanDyNormalized, int64_t rows, int64_t c) {
    if (gateGain) ISA(gradient_rows)(dy, dx, x, shift, inverseStd, gate, 2, gateGain, gateBias, scale, meanDy, meanDyNormalized, rows, c);
    else if (gate) ISA(gradient_rows)(dy, dx, x, shift, inverseStd, gate, 1, gateGain, gateBias, scale, meanDy, meanDyNormalized, rows, c);
    else ISA(gradient_rows)(dy, dx, x, shift, inverseStd, gate, 0, gateGain, gateBias, scale, meanDy, meanDyNormalized, rows, c);
}

static TARGET void ISA(relu)(const float *x, float *y, int64_t count) {
    int64_t i = 0;
    for (; i + STEP <= count; i += STEP) STORE(y + i, RELU(LOAD(x + i)));
    for (; i < count; i++) y[i] = RELU1(x[i]);
}

// 1 when none of the `count` values is NaN or infinite: x − x is 0 for a finite x and NaN
// otherwise, and a NaN stays NaN through the sums. Four vectors a step, so the adds do not
// wait on one another.
static TARGET int ISA(all_finite)(const float *x, int64_t count) {
    VEC sum = {0};
    int64_t i = 0;
    for (; i + 4 * STEP <= count; i += 4 * STEP) {
        VEC a = LOAD(x + i), b = LOAD(x + i + STEP), c = LOAD(x + i + 2 * STEP), d = LOAD(x + i + 3 * STEP);
        sum += ((a - a) + (b - b)) + ((c - c) + (d - d));
    }
    float rest = 0;
    for (; i < count; i++) rest += x[i] - x[i];
    for (int lane = 0; lane < STEP; lane++) rest += sum[lane];
    return rest == 0;
}

static TARGET void ISA(relu_gradient)(const float *x, const float *dy, float *dx, int64_t count) {
    int64_t i = 0;
    for (; i + STEP <= count; i += STEP) {
        VEC v = LOAD(x + i), g = LOAD(dy + i);
        STORE(dx + i, PASS_POSITIVE(v, g));
    }
    for (; i < count; i++) dx[i] = PASS1(x[i], dy[i]);
}

static TARGET void ISA(add)(const float *a, const float *b, float *sum, int64_t count) {
    int64_t i = 0;
    for (; i + STEP <= count; i += STEP) STORE(sum + i, LOAD(a + i) + LOAD(b + i));
    for (; i < count; i++) sum[i] = a[i] + b[i];
}

// Max pooling over `images` images: for each (output pixel, input pixel) pair of `taps`,
// y[o] = max(y[o], x[i]) per channel, a NaN winning (y starts at −∞).
static TARGET void ISA(max_pool)(const float *x, float *y, int64_t images, int64_t inputPixels, int64_t outputPixels,
                                 int64_t c, const int64_t *taps, int64_t tapCount) {
    for (int64_t n = 0; n < images; n++) {
        const float *xn = x + n * inputPixels * c;
        float *yn = y + n * outputPixels * c;
        for (int64_t t = 0; t < tapCount; t++) {
            const float *in = xn + taps[2 * t + 1] * c;
            float *out = yn + taps[2 * t] * c;
            int64_t j = 0;
#define MAX_TAP(T, I, L, S, W)                                                                 \
            for (; j + W <= c; j += W) {                                                       \
                T v = L(in + j), best = L(out + j);                                            \
                S(out + j, SELECT(I, (v > best) | (v != v), v, best));                         \
            }
            MAX_TAP(VEC, IVEC, LOAD, STORE, STEP)
            MAX_TAP(v8, vi8, LOAD8, STORE8, 8)
#undef MAX_TAP
            for (; j < c; j++) { float v = in[j], best = out[j]; out[j] = v > best || v != v ? v : best; }
        }
    }
}

// Routes each output gradient to the first cell of its window equal to the window's maximum
// (dx starts at 0). `routed` (c floats) marks the channels whose gradient the current window
// has given; the taps of one window are consecutive.
static TARGET void ISA(max_pool_gradient)(const float *dy, const float *x, const float *y, float *dx, float *routed,
                                          int64_t images, int64_t inputPixels, int64_t outputPixels, int64_t c,
                                          const int64_t *taps, int64_t tapCount) {
    for (int64_t n = 0; n < images; n++) {
        const float *xn = x + n * inputPixels * c, *yn = y + n * outputPixels * c, *gn = dy + n * outputPixels * c;
        float *dn = dx + n * inputPixels * c;
        // Zeroed image by image, just before the routing adds to it: the lines are in cache
        // when the taps read them back (a zero fill of the whole batch first went to memory).
        for (int64_t i = 0; i < inputPixels * c; i++) dn[i] = 0;
        int64_t window = -1;
        for (int64_t t = 0; t < tapCount; t++) {
            int64_t o = taps[2 * t], i = taps[2 * t + 1];
            if (o != window) { window = o; for (int64_t j = 0; j < c; j++) routed[j] = 0; }
            const float *in = xn + i * c, *best = yn + o * c, *g = gn + o * c;
            float *d = dn + i * c;
            int64_t j = 0;
#define ROUTE(T, I, L, S, W)                                                                   \
            for (; j + W <= c; j += W) {                                                       \
                T done = L(routed + j);                                                        \
                I hit = (L(in + j) == L(best + j)) & (done == 0);                              \
                S(d + j, L(d + j) + (T)((I)L(g + j) & hit));                                   \
                S(routed + j, SELECT(I, hit, done + 1, done));                                 \
            }
            ROUTE(VEC, IVEC, LOAD, STORE, STEP)
            ROUTE(v8, vi8, LOAD8, STORE8, 8)
#undef ROUTE
            for (; j < c; j++)
                if (routed[j] == 0 && in[j] == best[j]) { d[j] += g[j]; routed[j] = 1; }
        }
    }
}

// Over `images` images and the taps (o, a, b) (three pixel indices each): out[o] += x[a]·w[b]
// per channel (a depthwise convolution's passes). Each operand's images lie `*Image` values
// apart (0: one array for all, as a kernel); its rows `stride` values apart, `c` used.
static TARGET void ISA(tap_products)(const float *x, int64_t xImage, const float *w, int64_t wImage, float *out, int64_t outImage,
                                     const int64_t *taps, int64_t tapCount, int64_t images, int64_t c, int64_t stride) {
    for (int64_t n = 0; n < images; n++) {
        const float *xn = x + n * xImage, *wn = w + n * wImage;
        float *on = out + n * outImage;
        for (int64_t t = 0; t < tapCount; t++) {
            const float *xi = xn + taps[3 * t + 1] * stride, *wi = wn + taps[3 * t + 2] * stride;
            float *o = on + taps[3 * t] * stride;
            int64_t j = 0;
#define TAP_PRODUCT(T, L, S, W) for (; j + W <= c; j += W) S(o + j, L(o + j) + L(xi + j) * L(wi + j));
            TAP_PRODUCT(VEC, LOAD, STORE, STEP)
            TAP_PRODUCT(v8, LOAD8, STORE8, 8)
            TAP_PRODUCT(float, LOAD1, STORE1, 1)
#undef TAP_PRODUCT
        }
    }
}

// Over `images` images and the taps (o, a): out[o] += x[a]·scale[t] per channel (average
// pooling's passes, the scale one over the window's real cells).
static TARGET void ISA(tap_scaled_sums)(const float *x, int64_t xImage, const float *scale, float *out, int64_t outImage,
                                        const int64_t *taps, int64_t tapCount, int64_t images, int64_t c) {
    for (int64_t n = 0; n < images; n++) {
        const float *xn = x + n * xImage;
        float *on = out + n * outImage;
        for (int64_t t = 0; t < tapCount; t++) {
            const float *xi = xn + taps[2 * t + 1] * c;
            float *o = on + taps[2 * t] * c;
            float k = scale[t];
            int64_t j = 0;
#define TAP_SUM(T, L, S, W) for (; j + W <= c; j += W) S(o + j, L(o + j) + L(xi + j) * k);
            TAP_SUM(VEC, LOAD, STORE, STEP)
            TAP_SUM(v8, LOAD8, STORE8, 8)
            TAP_SUM(float, LOAD1, STORE1, 1)
#undef TAP_SUM
        }
    }
}

// SGD over `n` weights, Keras' rule: w ← keep·w; g' = g + decay·w; without momentum
// w ← w − lr·g'; with it v ← μ·v − lr·g', then w ← w + μ·v − lr·g' (Nesterov) or w ← w + v.
static TARGET void ISA(sgd)(float *w, const float *g, float *v, int64_t n, float lr, float keep, float decay, float mu,
                            int nesterov) {
    int64_t i = 0;
#define SGD(T, L, S, W)                                                                        \
    for (; i + W <= n; i += W) {                                                               \
        T wi = L(w + i) * keep;                                                                \
        T gi = L(g + i) + decay * wi;                                                          \
        if (mu == 0) { S(w + i, wi - lr * gi); continue; }                                     \
        T vi = mu * L(v + i) - lr * gi;                                                        \
        S(v + i, vi);                                                                          \
        S(w + i, wi + (nesterov ? mu * vi - lr * gi : vi));                                    \
    }
    SGD(VEC, LOAD, STORE, STEP)
    SGD(v8, LOAD8, STORE8, 8)
    SGD(float, LOAD1, STORE1, 1)
#undef SGD
}

// Adam over `n` weights: w ← keep·w; g' = g + decay·w; m ← m + (g' − m)(1 − β1);
// v ← v + (g'² − v)(1 − β2); w ← w − stepSize·m / (√v + ε).
static TARGET void ISA(adam)(float *w, const float *g, float *m, float *v, int64_t n, float stepSize, float keep, float decay,
                             float beta1, float beta2, float epsilon) {
    int64_t i = 0;
#define ADAM(T, L, S, W, SQRT)                                                                 \
    for (; i + W <= n; i += W) {                                                               \
        T wi = L(w + i) * keep;                                                                \
        T gi = L(g + i) + decay * wi;                                                          \
        T mi = L(m + i), vi = L(v + i);                                                        \
        mi += (gi - mi) * (1 - beta1);                                                         \
        vi += (gi * gi - vi) * (1 - beta2);                                                    \
        S(m + i, mi);                                                                          \
        S(v + i, vi);                                                                          \
        S(w + i, wi - stepSize * mi / (SQRT(vi) + epsilon));                                   \
    }
    ADAM(VEC, LOAD, STORE, STEP, __builtin_elementwise_sqrt)
    ADAM(v8, LOAD8, STORE8, 8, __builtin_elementwise_sqrt)
    ADAM(float, LOAD1, STORE1, 1, __builtin_sqrtf)
#undef ADAM
}

#undef TEMPLATE_INLINE
#undef ISA
#undef TARGET
#undef VEC
#undef LOAD
#undef STORE
#undef RELU
#undef PASS_POSITIVE
#undef STEP
#undef DOUBLES
#undef IVEC
