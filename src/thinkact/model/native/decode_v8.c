/* The C step's small kernels for 256-bit registers (AVX2, NEON), compiled with decode_step.c.
 *
 * There a 16-float vector is a register pair, and GCC keeps a loop-carried 16-float
 * accumulator in memory (every step a store, reloads and shuffles through general registers):
 * the attention's per-head products ran several times slower than their arithmetic. These are
 * decode_step.c's vecmat, axpy, scores and weighted latent sums written with 8-float
 * vectors: the same sums in the same order, so the results are the same floats.
 */
#ifndef __AVX512F__
#include <stdint.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))

typedef float v8 __attribute__((vector_size(32)));

AI v8 ld8(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
AI void st8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

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

/* Scores of up to 8 heads (columns 0-7 of qt [C][HP]) against keys [S][C], 8 positions a
 * pass: sc[s][j] = keys[s] . qt[:, j], summed over c in order; columns 8..HP-1 set to 0
 * (what the zero query padding scored before). */
void ta_scores8(const float *keys, int S, int C, const float *qt, int HP, float *sc) {
    int s = 0;
    for (; s + 8 <= S; s += 8) {
        v8 acc[8] = {{0}};
        for (int c = 0; c < C; c++) {
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
#endif
