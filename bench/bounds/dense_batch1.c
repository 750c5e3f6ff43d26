// seed003-dense's forward products at batch 1 (one row of C), on one thread: OpenBLAS's sgemm
// against its sgemv, the call GEMM.swift makes for them. Run with and without
// OPENBLAS_CORETYPE=Haswell (the kernels chosen differ).
//
//   make bench-dense-bound
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void openblas_set_num_threads(int);
char *openblas_get_corename(void);

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    openblas_set_num_threads(1);
    printf("seed003-dense at batch 1, OpenBLAS %s kernels:\n", openblas_get_corename());
    const int layers[][2] = {{784, 1000}, {1000, 512}, {512, 256}, {256, 10}};  // inputs, units
    const int runs = 2000;
    double total[2] = {0, 0};
    for (int l = 0; l < 4; l++) {
        int k = layers[l][0], n = layers[l][1];
        float *x = malloc(k * sizeof(float)), *w = malloc((size_t)k * n * sizeof(float)), *y = malloc(n * sizeof(float));
        for (int i = 0; i < k; i++) x[i] = (float)(i % 7) * 0.1f;
        for (long i = 0; i < (long)k * n; i++) w[i] = (float)(i % 5) * 0.01f;
        double start = seconds();
        for (int r = 0; r < runs; r++) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, n, k, 1, x, k, w, n, 0, y, n);
        double gemm = (seconds() - start) / runs;
        start = seconds();
        for (int r = 0; r < runs; r++) cblas_sgemv(CblasRowMajor, CblasTrans, k, n, 1, w, n, x, 1, 0, y, 1);
        double gemv = (seconds() - start) / runs;
        total[0] += gemm; total[1] += gemv;
        printf("%4d → %-4d sgemm %7.1f µs   sgemv %7.1f µs   %.2f×\n", k, n, gemm * 1e6, gemv * 1e6, gemm / gemv);
        free(x); free(w); free(y);
    }
    printf("forward    sgemm %7.1f µs   sgemv %7.1f µs   %.2f×\n", total[0] * 1e6, total[1] * 1e6, total[0] / total[1]);
    return 0;
}
