/* The C step's 8-float kernels, compiled with decode_step.c.
 *
 * Where registers are 256 bits (AVX2, NEON) a 16-float vector is a register pair, and GCC
 * keeps a loop-carried 16-float accumulator in memory (every step a store, reloads and
 * shuffles through general registers): matmuls and the attention's per-head products ran
 * several times slower than their arithmetic. These are decode_step.c's matmul, vecmat, axpy,
 * scores and weighted latent sums written with 8-float vectors: the same sums in the same
 * order (the compiler may still fuse a multiply-add in one and not the other, so the last bit
 * can differ). The attention's kernels for up to 8 heads are used with AVX-512 too: there the
 * 16-float code computed 16 head columns for 8 or 4 heads, with too few accumulators to hide
 * the latency.
 */
#include <stdint.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))

typedef float v8 __attribute__((vector_size(32)));

AI v8 ld8(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
AI void st8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

/* Scores of up to 8 heads (columns 0-7 of qt [C][HP]) against keys [S][C], 8 positions a
 * pass: sc[s][j] = keys[s] . qt[:, j], summed over c in order; columns 8..HP-1 set to 0
 * (what the zero query padding scored before). */
#ifndef SCORES_AHEAD
#define SCORES_AHEAD 8
#endif
void ta_scores8(const float *keys, int S, int C, const float *qt, int HP, float *sc) {
    int s = 0;
    for (; s + 8 <= S; s += 8) {
        v8 acc[8] = {{0}};
        /* A row's cache is read from memory here first (the latent sums find it in cache):
         * one stream of 8 * C floats a pass, prefetched SCORES_AHEAD passes ahead, a line
         * every other c (the hardware prefetcher alone kept one core at ~7 GB/s). */
        const float *ahead = keys + (size_t)(s + 8 * SCORES_AHEAD) * C;
        const int pf = s + 8 * SCORES_AHEAD + 8 <= S;
        for (int c = 0; c < C; c++) {
            if (pf && !(c & 1)) __builtin_prefetch(ahead + 8 * c);
            const v8 q = ld8(qt + (size_t)c * HP);
            for (int r = 0; r < 8; r++) acc[r] += keys[(size_t)(s + r) * C + c] * q;
        }
        for (int r = 0; r < 8; r++) st8(sc + (size_t)(s + r) * HP, acc[r]);
    }
    for (; s < S; s++) {
        v8 a = {0};
        for (int c = 0; c < C; c++) a += keys[(size_t)s * C + c] * ld8(qt + (size_t)c * HP);
        st8(sc + (size_t)s * HP, a);
    }
    for (s = 0; s < S; s++)
        for (int j = 8; j < HP; j++) sc[(size_t)s * HP + j] = 0.f;
}

/* out[j][:kv] = sum_s sc[s][j] * keys[s][:kv] for NJ < 8 heads: NJ x CV vectors of latent
 * values a pass (CV = 2 for up to 4 heads, so at least 8 accumulators hide the latency). */
AI void olat_small(const float *sc, int HP, int S, const float *keys, int C, int kv, float *out,
                   const int NJ) {
    const int CV = NJ <= 4 ? 2 : 1;
    int c0 = 0;
    for (; c0 + 8 * CV <= kv; c0 += 8 * CV) {
        v8 acc[7][2];
        for (int j = 0; j < NJ; j++) acc[j][0] = acc[j][1] = (v8){0};
        for (int s = 0; s < S; s++) {
            const float *k = keys + (size_t)s * C + c0, *p = sc + (size_t)s * HP;
            v8 kv8[2];
            for (int v = 0; v < CV; v++) kv8[v] = ld8(k + 8 * v);
            for (int j = 0; j < NJ; j++)
                for (int v = 0; v < CV; v++) acc[j][v] += p[j] * kv8[v];
        }
        for (int j = 0; j < NJ; j++)
            for (int v = 0; v < CV; v++) st8(out + (size_t)j * kv + c0 + 8 * v, acc[j][v]);
    }
    for (; c0 < kv; c0++)
        for (int j = 0; j < NJ; j++) {
            float a = 0.f;
            for (int s = 0; s < S; s++) a += sc[(size_t)s * HP + j] * keys[(size_t)s * C + c0];
            out[(size_t)j * kv + c0] = a;
        }
}

/* olat_small for nj (1..7) heads, the columns sc[s][0..nj-1]. */
void ta_olat_small(const float *sc, int HP, int nj, int S, const float *keys, int C, int kv,
                   float *out) {
    switch (nj) {
    case 1: olat_small(sc, HP, S, keys, C, kv, out, 1); break;
    case 2: olat_small(sc, HP, S, keys, C, kv, out, 2); break;
    case 3: olat_small(sc, HP, S, keys, C, kv, out, 3); break;
    case 4: olat_small(sc, HP, S, keys, C, kv, out, 4); break;
    case 5: olat_small(sc, HP, S, keys, C, kv, out, 5); break;
    case 6: olat_small(sc, HP, S, keys, C, kv, out, 6); break;
    default: olat_small(sc, HP, S, keys, C, kv, out, 7);
    }
}
#ifndef __AVX512F__ /* the rest: where a register holds 8 floats */
#define PW 32 /* panel width, as in decode_step.c */
#define MAXR 8 /* rows multiplied together per weight read */
typedef struct { const float *w; int32_t k, n; } Mat; /* = decode_step.c's */

/* G rows (a compile-time constant once inlined) of x times one [K][PW] panel, nn of its
 * columns out: each output the sum over k in order, as in decode_step.c's mm_rows. */
AI void mm_group(const float *x, int xs, int K, const float *wp, float *y, int ys, int nn,
                 float alpha, int add, const int G, int first) {
    v8 acc[3][4];
    for (int r = 0; r < G; r++)
        for (int j = 0; j < 4; j++) acc[r][j] = (v8){0};
    for (int k = 0; k < K; k++) {
        const float *w = wp + (size_t)k * PW;
        if (first) { /* 16 rows (2 KiB) ahead; the other groups find the panel in cache */
            __builtin_prefetch(w + 16 * PW);
            __builtin_prefetch(w + 16 * PW + 16);
        }
        const v8 w0 = ld8(w), w1 = ld8(w + 8), w2 = ld8(w + 16), w3 = ld8(w + 24);
        for (int r = 0; r < G; r++) {
            const float xv = x[(size_t)r * xs + k];
            acc[r][0] += xv * w0;
            acc[r][1] += xv * w1;
            acc[r][2] += xv * w2;
            acc[r][3] += xv * w3;
        }
    }
    for (int r = 0; r < G; r++) {
        float t[PW], *yr = y + (size_t)r * ys;
        memcpy(t, acc[r], sizeof t);
        for (int j = 0; j < nn; j++) yr[j] = add ? yr[j] + alpha * t[j] : alpha * t[j];
    }
}

/* mm_rows where registers are 256 bits (AVX2, NEON): 16-float accumulators there are
 * register pairs, and mm_rows' do not fit in 16 registers (spilled ones made each extra row
 * cost as much as a whole batch-1 step). So each 32-column panel is walked once per group
 * of up to 3 rows (mm_group; one row: 16-column halves, four chains): the panel comes from
 * memory once, the other walks hit the cache. Each output is the same sum over k in the same
 * order as in decode_step.c's mm_rows. */
AI void mm_rows_q(const float *x, int xs, const Mat *m, float *y, int ys, float alpha, int add,
                  const int R) {
    const int K = m->k, N = m->n;
    const float *wp = m->w;
    for (int n0 = 0; n0 < N; n0 += PW, wp += (size_t)K * PW) {
        const int nn = N - n0 < PW ? N - n0 : PW;
        if (R == 1) { /* halves of 16 columns, four chains over k as mm_rows */
            for (int q = 0; q < nn; q += 16) {
                v8 a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0}, c0 = {0}, c1 = {0}, d0 = {0}, d1 = {0};
                int k = 0;
                for (; k + 4 <= K; k += 4) {
                    const float *w = wp + (size_t)k * PW + q;
                    __builtin_prefetch(w + 32 * PW);
                    a0 += x[k] * ld8(w);              a1 += x[k] * ld8(w + 8);
                    b0 += x[k + 1] * ld8(w + PW);     b1 += x[k + 1] * ld8(w + PW + 8);
                    c0 += x[k + 2] * ld8(w + 2 * PW); c1 += x[k + 2] * ld8(w + 2 * PW + 8);
                    d0 += x[k + 3] * ld8(w + 3 * PW); d1 += x[k + 3] * ld8(w + 3 * PW + 8);
                }
                a0 += b0 + c0 + d0;
                a1 += b1 + c1 + d1;
                for (; k < K; k++) {
                    const float *w = wp + (size_t)k * PW + q;
                    a0 += x[k] * ld8(w);
                    a1 += x[k] * ld8(w + 8);
                }
                float t[16], *yr = y + n0 + q;
                memcpy(t, &a0, sizeof a0);
                memcpy(t + 8, &a1, sizeof a1);
                const int nq = nn - q < 16 ? nn - q : 16;
                for (int j = 0; j < nq; j++) yr[j] = add ? yr[j] + alpha * t[j] : alpha * t[j];
            }
            continue;
        }
        /* Rows in groups of 3 (then 2) over the whole panel: 12 accumulators and 4 weight
         * vectors fill the 16 registers; the first group streams the panel from memory,
         * the others read it from cache. R % 3 == 1 ends in two groups of 2, not 3 + 1. */
        const int R3 = R % 3 == 1 && R > 1 ? (R - 4) / 3 : R / 3;
        for (int r0 = 0; r0 < R; ) {
            const int g = r0 < 3 * R3 ? 3 : R - r0 >= 2 ? 2 : 1;
            if (g == 3) mm_group(x + (size_t)r0 * xs, xs, K, wp, y + (size_t)r0 * ys + n0, ys,
                                 nn, alpha, add, 3, r0 == 0);
            else if (g == 2) mm_group(x + (size_t)r0 * xs, xs, K, wp, y + (size_t)r0 * ys + n0,
                                      ys, nn, alpha, add, 2, r0 == 0);
            else mm_group(x + (size_t)r0 * xs, xs, K, wp, y + (size_t)r0 * ys + n0, ys, nn,
                          alpha, add, 1, r0 == 0);
            r0 += g;
        }
    }
}

