/* The C decode step's INT4 kernel: routed experts multiplied straight from their packed
 * nibbles and group scales (no float copy of the weights). Compiled with decode_step.c, which
 * calls ta_matmul4 for layers whose experts are INT4; same vector extensions and panels.
 */
#include <stdint.h>
#include <string.h>

#define PW 32 /* panel width, as in decode_step.c */
#define MAXR 8 /* rows multiplied together per weight read */
#define AI static inline __attribute__((always_inline))

typedef float v16 __attribute__((vector_size(64)));

AI v16 ld(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }
AI void st(float *p, v16 v) { memcpy(p, &v, sizeof v); }

/* An INT4 [k, n] weight: the same panels of PW columns, each k row of a panel 16 bytes (byte
 * j: column j in the low nibble, column j + 16 in the high one, values offset by +8), and one
 * float scale per group of g rows and column, [panel][k / g][PW]. w = (q - 8) * scale. */
typedef struct Mat4 { const uint8_t *q; const float *s; int32_t k, n, g; } Mat4; /* = decode_step.c's */

typedef uint8_t vu8 __attribute__((vector_size(16)));
typedef int32_t vi16q __attribute__((vector_size(64)));

/* y[r] = x[r] @ W for R rows of an INT4 W: integer values are summed per group in float, then
 * scaled once per group and column (what dequantize-then-multiply computes, fewer products). */
AI void mm4_rows(const float *x, int xs, const Mat4 *m, float *y, int ys, const int R) {
    const int K = m->k, N = m->n, G = m->g;
    const uint8_t *qp = m->q;
    const float *sp = m->s;
    for (int n0 = 0; n0 < N; n0 += PW, qp += (size_t)K * (PW / 2), sp += (size_t)(K / G) * PW) {
        v16 a0[MAXR], a1[MAXR];
        for (int r = 0; r < R; r++) a0[r] = a1[r] = (v16){0};
        for (int k0 = 0; k0 < K; k0 += G) {
            v16 t0[MAXR], t1[MAXR];
            for (int r = 0; r < R; r++) t0[r] = t1[r] = (v16){0};
            for (int k = k0; k < k0 + G; k++) {
                vu8 b;
                memcpy(&b, qp + (size_t)k * (PW / 2), sizeof b);
                const v16 w0 = __builtin_convertvector(__builtin_convertvector(b & 15, vi16q) - 8, v16);
                const v16 w1 = __builtin_convertvector(__builtin_convertvector(b >> 4, vi16q) - 8, v16);
                for (int r = 0; r < R; r++) {
                    const float xv = x[(size_t)r * xs + k];
                    t0[r] += xv * w0;
                    t1[r] += xv * w1;
                }
            }
            const float *s = sp + (size_t)(k0 / G) * PW;
            const v16 s0 = ld(s), s1 = ld(s + 16);
            for (int r = 0; r < R; r++) { a0[r] += t0[r] * s0; a1[r] += t1[r] * s1; }
        }
        const int nn = N - n0 < PW ? N - n0 : PW;
        for (int r = 0; r < R; r++) {
            float t[PW], *yr = y + (size_t)r * ys + n0;
            st(t, a0[r]);
            st(t + 16, a1[r]);
            memcpy(yr, t, (size_t)nn * sizeof(float));
        }
    }
}

#ifndef __AVX512F__
typedef float v8 __attribute__((vector_size(32)));
typedef uint8_t vu8h __attribute__((vector_size(8)));
typedef int32_t vi8 __attribute__((vector_size(32)));

/* mm4_rows where registers are 256 bits (AVX2, NEON), where its 16-float accumulators are
 * register pairs kept in memory: per 16-column half of a panel (low nibbles: columns 0-15,
 * high: 16-31), G <= 3 rows at a time, 8-float vectors. The same sums as mm4_rows. */
