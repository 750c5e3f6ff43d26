// The fastest a seed003-dense training step can run when its matrix products are OpenBLAS's:
// the step's 11 sgemm calls alone (forward; weight gradients with the SGD update folded in,
// C += xᵀ·dz, as Dense does; input gradients but the first layer's), batch 128, split across 2
// threads the way GEMM.swift splits them (the longer side of C, one single-threaded OpenBLAS
// call per thread, the helper spinning between calls), nothing else. Compare it with
// `convkit bench --only dense_model/train` run next to it (docs/performance-notebook.md).
//
//   make bench-dense-bound                               # the OpenBLAS kernels the environment pins
//   OPENBLAS_CORETYPE=SkylakeX make bench-dense-bound    # AVX-512 kernels, as unpinned ConvKit picks
#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void openblas_set_num_threads(int);
char *openblas_get_corename(void);

typedef struct {
    int transposeA, transposeB, m, n, k;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
    float beta;
} product;

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void multiply(const product *p) {
    cblas_sgemm(CblasRowMajor, p->transposeA ? CblasTrans : CblasNoTrans, p->transposeB ? CblasTrans : CblasNoTrans,
                p->m, p->n, p->k, 1, p->a, p->lda, p->b, p->ldb, p->beta, p->c, p->ldc);
}

// A helper thread that spins between products, as ConvKit's workers do (waking a sleeping
// thread costs 50–200 µs, a third of a small product): `pending` holds the next half to run.
static _Atomic(const product *) pending;
static atomic_int helper_done;

static void *helper_loop(void *unused) {
    (void)unused;
    openblas_set_num_threads(1);
    for (;;) {
        const product *p;
        while (!(p = atomic_load_explicit(&pending, memory_order_acquire))) {}
        atomic_store_explicit(&pending, NULL, memory_order_relaxed);
        multiply(p);
        atomic_store_explicit(&helper_done, 1, memory_order_release);
    }
    return NULL;
}

// As GEMM.swift: products of 20 MFLOP or more go to two threads, split along C's longer side.
static void multiply_split(product p) {
    if (2.0 * p.m * p.n * p.k < 20e6) { multiply(&p); return; }
    product halves[2] = {p, p};
    if (p.m >= p.n) {
        int h = p.m / 2;
        halves[0].m = h; halves[1].m = p.m - h;
        halves[1].a = p.a + (p.transposeA ? h : h * p.lda); halves[1].c = p.c + h * p.ldc;
    } else {
        int h = p.n / 2;
        halves[0].n = h; halves[1].n = p.n - h;
        halves[1].b = p.b + (p.transposeB ? h * p.ldb : h); halves[1].c = p.c + h;
    }
    atomic_store_explicit(&helper_done, 0, memory_order_relaxed);
    atomic_store_explicit(&pending, &halves[1], memory_order_release);
    multiply(&halves[0]);
    while (!atomic_load_explicit(&helper_done, memory_order_acquire)) {}
}

static float *filled(long count) {
    float *x = malloc(sizeof(float) * count);
    for (long i = 0; i < count; i++) x[i] = (float)(i % 7) * 0.01f;
    return x;
}

int main(void) {
    enum { BATCH = 128, LAYERS = 4 };
    const int width[LAYERS + 1] = {784, 1000, 512, 256, 10};
    float *activation[LAYERS + 1], *kernel[LAYERS], *kernelGradient[LAYERS], *outputGradient[LAYERS], *inputGradient[LAYERS];
    openblas_set_num_threads(1);
    pthread_t helper;
    pthread_create(&helper, NULL, helper_loop, NULL);
    for (int l = 0; l <= LAYERS; l++) activation[l] = filled((long)BATCH * width[l]);
    for (int l = 0; l < LAYERS; l++) {
        kernel[l] = filled((long)width[l] * width[l + 1]);
        kernelGradient[l] = filled((long)width[l] * width[l + 1]);
        outputGradient[l] = filled((long)BATCH * width[l + 1]);
        inputGradient[l] = filled((long)BATCH * width[l]);
    }
    double fastest = 1e9;
    for (int run = 0; run < 50; run++) {
        double start = seconds();
        for (int l = 0; l < LAYERS; l++)  // y = x·W + bias (bias already in C: beta 1)
            multiply_split((product){0, 0, BATCH, width[l + 1], width[l], activation[l], kernel[l], activation[l + 1],
                                     width[l], width[l + 1], width[l + 1], 1});
        for (int l = LAYERS - 1; l >= 0; l--) {
            multiply_split((product){1, 0, width[l], width[l + 1], BATCH, activation[l], outputGradient[l], kernelGradient[l],
                                     width[l], width[l + 1], width[l + 1], 1});  // W += xᵀ·dz (the update folded in)
            if (l > 0)
                multiply_split((product){0, 1, BATCH, width[l], width[l + 1], outputGradient[l], kernel[l], inputGradient[l],
                                         width[l + 1], width[l + 1], width[l], 0});  // dx = dz·Wᵀ
        }
        double elapsed = seconds() - start;
        if (elapsed < fastest) fastest = elapsed;
    }
    printf("dense_model/train, sgemm calls only (OpenBLAS %s): %.2f ms per step of %d, %.0f img/s\n", openblas_get_corename(),
           fastest * 1e3, BATCH, BATCH / fastest);
    return 0;
}
