/* One K2 / DeepSeek-V3 decode step (one token per row; rows at one position of one cache, or
 * each at its own position of its own cache) in C.
 *
 * Why: at the sizes thinkact decodes on CPU a step is a few hundred tiny ops; eager PyTorch
 * spends more time dispatching them (~5 us each) than multiplying. Here the whole step is one
 * call: no dispatch, no temporaries, and every weight matrix is read once per step for all
 * rows, from a layout that streams (see Mat). The math is the model's own absorb-mode forward
 * as prepared by fast_layers.py (W_UK and the softmax scale folded into the query matrix,
 * RoPE as a per-position [R, R] matrix, latent KV cache [layer][row][pos][kv + rope]).
 *
 * Portable C99 + GCC/Clang vector extensions: built with -march=native the 16-float vectors
 * become AVX-512 code; with 256-bit registers (AVX2, NEON) the hot loops are decode_v8.c's
 * 8-float ones. Built and loaded by native/build.py; never required.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PW 32 /* panel width: output columns per packed panel */
#define MAXR 8 /* rows multiplied together per weight read */
#define AI static inline __attribute__((always_inline))

typedef float v16 __attribute__((vector_size(64)));

AI v16 ld(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }
AI void st(float *p, v16 v) { memcpy(p, &v, sizeof v); }

/* A [k, n] weight (y = x @ W) packed as ceil(n / PW) panels of [k][PW] (zero padded): one
 * panel is a contiguous stream, so a small-row GEMM reads W sequentially exactly once. */
typedef struct { const float *w; int32_t k, n; } Mat;

typedef struct {
    const float *in_norm, *post_norm, *kv_norm, *q_norm; /* q_norm NULL: no query LoRA */
    float eps_in, eps_post, eps_kv, eps_q;
    Mat w_a;   /* [hidden, q_rank + kv + rope]: q_a_proj and kv_a_proj_with_mqa together */
    Mat w_q;   /* [q_rank or hidden, heads * (kv + rope)]: per head latent query then rope */
    const float *w_uv; /* [heads][kv][v]: value up-projection */
    Mat w_o;   /* [heads * v, hidden] */
    Mat gu, down; /* dense MLP, or the MoE layer's shared expert (gu.w NULL: none) */
    Mat router;   /* [hidden, experts] (MoE layers) */
    const float *bias; /* [experts] routing correction bias (selection only) */
    const Mat *e_gu, *e_down; /* per routed expert: [hidden, 2 * inter], [inter, hidden] */
    int32_t moe;
    const struct Mat4 *e_gu4, *e_down4; /* INT4 routed experts instead (NULL: float ones) */
} Layer;

typedef struct {
    int32_t n_layers, hidden, heads, q_rank, kv, rope, v_dim, vocab;
    int32_t n_experts, top_k, n_group, topk_group, norm_topk;
    float routed_scale, eps_final;
    int32_t max_ffn; /* widest [gate | up] output over all MLPs */
    const float *embed, *final_norm;
    Mat lm_head;
    const Layer *layers;
} Model;

#ifdef __AVX512F__
/* y[r] (= or +=) alpha * x[r] @ W for R rows (R <= MAXR, a compile-time constant once
 * inlined), x rows xs floats apart, y rows ys floats apart. (With 256-bit registers:
 * decode_v8.c's ta_matmul8.) */