AI void mm4_half(const float *x, int xs, const uint8_t *qp, const float *sp, int K, int G_,
                 float *y, int ys, int nn, int hi, const int G) {
    v8 a[3][2];
    for (int r = 0; r < G; r++) a[r][0] = a[r][1] = (v8){0};
    for (int k0 = 0; k0 < K; k0 += G_) {
        v8 t[3][2];
        for (int r = 0; r < G; r++) t[r][0] = t[r][1] = (v8){0};
        for (int k = k0; k < k0 + G_; k++) {
            vu8h b0, b1;
            memcpy(&b0, qp + (size_t)k * (PW / 2), sizeof b0);
            memcpy(&b1, qp + (size_t)k * (PW / 2) + 8, sizeof b1);
            if (hi) { b0 = b0 >> 4; b1 = b1 >> 4; } else { b0 = b0 & 15; b1 = b1 & 15; }
            const v8 w0 = __builtin_convertvector(__builtin_convertvector(b0, vi8) - 8, v8);
            const v8 w1 = __builtin_convertvector(__builtin_convertvector(b1, vi8) - 8, v8);
            for (int r = 0; r < G; r++) {
                const float xv = x[(size_t)r * xs + k];
                t[r][0] += xv * w0;
                t[r][1] += xv * w1;
            }
        }
        const float *sc = sp + (size_t)(k0 / G_) * PW + 16 * hi;
        v8 s0, s1;
        memcpy(&s0, sc, sizeof s0);
        memcpy(&s1, sc + 8, sizeof s1);
        for (int r = 0; r < G; r++) { a[r][0] += t[r][0] * s0; a[r][1] += t[r][1] * s1; }
    }
    const int c0 = 16 * hi, nc = nn - c0 < 16 ? nn - c0 : 16;
    for (int r = 0; r < G; r++) {
        float tt[16];
        memcpy(tt, a[r], sizeof tt);
        if (nc > 0) memcpy(y + (size_t)r * ys + c0, tt, (size_t)nc * sizeof(float));
    }
}

AI void mm4_rows8(const float *x, int xs, const Mat4 *m, float *y, int ys, const int R) {
    const int K = m->k, N = m->n, G = m->g;
    const uint8_t *qp = m->q;
    const float *sp = m->s;
    for (int n0 = 0; n0 < N; n0 += PW, qp += (size_t)K * (PW / 2), sp += (size_t)(K / G) * PW) {
        const int nn = N - n0 < PW ? N - n0 : PW;
        for (int hi = 0; hi < 2; hi++)
            for (int r0 = 0; r0 < R; ) {
                const int g = R - r0 >= 3 ? 3 : R - r0;
                const float *xr = x + (size_t)r0 * xs;
                float *yr = y + (size_t)r0 * ys + n0;
                if (g == 3) mm4_half(xr, xs, qp, sp, K, G, yr, ys, nn, hi, 3);
                else if (g == 2) mm4_half(xr, xs, qp, sp, K, G, yr, ys, nn, hi, 2);
                else mm4_half(xr, xs, qp, sp, K, G, yr, ys, nn, hi, 1);
                r0 += g;
            }
    }
}
#define MM4_KERNEL mm4_rows8
#else
#define MM4_KERNEL mm4_rows
#endif

#define MM4_R(R) \
    static void mm4_##R(const float *x, int xs, const Mat4 *m, float *y, int ys) \
    { MM4_KERNEL(x, xs, m, y, ys, R); }
MM4_R(1) MM4_R(2) MM4_R(3) MM4_R(4) MM4_R(5) MM4_R(6) MM4_R(7) MM4_R(8)
typedef void (*mm4_fn)(const float *, int, const Mat4 *, float *, int);
static const mm4_fn MM4[MAXR + 1] = {0, mm4_1, mm4_2, mm4_3, mm4_4, mm4_5, mm4_6, mm4_7, mm4_8};

/* y[B, n] = x[B, k] @ W for an INT4 W, MAXR rows per read of W. */
void ta_matmul4(const float *x, int xs, const Mat4 *m, float *y, int ys, int B) {
    for (int b = 0; b < B; b += MAXR) {
        const int r = B - b < MAXR ? B - b : MAXR;
        MM4[r](x + (size_t)b * xs, xs, m, y + (size_t)b * ys, ys);
    }
}