#define MM_R(R) \
    static void mm8_##R(const float *x, int xs, const Mat *m, float *y, int ys, float a, \
                        int add) { mm_rows_q(x, xs, m, y, ys, a, add, R); }
MM_R(1) MM_R(2) MM_R(3) MM_R(4) MM_R(5) MM_R(6) MM_R(7) MM_R(8)
typedef void (*mm_fn)(const float *, int, const Mat *, float *, int, float, int);
static const mm_fn MM8[MAXR + 1] = {0, mm8_1, mm8_2, mm8_3, mm8_4, mm8_5, mm8_6, mm8_7, mm8_8};

/* decode_step.c's matmul: y[B, n] (= or +=) alpha * x[B, k] @ W, MAXR rows per read of W. */
void ta_matmul8(const float *x, int xs, const Mat *m, float *y, int ys, int B, float alpha,
                int add) {
    for (int b = 0; b < B; b += MAXR) {
        const int r = B - b < MAXR ? B - b : MAXR;
        MM8[r](x + (size_t)b * xs, xs, m, y + (size_t)b * ys, ys, alpha, add);
    }
}

/* decode_step.c's vecmat: y[n] = sum_k x[k * xs] * W[k * ldw + n] for n < N. */
void ta_vecmat8(const float *x, int xs, int K, const float *W, int ldw, int N, float *y) {
    int n0 = 0;
    for (; n0 + 64 <= N; n0 += 64) {
        v8 a[8] = {{0}};
        for (int k = 0; k < K; k++) {
            const float xv = x[(size_t)k * xs], *w = W + (size_t)k * ldw + n0;
            for (int j = 0; j < 8; j++) a[j] += xv * ld8(w + 8 * j);
        }
        for (int j = 0; j < 8; j++) st8(y + n0 + 8 * j, a[j]);
    }
    for (; n0 + 16 <= N; n0 += 16) { /* two chains over alternate k, as there */
        v8 a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0};
        int k = 0;
        for (; k + 2 <= K; k += 2) {
            const float *w = W + (size_t)k * ldw + n0;
            const float x0 = x[(size_t)k * xs], x1 = x[(size_t)(k + 1) * xs];
            a0 += x0 * ld8(w);
            a1 += x0 * ld8(w + 8);
            b0 += x1 * ld8(w + ldw);
            b1 += x1 * ld8(w + ldw + 8);
        }
        if (k < K) {
            const float *w = W + (size_t)k * ldw + n0;
            a0 += x[(size_t)k * xs] * ld8(w);
            a1 += x[(size_t)k * xs] * ld8(w + 8);
        }
        st8(y + n0, a0 + b0);
        st8(y + n0 + 8, a1 + b1);
    }
    for (; n0 < N; n0++) {
        float a = 0.f;
        for (int k = 0; k < K; k++) a += x[(size_t)k * xs] * W[(size_t)k * ldw + n0];
        y[n0] = a;
    }
}