AI void mm_rows(const float *x, int xs, const Mat *m, float *y, int ys, float alpha, int add,
                const int R) {
    const int K = m->k, N = m->n;
    const float *wp = m->w;
    for (int n0 = 0; n0 < N; n0 += PW, wp += (size_t)K * PW) {
        v16 a0[MAXR], a1[MAXR];
        for (int r = 0; r < R; r++) a0[r] = a1[r] = (v16){0};
        int k = 0;
        if (R == 1) { /* one row: four independent chains hide the FMA latency */
            v16 b0 = {0}, b1 = {0}, c0 = {0}, c1 = {0}, d0 = {0}, d1 = {0};
            for (; k + 4 <= K; k += 4) {
                const float *w = wp + (size_t)k * PW;
                __builtin_prefetch(w + 32 * PW);
                a0[0] += x[k] * ld(w);          a1[0] += x[k] * ld(w + 16);
                b0 += x[k + 1] * ld(w + PW);    b1 += x[k + 1] * ld(w + PW + 16);
                c0 += x[k + 2] * ld(w + 2 * PW); c1 += x[k + 2] * ld(w + 2 * PW + 16);
                d0 += x[k + 3] * ld(w + 3 * PW); d1 += x[k + 3] * ld(w + 3 * PW + 16);
            }
            a0[0] += b0 + c0 + d0;
            a1[0] += b1 + c1 + d1;
        }
        for (; k < K; k++) {
            /* both cache lines of the row 96 rows (12 KiB) ahead: with one, 8 rows read a
             * weight from memory at 9 GB/s against 22 for one row */
            const float *w = wp + (size_t)k * PW;
            __builtin_prefetch(w + 96 * PW);
            __builtin_prefetch(w + 96 * PW + 16);
            const v16 w0 = ld(w), w1 = ld(w + 16);
            for (int r = 0; r < R; r++) {
                const float xv = x[(size_t)r * xs + k];
                a0[r] += xv * w0;
                a1[r] += xv * w1;
            }
        }
        const int nn = N - n0 < PW ? N - n0 : PW;
        for (int r = 0; r < R; r++) {
            float *yr = y + (size_t)r * ys + n0;
            if (nn == PW) {
                st(yr, add ? ld(yr) + alpha * a0[r] : alpha * a0[r]);
                st(yr + 16, add ? ld(yr + 16) + alpha * a1[r] : alpha * a1[r]);
            } else {
                float t[PW];
                st(t, alpha * a0[r]);
                st(t + 16, alpha * a1[r]);
                for (int j = 0; j < nn; j++) yr[j] = add ? yr[j] + t[j] : t[j];
            }
        }
    }
}

#define MM_R(R) \
    static void mm_##R(const float *x, int xs, const Mat *m, float *y, int ys, float a, int add) \
    { mm_rows(x, xs, m, y, ys, a, add, R); }
MM_R(1) MM_R(2) MM_R(3) MM_R(4) MM_R(5) MM_R(6) MM_R(7) MM_R(8)
typedef void (*mm_fn)(const float *, int, const Mat *, float *, int, float, int);
static const mm_fn MM[MAXR + 1] = {0, mm_1, mm_2, mm_3, mm_4, mm_5, mm_6, mm_7, mm_8};
#else
void ta_matmul8(const float *x, int xs, const Mat *m, float *y, int ys, int B, float alpha,
                int add);
#endif

/* y[B, n] (= or +=) alpha * x[B, k] @ W: rows in blocks of MAXR per read of W. */
static void matmul(const float *x, int xs, const Mat *m, float *y, int ys, int B, float alpha,
                   int add) {
#ifndef __AVX512F__
    ta_matmul8(x, xs, m, y, ys, B, alpha, add);
    return;
#else
    for (int b = 0; b < B; b += MAXR) {
        const int r = B - b < MAXR ? B - b : MAXR;
        MM[r](x + (size_t)b * xs, xs, m, y + (size_t)b * ys, ys, alpha, add);
    }
#endif
}

/* The step's matmul on its own, for benchmarks/roofline.py's compute ceiling. */
void ta_matmul(const float *x, int xs, const Mat *m, float *y, int ys, int B, float alpha,
               int add) {
    matmul(x, xs, m, y, ys, B, alpha, add);
}

/* INT4 routed experts (layout: decode_int4.c, which multiplies them): y[B, n] = x[B, k] @ W. */
typedef struct Mat4 { const uint8_t *q; const float *s; int32_t k, n, g; } Mat4;
void ta_matmul4(const float *x, int xs, const Mat4 *m, float *y, int ys, int B);

