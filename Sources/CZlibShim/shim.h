#include <zlib.h>

// inflateInit2 is a macro and does not import into Swift. 32 + MAX_WBITS accepts gzip and zlib.
static inline int convkit_inflate_init(z_stream *stream) {
    return inflateInit2(stream, 32 + MAX_WBITS);
}
