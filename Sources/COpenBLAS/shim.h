#include <cblas.h>
#include <stddef.h>

// LAPACK's symmetric eigensolver, which libopenblas exports (Debian ships no LAPACKE header for
// it). Fortran ABI: every argument by pointer, then the hidden lengths of the two strings.
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info, size_t jobz_length, size_t uplo_length);