static void rmsnorm(const float *x, const float *w, float eps, int d, float *y) {
    float ss = 0.f;
    for (int i = 0; i < d; i++) ss += x[i] * x[i];
    const float r = 1.0f / sqrtf(ss / (float)d + eps);
    for (int i = 0; i < d; i++) y[i] = x[i] * r * w[i];
}

/* 8-float versions of the small kernels below: decode_v8.c (those for up to 8 heads on every
 * target, the rest where a register holds 8 floats) */
void ta_scores8(const float *keys, int S, int C, const float *qt, int HP, float *sc);
void ta_olat_small(const float *sc, int HP, int nj, int S, const float *keys, int C, int kv,
                   float *out);
#ifndef __AVX512F__
void ta_vecmat8(const float *x, int xs, int K, const float *W, int ldw, int N, float *y);
void ta_axpy8(float a, const float *x, float *y, int n);
void ta_scores16(const float *keys, int S, int C, const float *qt, float *sc);
void ta_olat8(const float *sc, int HP, int S, const float *keys, int C, int kv, float *out);
#endif

static void axpy(float a, const float *x, float *y, int n) { /* y += a * x */
#ifndef __AVX512F__
    ta_axpy8(a, x, y, n);
    return;
#endif
    int i = 0;
    for (; i + 16 <= n; i += 16) st(y + i, ld(y + i) + a * ld(x + i));
    for (; i < n; i++) y[i] += a * x[i];
}

/* y[n] = sum_k x[k * xs] * W[k * ldw + n] for n < N: accumulators stay in registers (an
 * in-memory y += ... per k would chain every step through a store and a reload). */
static void vecmat(const float *x, int xs, int K, const float *W, int ldw, int N, float *y) {
#ifndef __AVX512F__
    ta_vecmat8(x, xs, K, W, ldw, N, y);
    return;
#endif
    int n0 = 0;
    for (; n0 + 64 <= N; n0 += 64) {
        v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int k = 0; k < K; k++) {
            const float xv = x[(size_t)k * xs], *w = W + (size_t)k * ldw + n0;
            a0 += xv * ld(w); a1 += xv * ld(w + 16); a2 += xv * ld(w + 32); a3 += xv * ld(w + 48);
        }
        st(y + n0, a0); st(y + n0 + 16, a1); st(y + n0 + 32, a2); st(y + n0 + 48, a3);
    }
    for (; n0 + 16 <= N; n0 += 16) { /* two chains over alternate k hide the FMA latency */
        v16 a0 = {0}, a1 = {0};
        int k = 0;
        for (; k + 2 <= K; k += 2) {
            a0 += x[(size_t)k * xs] * ld(W + (size_t)k * ldw + n0);
            a1 += x[(size_t)(k + 1) * xs] * ld(W + (size_t)(k + 1) * ldw + n0);
        }
        if (k < K) a0 += x[(size_t)k * xs] * ld(W + (size_t)k * ldw + n0);
        st(y + n0, a0 + a1);
    }
    for (; n0 < N; n0++) {
        float a = 0.f;
        for (int k = 0; k < K; k++) a += x[(size_t)k * xs] * W[(size_t)k * ldw + n0];
        y[n0] = a;
    }
}

/* The widest vector that is one register (16 floats with AVX-512, else 8): loop-carried
 * values wider than a register are kept in memory by GCC. */