/* y += a * x */
void ta_axpy8(float a, const float *x, float *y, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) st8(y + i, ld8(y + i) + a * ld8(x + i));
    for (; i < n; i++) y[i] += a * x[i];
}

/* decode_step.c's scores_nv for up to 16 heads with 8-float registers : 4 positions x 2
 * halves = 8 accumulators; the same sums over c in the same order. */
void ta_scores16(const float *keys, int S, int C, const float *qt, float *sc) {
    int s = 0;
    for (; s + 4 <= S; s += 4) {
        v8 acc[4][2];
        for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = (v8){0};
        for (int c = 0; c < C; c++) {
            const v8 q0 = ld8(qt + (size_t)c * 16), q1 = ld8(qt + (size_t)c * 16 + 8);
            for (int r = 0; r < 4; r++) {
                const float kv = keys[(size_t)(s + r) * C + c];
                acc[r][0] += kv * q0;
                acc[r][1] += kv * q1;
            }
        }
        for (int r = 0; r < 4; r++) memcpy(sc + (size_t)(s + r) * 16, acc[r], sizeof acc[r]);
    }
    for (; s < S; s++) {
        v8 a0 = {0}, a1 = {0};
        for (int c = 0; c < C; c++) {
            const float kv = keys[(size_t)s * C + c];
            a0 += kv * ld8(qt + (size_t)c * 16);
            a1 += kv * ld8(qt + (size_t)c * 16 + 8);
        }
        memcpy(sc + (size_t)s * 16, &a0, sizeof a0);
        memcpy(sc + (size_t)s * 16 + 8, &a1, sizeof a1);
    }
}

/* decode_step.c's olat_nj with 8-float registers: 8 heads x 8 latent values a pass, so 8
 * accumulators and one key load stay in registers; the same sums over s in the same order. */
void ta_olat8(const float *sc, int HP, int S, const float *keys, int C, int kv, float *out) {
    int c0 = 0;
    for (; c0 + 8 <= kv; c0 += 8) {
        v8 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = (v8){0};
        for (int s = 0; s < S; s++) {
            const v8 k = ld8(keys + (size_t)s * C + c0);
            const float *p = sc + (size_t)s * HP;
            for (int j = 0; j < 8; j++) acc[j] += p[j] * k;
        }
        for (int j = 0; j < 8; j++) memcpy(out + (size_t)j * kv + c0, &acc[j], sizeof(v8));
    }
    for (; c0 < kv; c0++)
        for (int j = 0; j < 8; j++) {
            float a = 0.f;
            for (int s = 0; s < S; s++) a += sc[(size_t)s * HP + j] * keys[(size_t)s * C + c0];
            out[(size_t)j * kv + c0] = a;
        }
}
#endif
