/* Matrix products in bfloat16 on the AMX tile units of recent x86 CPUs, with
 * float32 accumulation: the training's option (`--matmul bf16`), never the
 * default of a prediction.
 *
 * Why: a training step of the reference network is ~60 % matrix products,
 * which OpenBLAS runs at 0.1-0.2 TFLOP/s per core in float32; one core's tile
 * unit does ~2 TFLOP/s in bfloat16. What costs is moving the operands into the
 * layouts the tiles read, so each product converts (round to nearest even)
 * and packs its operands once per call into per-thread scratch:
 *   A tile: 16 rows x 32 bfloat16 of op(A), the inner dimension contiguous;
 *   B tile: 16 pairs of inner indices x 16 columns x 2 ("VNNI": the two
 *           bfloat16 of one column and two consecutive inner indices side by
 *           side, read as one 32-bit word).
 * Sizes are padded with zeros to multiples of 32. When M and N are multiples
 * of 32 (the network's products at 128 or 256 rows per thread) the tiles
 * read and write C in place; otherwise the product goes into a float32
 * scratch block that is then added to C. The inner sums are float32; only
 * the operands are rounded (relative error at most 2^-8 each).
 *
 * The tile registers need the kernel's permission (arch_prctl, once per
 * process) and a configuration, loaded at the start of every product and
 * released at its end: another library on the same thread may use the
 * tiles between two calls, and released tiles cost nothing at a context
 * switch. */
#define _GNU_SOURCE
#include "kernels_cpu.h"

#include <string.h>

#if defined(__x86_64__) && defined(__linux__) &&                                                       \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && __GNUC__ >= 12))
#define EISNET_AMX_BUILD 1
#endif

#ifdef EISNET_AMX_BUILD
#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512bf16")))

/* Below these sizes padding to 32 and the packing cost more than they save. */
#define AMX_MIN_DIM 32

static int g_amx_ok;
static pthread_once_t g_amx_once = PTHREAD_ONCE_INIT;

static void amx_probe(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    const int tile = (d >> 24) & 1, bf16 = (d >> 22) & 1, avx512bw = (b >> 30) & 1;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return;
    const int avx512_bf16 = (a >> 5) & 1;
    if (!tile || !bf16 || !avx512bw || !avx512_bf16) return;
    /* the packing's AVX-512 registers: enabled by the OS too (xgetbv) */
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw")) return;
    /* the kernel grants the tile data state per process, or refuses */
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return;
    unsigned long perm = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) != 0) return;
    g_amx_ok = (perm >> XFEATURE_XTILEDATA) & 1;
}

int eisnet_cpu_amx_available(void)
{
    pthread_once(&g_amx_once, amx_probe);
    return g_amx_ok;
}

/* Palette 1, all eight tiles 16 rows x 64 bytes. Static so the compiler
 * cannot drop the stores before ldtilecfg (it does not see that the
 * instruction reads them). */