#ifdef __AVX512F__
#define VW 16
#else
#define VW 8
#endif
typedef float vf __attribute__((vector_size(4 * VW)));
typedef int32_t vfi __attribute__((vector_size(4 * VW)));
AI vf ldf(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
AI void stf(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* e^x for x <= 0 (softmax after subtracting the max), VW lanes: x = n ln2 + r, e^r by its
 * Taylor series to r^7 (|r| <= ln2: relative error < 2e-7), 2^n through the exponent bits. */
AI vf vexp(vf x) {
    const vf lo = (vf){0} - 87.0f;
    vfi under = x < lo;
    x = (vf)((under & (vfi)lo) | (~under & (vfi)x));
    const vfi n = __builtin_convertvector(x * 1.44269504f - 0.5f, vfi);
    const vf r = x - __builtin_convertvector(n, vf) * 0.693147181f;
    vf p = (vf){0} + 1.0f / 5040;
    p = p * r + 1.0f / 720; p = p * r + 1.0f / 120; p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6; p = p * r + 0.5f; p = p * r + 1.0f; p = p * r + 1.0f;
    return p * (vf)((n + 127) << 23);
}

/* Scores of every head against keys [S][C] for R positions at a time: sc[s][hp] =
 * keys[s] . qt[:, hp], qt being the queries transposed [C][HP], HP = 16 * NV. */
AI void scores_nv(const float *keys, int S, int C, const float *qt, float *sc, const int NV) {
    const int HP = 16 * NV;
    int s = 0;
    for (; s + 4 <= S; s += 4) {
        v16 acc[4][4];
        for (int r = 0; r < 4; r++) for (int v = 0; v < NV; v++) acc[r][v] = (v16){0};
        for (int c = 0; c < C; c++) {
            v16 q[4];
            for (int v = 0; v < NV; v++) q[v] = ld(qt + (size_t)c * HP + 16 * v);
            for (int r = 0; r < 4; r++) {
                const float kv = keys[(size_t)(s + r) * C + c];
                for (int v = 0; v < NV; v++) acc[r][v] += kv * q[v];
            }
        }
        for (int r = 0; r < 4; r++)
            for (int v = 0; v < NV; v++) st(sc + (size_t)(s + r) * HP + 16 * v, acc[r][v]);
    }
    for (; s < S; s++) {
        v16 acc[4];
        for (int v = 0; v < NV; v++) acc[v] = (v16){0};
        for (int c = 0; c < C; c++) {
            const float kv = keys[(size_t)s * C + c];
            for (int v = 0; v < NV; v++) acc[v] += kv * ld(qt + (size_t)c * HP + 16 * v);
        }
        for (int v = 0; v < NV; v++) st(sc + (size_t)s * HP + 16 * v, acc[v]);
    }
}


static void scores(const float *keys, int S, int C, const float *qt, float *sc, int NV, int hg) {
    if (hg <= 8) { /* one 8-float vector of heads, 8 positions a pass */
        ta_scores8(keys, S, C, qt, 16 * NV, sc);
        return;
    }
#ifndef __AVX512F__
    if (NV == 1) {
        ta_scores16(keys, S, C, qt, sc);
        return;
    }
#endif
    switch (NV) {
    case 1: scores_nv(keys, S, C, qt, sc, 1); break;
    case 2: scores_nv(keys, S, C, qt, sc, 2); break;
    case 3: scores_nv(keys, S, C, qt, sc, 3); break;
    default: scores_nv(keys, S, C, qt, sc, 4);
    }
}

/* out[j][:kv] = sum_s sc[s][j] * keys[s][:kv] for NJ heads (a compile-time constant once
 * inlined): each key chunk is loaded once for NJ heads, accumulators stay in registers. */
AI void olat_nj(const float *sc, int HP, int S, const float *keys, int C, int kv, float *out,
                const int NJ) {
    int c0 = 0;
    for (; c0 + 32 <= kv; c0 += 32) {
        v16 a0[8], a1[8];
        for (int j = 0; j < NJ; j++) a0[j] = a1[j] = (v16){0};
        for (int s = 0; s < S; s++) {
            const float *k = keys + (size_t)s * C + c0, *p = sc + (size_t)s * HP;
            const v16 k0 = ld(k), k1 = ld(k + 16);
            for (int j = 0; j < NJ; j++) { a0[j] += p[j] * k0; a1[j] += p[j] * k1; }
        }
        for (int j = 0; j < NJ; j++) {
            st(out + (size_t)j * kv + c0, a0[j]);
            st(out + (size_t)j * kv + c0 + 16, a1[j]);
        }
    }
    for (; c0 + 16 <= kv; c0 += 16) {
        v16 acc[8];
        for (int j = 0; j < NJ; j++) acc[j] = (v16){0};
        for (int s = 0; s < S; s++) {
            const v16 k = ld(keys + (size_t)s * C + c0);
            for (int j = 0; j < NJ; j++) acc[j] += sc[(size_t)s * HP + j] * k;
        }
        for (int j = 0; j < NJ; j++) st(out + (size_t)j * kv + c0, acc[j]);
    }
    for (; c0 < kv; c0++)
        for (int j = 0; j < NJ; j++) {
            float a = 0.f;
            for (int s = 0; s < S; s++) a += sc[(size_t)s * HP + j] * keys[(size_t)s * C + c0];
            out[(size_t)j * kv + c0] = a;
        }
}


/* Latent outputs of hg heads ([hg][kv]) from their softmax columns sc [S][HP]. */
static void olat(const float *sc, int HP, int hg, int S, const float *keys, int C, int kv,
                 float *out) {
    int j = 0;
#ifndef __AVX512F__
    for (; j + 8 <= hg; j += 8) ta_olat8(sc + j, HP, S, keys, C, kv, out + (size_t)j * kv);
#else
    for (; j + 8 <= hg; j += 8) olat_nj(sc + j, HP, S, keys, C, kv, out + (size_t)j * kv, 8);
#endif
    if (j < hg) ta_olat_small(sc + j, HP, hg - j, S, keys, C, kv, out + (size_t)j * kv);
}

/* Softmax over s of the first hg head columns of sc [S][HP] (rounded up to VW), in place. */
static void softmax_cols(float *sc, int S, int HP, int hg) {
    for (int v0 = 0; v0 < hg; v0 += VW) {
        vf mx = ldf(sc + v0), sum = {0};
        for (int s = 1; s < S; s++) {
            const vf t = ldf(sc + (size_t)s * HP + v0);
            mx = (vf)(((vfi)(t > mx) & (vfi)t) | ((vfi)(t <= mx) & (vfi)mx));
        }
        for (int s = 0; s < S; s++) {
            const vf e = vexp(ldf(sc + (size_t)s * HP + v0) - mx);
            stf(sc + (size_t)s * HP + v0, e);
            sum += e;
        }
        const vf inv = 1.0f / sum;
        for (int s = 0; s < S; s++) stf(sc + (size_t)s * HP + v0, ldf(sc + (size_t)s * HP + v0) * inv);
    }
}

/* [gate | up] rows of width 2I -> silu(gate) * up rows of width I (in place, packed). */
static void swiglu(float *g, int B, int inter) {
    for (int b = 0; b < B; b++) {
        const float *gate = g + (size_t)b * 2 * inter, *up = gate + inter;
        float *out = g + (size_t)b * inter;
        for (int i = 0; i < inter; i++) {
            const float v = gate[i];
            out[i] = v / (1.0f + expf(-v)) * up[i];
        }
    }
}

/* x[B, H] += down(silu(gate(hn)) * up(hn)) with workspace g of B * 2I floats. */
static void mlp_add(const Mat *gu, const Mat *down, const float *hn, float *x, int B, int H,
                    float *g) {
    const int inter = gu->n / 2;
    matmul(hn, H, gu, g, gu->n, B, 1.0f, 0);
    swiglu(g, B, inter);
    matmul(g, inter, down, x, H, B, 1.0f, 1);
}

typedef struct {
    float *hn, *a, *cq, *q, *o, *g, *scores, *olat, *tmp, *rl, *xg, *yg, *qt;
    int32_t *rows;
    float *wts;
    int32_t *choice;
    float *cw;
} Work;

/* Where each row's cache and position are: rows may be at different positions, each in its
 * own cache (separate conversations decoded together). */
typedef struct {
    const int32_t *pos;          /* [B] position of the new token */
    float *const *cache;         /* [B] layer 0 of the row's [S][C] cache */
    const int64_t *layer_stride; /* [B] floats between layers of that cache */
    const float *const *rot;     /* [B] the [R, R] rope matrix of pos[b] */
} Rows;

static void attention(const Model *m, const Layer *L, float *x, int B, int l, const Rows *rs,
                      Work *w) {
    const int H = m->hidden, h = m->heads, kv = m->kv, R = m->rope, C = kv + R, v = m->v_dim;
    const int A = L->w_a.n, qin = L->w_q.k, QC = h * C;
    for (int b = 0; b < B; b++) rmsnorm(x + (size_t)b * H, L->in_norm, L->eps_in, H, w->hn + (size_t)b * H);
    matmul(w->hn, H, &L->w_a, w->a, A, B, 1.0f, 0);
    const int qr = L->q_norm ? m->q_rank : 0;
    const float *qsrc = w->hn;
    if (L->q_norm) {
        for (int b = 0; b < B; b++) rmsnorm(w->a + (size_t)b * A, L->q_norm, L->eps_q, qr, w->cq + (size_t)b * qr);
        qsrc = w->cq;
    }
    matmul(qsrc, qin, &L->w_q, w->q, QC, B, 1.0f, 0);
    for (int b = 0; b < B; b++) {
        const int pos = rs->pos[b], S = pos + 1;
        const float *rot = rs->rot[b];
        float *buf = rs->cache[b] + (size_t)l * rs->layer_stride[b]; /* [S][C] */
        const float *ab = w->a + (size_t)b * A + qr;
        rmsnorm(ab, L->kv_norm, L->eps_kv, kv, buf + (size_t)pos * C);
        vecmat(ab + kv, 1, R, rot, R, R, buf + (size_t)pos * C + kv); /* rope(k_pe) */
        float *ob = w->o + (size_t)b * h * v;
        for (int h0 = 0; h0 < h; h0 += 64) { /* heads in groups of up to 64 (4 vectors) */
            const int hg = h - h0 < 64 ? h - h0 : 64, NV = (hg + 15) / 16, HP = 16 * NV;
            memset(w->qt, 0, (size_t)C * HP * sizeof(float));
            for (int j = 0; j < hg; j++) { /* queries transposed [C][HP], rope part rotated */
                const float *qh = w->q + (size_t)b * QC + (size_t)(h0 + j) * C;
                for (int c = 0; c < kv; c++) w->qt[(size_t)c * HP + j] = qh[c];
                vecmat(qh + kv, 1, R, rot, R, R, w->tmp);
                for (int c = 0; c < R; c++) w->qt[(size_t)(kv + c) * HP + j] = w->tmp[c];
            }
            scores(buf, S, C, w->qt, w->scores, NV, hg);
            softmax_cols(w->scores, S, HP, hg);
            olat(w->scores, HP, hg, S, buf, C, kv, w->olat); /* sum_s p_s latent_s */
            for (int j = 0; j < hg; j++) {
                const int hh = h0 + j;
                vecmat(w->olat + (size_t)j * kv, 1, kv, L->w_uv + (size_t)hh * kv * v, v, v,
                       ob + (size_t)hh * v);
            }
        }
    }
    matmul(w->o, h * v, &L->w_o, x, H, B, 1.0f, 1);
}

/* Sigmoid noaux_tc routing of one row: chosen experts and their weights (the model's Router). */
static void route(const Model *m, const Layer *L, const float *logits, int32_t *choice,
                  float *cw, float *sel) {
    const int E = m->n_experts, k = m->top_k;
    float scores[E];
    for (int e = 0; e < E; e++) {
        scores[e] = 1.0f / (1.0f + expf(-logits[e]));
        sel[e] = scores[e] + L->bias[e];
    }
    if (m->n_group > 1) { /* keep the topk_group groups with the best top-2 sums */
        const int G = m->n_group, per = E / G;
        float gs[G];
        for (int g = 0; g < G; g++) {
            float b1 = -INFINITY, b2 = -INFINITY;
            for (int e = g * per; e < (g + 1) * per; e++) {
                if (sel[e] > b1) { b2 = b1; b1 = sel[e]; } else if (sel[e] > b2) b2 = sel[e];
            }
            gs[g] = b1 + b2;
        }
        for (int t = 0; t < G - m->topk_group; t++) { /* drop the worst groups */
            int worst = -1;
            for (int g = 0; g < G; g++)
                if (gs[g] != INFINITY && (worst < 0 || gs[g] < gs[worst])) worst = g;
            gs[worst] = INFINITY; /* marks dropped */
            for (int e = worst * per; e < (worst + 1) * per; e++) sel[e] = -INFINITY;
        }
    }
    float total = 0.f;
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int i = 0; i < j; i++) taken |= choice[i] == e;
            if (!taken && (best < 0 || sel[e] > sel[best])) best = e;
        }
        choice[j] = best;
        cw[j] = scores[best];
        total += cw[j];
    }
    const float scale = m->norm_topk ? m->routed_scale / (total + 1e-20f) : m->routed_scale;
    for (int j = 0; j < k; j++) cw[j] *= scale;
}

static void moe(const Model *m, const Layer *L, float *x, const float *hn, int B, Work *w) {
    const int H = m->hidden, E = m->n_experts, k = m->top_k;
    if (L->gu.w) mlp_add(&L->gu, &L->down, hn, x, B, H, w->g);
    matmul(hn, H, &L->router, w->rl, E, B, 1.0f, 0);
    for (int b = 0; b < B; b++)
        route(m, L, w->rl + (size_t)b * E, w->choice + (size_t)b * k, w->cw + (size_t)b * k, w->tmp);
    for (int e = 0; e < E; e++) { /* each chosen expert runs once, on all its rows */
        int c = 0;
        for (int b = 0; b < B; b++)
            for (int j = 0; j < k; j++)
                if (w->choice[b * k + j] == e) {
                    w->rows[c] = b;
                    w->wts[c] = w->cw[b * k + j];
                    memcpy(w->xg + (size_t)c * H, hn + (size_t)b * H, (size_t)H * sizeof(float));
                    c++;
                }
        if (!c) continue;
        if (L->e_gu4) { /* INT4 experts */
            const Mat4 *gu4 = &L->e_gu4[e];
            const int inter4 = gu4->n / 2;
            ta_matmul4(w->xg, H, gu4, w->g, gu4->n, c);
            swiglu(w->g, c, inter4);
            ta_matmul4(w->g, inter4, &L->e_down4[e], w->yg, H, c);
        } else {
            const Mat *gu = &L->e_gu[e];
            const int inter = gu->n / 2;
            matmul(w->xg, H, gu, w->g, gu->n, c, 1.0f, 0);
            swiglu(w->g, c, inter);
            matmul(w->g, inter, &L->e_down[e], w->yg, H, c, 1.0f, 0);
        }
        for (int i = 0; i < c; i++) axpy(w->wts[i], w->yg + (size_t)i * H, x + (size_t)w->rows[i] * H, H);
    }
}