static const struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} g_tile_config = {1, 0, {0}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

AMX_TARGET static void tiles_configure(void) { _tile_loadconfig(&g_tile_config); }
AMX_TARGET static void tiles_release(void) { _tile_release(); }

static inline int round32(int x) { return (x + 31) & ~31; }

/* lanes n .. n+15 that are below N */
static inline __mmask16 lanes_below(int n, int N)
{
    const int k = N - n;
    return k >= 16 ? (__mmask16)0xFFFF : k <= 0 ? (__mmask16)0 : (__mmask16)((1u << k) - 1u);
}

/* ---- packing ----------------------------------------------------------------- */

/* Ap (Mp, Kp) bfloat16 = the rows of A (M, K) at lda, zero-padded. */
AMX_TARGET static void pack_rows(const float *A, int lda, int M, int K, uint16_t *Ap, int Mp, int Kp)
{
    for (int m = 0; m < M; m++) {
        const float *row = A + (size_t)m * lda;
        uint16_t *out = Ap + (size_t)m * Kp;
        for (int k = 0; k < Kp; k += 32) {
            const __m512 lo = _mm512_maskz_loadu_ps(lanes_below(k, K), row + k);
            const __m512 hi = _mm512_maskz_loadu_ps(lanes_below(k + 16, K), row + k + 16);
            _mm512_storeu_si512(out + k, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
    }
    memset(Ap + (size_t)M * Kp, 0, (size_t)(Mp - M) * Kp * sizeof(uint16_t));
}

/* P (Kp/2, Np, 2) bfloat16, P[kk][n][j] = R[2kk + j][n]: rows of R (Kr rows of
 * N at ld) interleaved in pairs, zero-padded; the B-tile layout of R. */
AMX_TARGET static void pack_pairs(const float *R, int ld, int Kr, int N, uint16_t *P, int Kp, int Np)
{
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                                24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1,
                                                16, 0);
    for (int kk = 0; kk < Kp / 2; kk++) {
        const float *r0 = 2 * kk < Kr ? R + (size_t)(2 * kk) * ld : NULL;
        const float *r1 = 2 * kk + 1 < Kr ? R + (size_t)(2 * kk + 1) * ld : NULL;
        uint16_t *out = P + (size_t)kk * Np * 2;
        for (int n = 0; n < Np; n += 16) {
            const __mmask16 m = lanes_below(n, N);
            const __m512 a = r0 ? _mm512_maskz_loadu_ps(m, r0 + n) : _mm512_setzero_ps();
            const __m512 b = r1 ? _mm512_maskz_loadu_ps(m, r1 + n) : _mm512_setzero_ps();
            const __m512i ab = (__m512i)_mm512_cvtne2ps_pbh(b, a); /* a in words 0-15 */
            _mm512_storeu_si512(out + 2 * n, _mm512_permutexvar_epi16(interleave, ab));
        }
    }
}

/* D (C, R) = S (R, C) transposed, 32-bit words; both dense. 16 x 16 blocks
 * through registers (R and C are multiples of 16 here). */
AMX_TARGET static void transpose32(const uint32_t *S, int R, int C, uint32_t *D)
{
    for (int r0 = 0; r0 < R; r0 += 16)
        for (int c0 = 0; c0 < C; c0 += 16) {
            __m512i v[16], t[16];
            for (int i = 0; i < 16; i++) v[i] = _mm512_loadu_si512(S + (size_t)(r0 + i) * C + c0);
            /* 2x2 blocks of words, then of pairs, then of 128-bit lanes */
            for (int i = 0; i < 16; i += 2) {
                t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
                t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
            }
            for (int i = 0; i < 16; i += 4) {
                v[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
                v[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
                v[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
                v[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
            }
            /* v[4q + s] holds, for rows 4q..4q+3, column s + 4*lane128 */
            for (int q = 0; q < 4; q++)
                for (int s = 0; s < 4; s++) t[4 * s + q] = v[4 * q + s];
            /* t[4s + q]: 128-bit lane L = rows 4q..4q+3 of column s + 4L */
            for (int s = 0; s < 4; s++) {
                const __m512i a = _mm512_shuffle_i32x4(t[4 * s], t[4 * s + 1], 0x88);
                const __m512i b = _mm512_shuffle_i32x4(t[4 * s + 2], t[4 * s + 3], 0x88);
                const __m512i c = _mm512_shuffle_i32x4(t[4 * s], t[4 * s + 1], 0xDD);
                const __m512i d = _mm512_shuffle_i32x4(t[4 * s + 2], t[4 * s + 3], 0xDD);
                /* a: (q0,L0)(q0,L2)(q1,L0)(q1,L2); b: same for q2,q3 */
                v[s] = _mm512_shuffle_i32x4(a, b, 0x88);      /* L0 of q0..q3: column s */
                v[s + 8] = _mm512_shuffle_i32x4(a, b, 0xDD);  /* L2: column s + 8 */
                v[s + 4] = _mm512_shuffle_i32x4(c, d, 0x88);  /* L1: column s + 4 */
                v[s + 12] = _mm512_shuffle_i32x4(c, d, 0xDD); /* L3: column s + 12 */
            }
            for (int j = 0; j < 16; j++) _mm512_storeu_si512(D + (size_t)(c0 + j) * R + r0, v[j]);
        }
}

/* ---- the tile product ------------------------------------------------------------ */

/* C (Mp, Np) at ldc (floats) = (accumulate ? C : 0) + Ap (Mp, Kp) @ Bp, Bp in
 * the B-tile layout (Kp/2, Np, 2); all multiples of 32. 2 x 2 output tiles
 * per block: tiles 0-3 accumulate, 4-5 hold A, 6-7 hold B. */
AMX_TARGET static void tile_product(const uint16_t *Ap, const uint16_t *Bp, float *C, size_t ldc,
                                    int accumulate, int Mp, int Np, int Kp)
{
    /* the tile loads and stores are asm without a memory clobber: keep the
     * compiler from moving the packing's stores or C's uses across them */
    __asm__ volatile("" ::: "memory");
    const size_t a_stride = (size_t)Kp * 2, b_stride = (size_t)Np * 4, c_stride = ldc * 4;
    for (int m = 0; m < Mp; m += 32)
        for (int n = 0; n < Np; n += 32) {
            float *c = C + (size_t)m * ldc + n;
            if (accumulate) {
                _tile_loadd(0, c, c_stride);
                _tile_loadd(1, c + 16, c_stride);
                _tile_loadd(2, c + 16 * ldc, c_stride);
                _tile_loadd(3, c + 16 * ldc + 16, c_stride);
            } else {
                _tile_zero(0);
                _tile_zero(1);
                _tile_zero(2);
                _tile_zero(3);
            }
            for (int k = 0; k < Kp; k += 32) {
                const uint16_t *a = Ap + (size_t)m * Kp + k;
                const uint16_t *b = Bp + ((size_t)(k / 2) * Np + n) * 2;
                _tile_loadd(4, a, a_stride);
                _tile_loadd(5, a + (size_t)16 * Kp, a_stride);
                _tile_loadd(6, b, b_stride);
                _tile_loadd(7, b + 32, b_stride);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
            _tile_stored(0, c, c_stride);
            _tile_stored(1, c + 16, c_stride);
            _tile_stored(2, c + 16 * ldc, c_stride);
            _tile_stored(3, c + 16 * ldc + 16, c_stride);
        }
    __asm__ volatile("" ::: "memory");
}

/* C (M, N) = beta * C + Ct, for the unpadded part */
static void add_block(float *C, int ldc, float beta, const float *Ct, int Np, int M, int N)
{
    for (int m = 0; m < M; m++) {
        float *c = C + (size_t)m * ldc;
        const float *t = Ct + (size_t)m * Np;
        if (beta == 0.0f) memcpy(c, t, (size_t)N * sizeof(float));
        else
            for (int n = 0; n < N; n++) c[n] += t[n];
    }
}

int eisnet_cpu_gemm_bf16(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                         int ldb, float beta, float *C, int ldc)
{
    if (M < AMX_MIN_DIM || N < AMX_MIN_DIM || K < AMX_MIN_DIM || (ta && tb)) return 0;
    if (!eisnet_cpu_amx_available()) return 0;
    const int Mp = round32(M), Np = round32(N), Kp = round32(K);
    /* scratch: A and B packed, a transpose's staging copy, and (unless the
     * tiles can work on C in place: M and N multiples of 32, the usual
     * case) the float32 result Ct */
    const int in_place = Mp == M && Np == N;
    const size_t a_n = (size_t)Mp * Kp, b_n = (size_t)Kp * Np, s_n = a_n > b_n ? a_n : b_n;
    const size_t bytes = (a_n + b_n + s_n) * sizeof(uint16_t) + (in_place ? 0 : (size_t)Mp * Np * sizeof(float));
    uint16_t *Ap = eisnet_cpu_scratch(bytes);
    if (!Ap) return 0; /* out of memory: the float32 path */
    uint16_t *Bp = Ap + a_n, *stage = Bp + b_n;
    float *Ct = (float *)(stage + s_n);
    if (!ta) {
        pack_rows(A, lda, M, K, Ap, Mp, Kp);
    } else { /* A stored (K, M): its rows interleaved in pairs, then transposed */
        pack_pairs(A, lda, K, M, stage, Kp, Mp);
        transpose32((const uint32_t *)stage, Kp / 2, Mp, (uint32_t *)Ap);
    }
    if (!tb) {
        pack_pairs(B, ldb, K, N, Bp, Kp, Np);
    } else { /* B stored (N, K): rows as bfloat16 pairs, then transposed */
        pack_rows(B, ldb, N, K, stage, Np, Kp);
        transpose32((const uint32_t *)stage, Np, Kp / 2, (uint32_t *)Bp);
    }
    tiles_configure();
    if (in_place) {
        tile_product(Ap, Bp, C, (size_t)ldc, beta != 0.0f, Mp, Np, Kp);
    } else {
        tile_product(Ap, Bp, Ct, (size_t)Np, 0, Mp, Np, Kp);
    }
    tiles_release();
    if (!in_place) add_block(C, ldc, beta, Ct, Np, M, N);
    return 1;
}

#else /* not an x86-64 Linux build with AMX support in the compiler */

int eisnet_cpu_amx_available(void) { return 0; }

int eisnet_cpu_gemm_bf16(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                         int ldb, float beta, float *C, int ldc)
{
    (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb;
    (void)beta, (void)C, (void)ldc;
    return 0;
}

#endif