/* Decode one token per row, row b at position pos[b] of its own cache (cache[b]: layer 0 of
 * an fp32 [L][S][C] buffer, layers layer_stride[b] floats apart); rot[b]: the [R, R] rope
 * matrix of pos[b]; logits: [B, vocab] out. Every weight is still read once for all rows.
 * Returns 0, -1 for a token id outside the vocabulary, -2 when out of memory. */
int ta_decode_rows(const Model *m, const int64_t *tokens, int32_t B, const int32_t *pos,
                   float *const *cache, const int64_t *layer_stride, const float *const *rot,
                   float *logits) {
    const int H = m->hidden, C = m->kv + m->rope, QC = m->heads * C;
    const int A = m->q_rank + C, E = m->n_experts > 0 ? m->n_experts : 1, K = m->top_k;
    int S = 1;
    for (int b = 0; b < B; b++) {
        if (tokens[b] < 0 || tokens[b] >= m->vocab) return -1;
        if (pos[b] + 1 > S) S = pos[b] + 1; /* the longest row sizes the score workspace */
    }
    const Rows rs = {pos, cache, layer_stride, rot};
    const size_t floats = (size_t)B * (4 * H + A + m->q_rank + QC + m->heads * m->v_dim
                                       + m->max_ffn + E + 2 * K)
                          + (size_t)S * 64 + (size_t)C * 64 + (size_t)m->kv * 64 + 2 * (size_t)E + m->rope + 64;
    float *mem = malloc(floats * sizeof(float) + (size_t)B * (K + 1) * 2 * sizeof(int32_t));
    if (!mem) return -2;
    Work w;
    float *p = mem;
    float *x = p; p += (size_t)B * H;
    w.hn = p; p += (size_t)B * H;
    w.xg = p; p += (size_t)B * H;
    w.yg = p; p += (size_t)B * H;
    w.a = p; p += (size_t)B * A;
    w.cq = p; p += (size_t)B * m->q_rank;
    w.q = p; p += (size_t)B * QC;
    w.o = p; p += (size_t)B * m->heads * m->v_dim;
    w.g = p; p += (size_t)B * m->max_ffn;
    w.rl = p; p += (size_t)B * E;
    w.cw = p; p += (size_t)B * K;
    w.wts = p; p += (size_t)B * K;
    w.scores = p; p += (size_t)S * 64;
    w.qt = p; p += (size_t)C * 64;
    w.olat = p; p += (size_t)m->kv * 64;
    w.tmp = p; p += 2 * (size_t)E + m->rope + 64;
    w.choice = (int32_t *)p;
    w.rows = w.choice + (size_t)B * K;
    for (int b = 0; b < B; b++)
        memcpy(x + (size_t)b * H, m->embed + (size_t)tokens[b] * H, (size_t)H * sizeof(float));
    for (int l = 0; l < m->n_layers; l++) {
        const Layer *L = &m->layers[l];
        attention(m, L, x, B, l, &rs, &w);
        for (int b = 0; b < B; b++) rmsnorm(x + (size_t)b * H, L->post_norm, L->eps_post, H, w.hn + (size_t)b * H);
        if (L->moe) moe(m, L, x, w.hn, B, &w);
        else mlp_add(&L->gu, &L->down, w.hn, x, B, H, w.g);
    }
    for (int b = 0; b < B; b++) rmsnorm(x + (size_t)b * H, m->final_norm, m->eps_final, H, w.hn + (size_t)b * H);
    matmul(w.hn, H, &m->lm_head, logits, m->vocab, B, 1.0f, 0);
    free(mem);
    return 0;
}

/* All rows at one position pos of one [L][B][S][C] cache (cache: layer 0 row 0; rows
 * row_stride floats apart): ta_decode_rows with the same position and rope for every row. */
int ta_decode_step(const Model *m, const int64_t *tokens, int32_t B, int32_t pos, float *cache,
                   int64_t layer_stride, int64_t row_stride, const float *rot, float *logits) {
    int64_t *ls = malloc((size_t)B * (sizeof(int64_t) + 2 * sizeof(void *) + sizeof(int32_t)));
    if (!ls) return -2;
    float **cs = (float **)(ls + B);
    const float **rots = (const float **)(cs + B);
    int32_t *p = (int32_t *)(rots + B);
    for (int b = 0; b < B; b++) {
        p[b] = pos; ls[b] = layer_stride; cs[b] = cache + (size_t)b * row_stride; rots[b] = rot;
    }
    const int rc = ta_decode_rows(m, tokens, B, p, cs, ls, rots, logits);
    free(ls);
    return rc;
}
